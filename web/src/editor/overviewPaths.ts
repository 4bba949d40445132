import { Position, getBezierPath } from '@xyflow/react';
import type { DocEdge } from '../api/types';
import { kindColor } from '../theme';
import type { ModuleFlowNode } from './ModuleNode';
import { OVERVIEW_H, OVERVIEW_W } from './overviewCard';

/** y of port `i` of `n` on a card of height `h`: the same rule as the cards' handles and anchors (every zoomed-out card is 190 × 60). */
const portY = (i: number, n: number, h: number) => (h * (i + 1)) / (n + 1);

/** One edge's path, kept while both of its cards are the same objects (the canvas keeps unmoved cards' objects). */
export type EdgePathCache = Map<DocEdge, { source: ModuleFlowNode; target: ModuleFlowNode; d: string }>;

/** `[colour, path data]` pairs: one SVG path per colour. */
export type ColourPaths = (readonly [string, string])[];

export interface OverviewPaths {
  /** edges between unselected cards: their path data stays the same while a selected card is dragged */
  still: ColourPaths;
  /** edges touching a selected card (the ones a drag moves) */
  live: ColourPaths;
}

function edgePath(e: DocEdge, s: ModuleFlowNode, t: ModuleFlowNode): string {
  const outs = s.data.entry?.outputs ?? [];
  const ins = t.data.entry?.inputs ?? [];
  const i = Math.max(0, outs.findIndex((p) => p.name === (e.source_handle ?? outs[0]?.name)));
  const j = Math.max(0, ins.findIndex((p) => p.name === (e.target_handle ?? ins[0]?.name)));
  const [d] = getBezierPath({
    sourceX: s.position.x + OVERVIEW_W,
    sourceY: s.position.y + portY(i, outs.length || 1, OVERVIEW_H),
    sourcePosition: Position.Right,
    targetX: t.position.x,
    targetY: t.position.y + portY(j, ins.length || 1, OVERVIEW_H),
    targetPosition: Position.Left,
  });
  return d;
}

function grouped(groups: Map<string, string[]>): ColourPaths {
  return [...groups].map(([color, ds]) => [color, ds.join('')] as const);
}

/**
 * The zoomed-out edges, split in two: a drag moves selected cards only, so the "still" paths keep the same
 * data on every frame (React leaves the DOM alone and the browser re-rasters only around the "live" ones,
 * instead of the whole canvas that one path spanning every edge covers).
 */
export function overviewPaths(nodes: ModuleFlowNode[], edges: DocEdge[], cache: EdgePathCache): { paths: OverviewPaths; cache: EdgePathCache } {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const next: EdgePathCache = new Map();
  const still = new Map<string, string[]>();
  const live = new Map<string, string[]>();
  for (const e of edges) {
    const s = byId.get(e.source);
    const t = byId.get(e.target);
    if (!s || !t) continue;
    const prev = cache.get(e);
    const d = prev && prev.source === s && prev.target === t ? prev.d : edgePath(e, s, t);
    next.set(e, { source: s, target: t, d });
    const color = kindColor[s.data.node.type] ?? '#999';
    const into = s.selected || t.selected ? live : still;
    const list = into.get(color);
    if (list) list.push(d);
    else into.set(color, [d]);
  }
  return { paths: { still: grouped(still), live: grouped(live) }, cache: next };
}
