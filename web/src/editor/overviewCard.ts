import { kindColor } from '../theme';
import type { ModuleNodeData } from './ModuleNode';

/** Every zoomed-out card has this size (`.ec-overview` in node.css): its column list and subtitle are gone. */
export const OVERVIEW_W = 190;
export const OVERVIEW_H = 60;
export const OVERVIEW_SIZE = { width: OVERVIEW_W, height: OVERVIEW_H };

/** How a zoomed-out card looks: the same colours as the `.ec-node` classes of node.css. */
export interface CardLook {
  fill: string;
  stroke: string;
  dashed: boolean;
  opacity: number;
  label: string;
  /** the number of problems shown in a red badge (0: none) */
  badge: number;
}

const border: Record<string, string> = {
  invalid: '#d32f2f',
  queued: '#9e9e9e',
  running: '#0288d1',
  succeeded: '#2e7d32',
  failed: '#d32f2f',
  cancelled: '#ed6c02',
  added: '#2e7d32',
  changed: '#ed6c02',
  removed: '#d32f2f',
};
/** what fits on a card 190 px wide in 22 px bold, beside a badge */
const MAX_CHARS = 13;

export function cardLook({ node, diff, metrics, problems }: ModuleNodeData): CardLook {
  const status = metrics?.status;
  const state = diff ?? status ?? (problems.length ? 'invalid' : '');
  const name = node.label || node.id;
  return {
    fill: diff || status ? '#fff' : `${kindColor[node.type] ?? '#555'}22`,
    stroke: border[state] ?? '#cfd6e0',
    dashed: diff === 'removed',
    opacity: diff === 'removed' ? 0.55 : 1,
    label: name.length > MAX_CHARS ? `${name.slice(0, MAX_CHARS - 1)}…` : name,
    badge: diff ? 0 : problems.length,
  };
}

/** A rectangle on screen (relative to the canvas) and the viewport's [x, y, zoom]. */
export interface ScreenRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The cards entirely inside a selection box drawn zoomed out (what React Flow's box does for the cards it renders). */
export function cardsInside(nodes: { id: string; position: { x: number; y: number }; selectable?: boolean }[], rect: ScreenRect, [tx, ty, zoom]: [number, number, number]): string[] {
  const x0 = (rect.x - tx) / zoom;
  const y0 = (rect.y - ty) / zoom;
  const x1 = x0 + rect.width / zoom;
  const y1 = y0 + rect.height / zoom;
  return nodes.filter((n) => n.selectable !== false && n.position.x >= x0 && n.position.y >= y0 && n.position.x + OVERVIEW_W <= x1 && n.position.y + OVERVIEW_H <= y1).map((n) => n.id);
}

/** Where the dragged cards go: each moved by the pointer's travel in flow units, snapped to the canvas' grid. */
export function draggedTo(origins: Map<string, { x: number; y: number }>, dx: number, dy: number, grid = 10): { id: string; x: number; y: number }[] {
  const snap = (v: number) => Math.round(v / grid) * grid;
  return [...origins].map(([id, p]) => ({ id, x: snap(p.x + dx), y: snap(p.y + dy) }));
}
