import type { CatalogEntry, DocEdge, DocNode, PipelineDocument } from '../api/types';

export const moduleKey = (n: { type: string; module: string }) => `${n.type}:${n.module}`;

export type Catalog = Map<string, CatalogEntry>;
export const indexCatalog = (entries: CatalogEntry[]): Catalog => new Map(entries.map((e) => [moduleKey(e), e]));

/** Handle names default to the module's single port when the document leaves them out. */
export function sourceHandleOf(e: DocEdge, catalog: Catalog, nodes: Map<string, DocNode>): string {
  if (e.source_handle) return e.source_handle;
  const n = nodes.get(e.source);
  const entry = n && catalog.get(moduleKey(n));
  return entry?.outputs[0]?.name ?? 'out';
}
export function targetHandleOf(e: DocEdge, catalog: Catalog, nodes: Map<string, DocNode>): string {
  if (e.target_handle) return e.target_handle;
  const n = nodes.get(e.target);
  const entry = n && catalog.get(moduleKey(n));
  return entry?.inputs[0]?.name ?? 'in';
}

export const edgeId = (e: DocEdge) => e.id ?? `${e.source}:${e.source_handle ?? ''}->${e.target}:${e.target_handle ?? ''}`;

/** True when `target` can already reach `source`, i.e. adding source→target closes a loop. */
export function wouldCreateCycle(edges: DocEdge[], source: string, target: string): boolean {
  if (source === target) return true;
  const out = new Map<string, string[]>();
  for (const e of edges) {
    const l = out.get(e.source);
    if (l) l.push(e.target);
    else out.set(e.source, [e.target]);
  }
  const seen = new Set<string>();
  const stack = [target];
  while (stack.length) {
    const id = stack.pop()!;
    if (id === source) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const t of out.get(id) ?? []) stack.push(t);
  }
  return false;
}

export interface Connect {
  source: string;
  target: string;
  sourceHandle?: string | null;
  targetHandle?: string | null;
}

/** Checks a new edge against the catalog's ports; returns the reason when refused. */
export function checkConnection(doc: PipelineDocument, catalog: Catalog, c: Connect): { ok: true; edge: DocEdge } | { ok: false; reason: string } {
  const nodes = new Map(doc.nodes.map((n) => [n.id, n]));
  const src = nodes.get(c.source);
  const tgt = nodes.get(c.target);
  if (!src || !tgt) return { ok: false, reason: 'Both ends must be nodes on the canvas.' };
  const srcEntry = catalog.get(moduleKey(src));
  const tgtEntry = catalog.get(moduleKey(tgt));
  const srcName = src.label || src.id;
  const tgtName = tgt.label || tgt.id;
  if (!srcEntry || !tgtEntry) return { ok: false, reason: 'Unknown module: it is not in the catalog.' };
  if (srcEntry.outputs.length === 0) return { ok: false, reason: `“${srcName}” is a destination: it has no output.` };
  if (tgtEntry.inputs.length === 0) return { ok: false, reason: `“${tgtName}” is a source: it takes no input.` };
  const sh = c.sourceHandle ?? srcEntry.outputs[0].name;
  const th = c.targetHandle ?? tgtEntry.inputs[0].name;
  const port = tgtEntry.inputs.find((p) => p.name === th);
  if (!srcEntry.outputs.some((p) => p.name === sh)) return { ok: false, reason: `“${srcName}” has no output named “${sh}”.` };
  if (!port) return { ok: false, reason: `“${tgtName}” has no input named “${th}”.` };
  if (c.source === c.target) return { ok: false, reason: 'A node cannot feed itself.' };
  const existing = doc.edges.filter((e) => e.target === c.target && targetHandleOf(e, catalog, nodes) === th);
  if (existing.some((e) => e.source === c.source && sourceHandleOf(e, catalog, nodes) === sh)) return { ok: false, reason: 'These two ports are already connected.' };
  if (port.max !== null && port.max !== undefined && existing.length >= port.max) {
    const what = tgtEntry.inputs.length > 1 ? `input “${th}” of “${tgtName}”` : `“${tgtName}”`;
    return { ok: false, reason: `${what[0].toUpperCase()}${what.slice(1)} accepts at most ${port.max} incoming connection${port.max === 1 ? '' : 's'}; remove the existing one first.` };
  }
  if (wouldCreateCycle(doc.edges, c.source, c.target)) return { ok: false, reason: `Connecting “${srcName}” to “${tgtName}” would create a loop: data must flow one way.` };
  const edge: DocEdge = { source: c.source, target: c.target };
  if (srcEntry.outputs.length > 1) edge.source_handle = sh;
  if (tgtEntry.inputs.length > 1) edge.target_handle = th;
  return { ok: true, edge };
}

/** Node ids in dependency order (Kahn); nodes on a cycle come last in document order. */
export function topoOrder(doc: PipelineDocument): string[] {
  const indeg = new Map(doc.nodes.map((n) => [n.id, 0]));
  for (const e of doc.edges) if (indeg.has(e.target)) indeg.set(e.target, (indeg.get(e.target) ?? 0) + 1);
  const queue = doc.nodes.filter((n) => indeg.get(n.id) === 0).map((n) => n.id);
  const order: string[] = [];
  while (queue.length) {
    const id = queue.shift()!;
    order.push(id);
    for (const e of doc.edges)
      if (e.source === id && indeg.has(e.target)) {
        indeg.set(e.target, indeg.get(e.target)! - 1);
        if (indeg.get(e.target) === 0) queue.push(e.target);
      }
  }
  for (const n of doc.nodes) if (!order.includes(n.id)) order.push(n.id);
  return order;
}

/** A fresh node id based on the module name: `csv`, `csv_2`, ... */
export function freshId(base: string, taken: Set<string>): string {
  const clean = base.replace(/[^a-zA-Z0-9_]/g, '_') || 'node';
  if (!taken.has(clean)) return clean;
  let i = 2;
  while (taken.has(`${clean}_${i}`)) i++;
  return `${clean}_${i}`;
}
