import { useEffect, useMemo, useRef, useState } from 'react';
import type { DocNode, PipelineDocument, Problem } from '../api/provisional';

/**
 * The document without positions, with a version number that changes only when something
 * other than a position changes: server queries (schemas, validation, preview) key on it,
 * so dragging never refetches anything.
 */
export function useLogicalDoc(doc: PipelineDocument): { logical: PipelineDocument; version: number } {
  const ref = useRef<{ nodes: DocNode[]; edges: PipelineDocument['edges']; meta: PipelineDocument; logical: PipelineDocument; version: number } | null>(null);
  const prev = ref.current;
  const same =
    prev &&
    prev.edges === doc.edges &&
    prev.nodes.length === doc.nodes.length &&
    prev.meta.name === doc.name &&
    prev.meta.parameters === doc.parameters &&
    doc.nodes.every((n, i) => {
      const p = prev.nodes[i];
      return p === n || (p.id === n.id && p.config === n.config && p.label === n.label && p.module === n.module && p.type === n.type);
    });
  if (!same) {
    const logical: PipelineDocument = { ...doc, nodes: doc.nodes.map(({ position: _p, ...rest }) => rest) };
    ref.current = { nodes: doc.nodes, edges: doc.edges, meta: doc, logical, version: (prev?.version ?? 0) + 1 };
  } else if (prev) {
    prev.nodes = doc.nodes;
  }
  return { logical: ref.current!.logical, version: ref.current!.version };
}

export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

/** Problems grouped by node id, reusing the previous arrays when a node's messages did not change. */
export function useProblemsByNode(doc: PipelineDocument, problems: Problem[]): Map<string, string[]> {
  const prev = useRef(new Map<string, string[]>());
  return useMemo(() => {
    const fresh = new Map<string, string[]>();
    for (const p of problems) {
      const m = /^\/nodes\/(\d+)/.exec(p.pointer);
      if (!m) continue;
      const node = doc.nodes[Number(m[1])];
      if (!node) continue;
      const field = p.pointer.split('/')[4];
      const msg = field ? `${field}: ${p.message}` : p.message;
      const l = fresh.get(node.id);
      if (l) l.push(msg);
      else fresh.set(node.id, [msg]);
    }
    for (const [id, list] of fresh) {
      const old = prev.current.get(id);
      if (old && old.length === list.length && old.every((x, i) => x === list[i])) fresh.set(id, old);
    }
    prev.current = fresh;
    return fresh;
    // doc.nodes order only matters through the problems' indexes
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [problems]);
}
