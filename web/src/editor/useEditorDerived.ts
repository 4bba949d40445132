import { useEffect, useMemo, useRef, useState } from 'react';
import type { DocNode, PipelineDocument, Problem } from '../api/types';
import { useEditor } from '../store/editor';

export interface Logical {
  /** the document without positions */
  logical: PipelineDocument;
  /** changes only when something other than a position changes */
  version: number;
}

let last: { doc: PipelineDocument; nodes: DocNode[]; result: Logical } | null = null;

/** Same top-level fields (name, schedule, parameters...) other than the nodes. */
function sameSettings(a: PipelineDocument, b: PipelineDocument): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (k !== 'nodes' && a[k as keyof PipelineDocument] !== b[k as keyof PipelineDocument]) return false;
  return true;
}

/**
 * The document without positions, with a version number that changes only when something
 * other than a position changes. Memoised across calls, so as a store selector it returns the
 * same object while a node is dragged: the editor around the canvas does not re-render on every
 * frame, and server queries (schemas, validation, preview) keyed on it never refetch.
 */
export function logicalOf(doc: PipelineDocument): Logical {
  if (last?.doc === doc) return last.result;
  const prev = last;
  const same =
    prev &&
    prev.doc.edges === doc.edges &&
    prev.nodes.length === doc.nodes.length &&
    sameSettings(prev.doc, doc) &&
    doc.nodes.every((n, i) => {
      const p = prev.nodes[i];
      return p === n || (p.id === n.id && p.config === n.config && p.label === n.label && p.module === n.module && p.type === n.type);
    });
  if (same && prev) {
    last = { doc, nodes: doc.nodes, result: prev.result };
  } else {
    const logical: PipelineDocument = { ...doc, nodes: doc.nodes.map(({ position: _p, ...rest }) => rest) };
    last = { doc, nodes: doc.nodes, result: { logical, version: (prev?.result.version ?? 0) + 1 } };
  }
  return last.result;
}

/** The editor's document without positions (see `logicalOf`). */
export const useLogical = (): Logical => useEditor((s) => logicalOf(s.doc));

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
