import type { DocNode, PipelineDocument } from '../api/types';
import { edgeId } from './graph';

export type NodeDiff = 'added' | 'removed' | 'changed';
export interface ConfigChange {
  key: string;
  before: unknown;
  after: unknown;
}
export interface DocDiff {
  nodes: Map<string, NodeDiff>;
  removed: DocNode[];
  changes: Map<string, ConfigChange[]>;
  edgesAdded: number;
  edgesRemoved: number;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** What changed from `before` (an older version) to `after` (the canvas), node by node. */
export function diffDocs(before: PipelineDocument, after: PipelineDocument): DocDiff {
  const old = new Map(before.nodes.map((n) => [n.id, n]));
  const cur = new Map(after.nodes.map((n) => [n.id, n]));
  const nodes = new Map<string, NodeDiff>();
  const changes = new Map<string, ConfigChange[]>();
  for (const n of after.nodes) {
    const o = old.get(n.id);
    if (!o) {
      nodes.set(n.id, 'added');
      continue;
    }
    const list: ConfigChange[] = [];
    if ((o.label ?? '') !== (n.label ?? '')) list.push({ key: 'label', before: o.label, after: n.label });
    if (o.module !== n.module || o.type !== n.type) list.push({ key: 'module', before: `${o.type}/${o.module}`, after: `${n.type}/${n.module}` });
    const keys = new Set([...Object.keys(o.config ?? {}), ...Object.keys(n.config ?? {})]);
    for (const k of keys) if (!same(o.config?.[k], n.config?.[k])) list.push({ key: k, before: o.config?.[k], after: n.config?.[k] });
    if (list.length) {
      nodes.set(n.id, 'changed');
      changes.set(n.id, list);
    }
  }
  const removed = before.nodes.filter((n) => !cur.has(n.id));
  for (const n of removed) nodes.set(n.id, 'removed');
  const oldEdges = new Set(before.edges.map(edgeId));
  const curEdges = new Set(after.edges.map(edgeId));
  return {
    nodes,
    removed,
    changes,
    edgesAdded: [...curEdges].filter((e) => !oldEdges.has(e)).length,
    edgesRemoved: [...oldEdges].filter((e) => !curEdges.has(e)).length,
  };
}
