import { memo, useCallback } from 'react';
import { ViewportPortal, useReactFlow } from '@xyflow/react';
import { useEditor } from '../store/editor';
import type { ModuleFlowNode } from './ModuleNode';
import { OVERVIEW_H, OVERVIEW_W, cardLook, draggedTo } from './overviewCard';

/** pointer travel (screen px) before a press becomes a drag, as React Flow's node drag */
const DRAG_THRESHOLD = 1;

const Card = memo(function Card({ n }: { n: ModuleFlowNode }) {
  const look = cardLook(n.data);
  return (
    <g
      transform={`translate(${n.position.x},${n.position.y})`}
      opacity={look.opacity < 1 ? look.opacity : undefined}
      data-id={n.id}
      className={n.selectable === false ? 'fixed' : undefined}
      {...(n.selectable === false ? { 'aria-hidden': true } : { tabIndex: 0, role: 'button', 'aria-label': n.ariaLabel })}
    >
      <rect x={1} y={1} width={OVERVIEW_W - 2} height={OVERVIEW_H - 2} rx={7} fill={look.fill} stroke={look.stroke} strokeDasharray={look.dashed ? '6 4' : undefined} />
      <text x={10} y={OVERVIEW_H / 2}>
        {look.label}
      </text>
      {look.badge > 0 && (
        <g transform={`translate(${OVERVIEW_W - 22},${OVERVIEW_H / 2})`} data-testid="error-badge">
          <circle r={10} />
          <text className="n">{look.badge}</text>
        </g>
      )}
    </g>
  );
});

/** The id of the selectable drawn card an event happened in. */
const cardIdOf = (target: EventTarget) => (target as Element).closest<SVGGElement>('g[data-id]:not(.fixed)')?.dataset.id;

/**
 * Press on a drawn card: select it (added to the selection with Shift, Ctrl or Meta) and drag the selection.
 * Once selected, the card is a React Flow node again (drawn under the pointer), so this only starts drags.
 */
function useCardDrag() {
  const { screenToFlowPosition } = useReactFlow();
  return useCallback(
    (ev: React.PointerEvent<SVGSVGElement>) => {
      const id = ev.button === 0 ? cardIdOf(ev.target) : undefined;
      if (!id) return;
      ev.preventDefault();
      const st = useEditor.getState();
      const additive = ev.shiftKey || ev.ctrlKey || ev.metaKey;
      const selected = additive ? new Set([...st.selected, id]) : st.selected.has(id) ? st.selected : new Set([id]);
      st.select(selected, additive ? st.selectedEdges : []);
      const origins = new Map(st.doc.nodes.filter((n) => selected.has(n.id)).map((n) => [n.id, n.position ?? { x: 0, y: 0 }]));
      const start = screenToFlowPosition({ x: ev.clientX, y: ev.clientY });
      const x0 = ev.clientX;
      const y0 = ev.clientY;
      let moved = false;
      const onMove = (e: PointerEvent) => {
        if (!moved && Math.hypot(e.clientX - x0, e.clientY - y0) < DRAG_THRESHOLD) return;
        moved = true;
        const p = screenToFlowPosition({ x: e.clientX, y: e.clientY });
        useEditor.getState().moveNodes(draggedTo(origins, p.x - start.x, p.y - start.y), 'move');
      };
      const onUp = () => {
        window.removeEventListener('pointermove', onMove);
        window.removeEventListener('pointerup', onUp);
        window.removeEventListener('pointercancel', onUp);
        if (moved) useEditor.getState().moveNodes([], 'end');
      };
      window.addEventListener('pointermove', onMove);
      window.addEventListener('pointerup', onUp);
      window.addEventListener('pointercancel', onUp);
    },
    [screenToFlowPosition],
  );
}

/**
 * Enter or Space on a drawn card selects it (added to the selection with Shift, Ctrl or Meta), as on a React Flow
 * node; the card then becomes that node, which takes the focus so arrow keys move it.
 */
function onCardKey(ev: React.KeyboardEvent<SVGSVGElement>) {
  const id = cardIdOf(ev.target);
  if (!id || (ev.key !== 'Enter' && ev.key !== ' ')) return;
  ev.preventDefault();
  const st = useEditor.getState();
  const additive = ev.shiftKey || ev.ctrlKey || ev.metaKey;
  st.select(additive ? new Set([...st.selected, id]) : new Set([id]), additive ? st.selectedEdges : []);
  requestAnimationFrame(() => document.querySelector<HTMLElement>(`.react-flow__node[data-id="${CSS.escape(id)}"]`)?.focus());
}

/**
 * The zoomed-out cards that are not selected, drawn as one SVG under React Flow's nodes; their React Flow nodes
 * are hidden (not rendered). 1,000 rendered nodes cost every drag frame 1,000 store subscriptions, 1,000 paint
 * chunks under their own transforms and their hit tests; here a drag frame redraws one card and its edges.
 * Selected cards are React Flow nodes as usual, so what is being dragged is a real node.
 */
function OverviewCardsView({ nodes }: { nodes: ModuleFlowNode[] }) {
  const onPointerDown = useCardDrag();
  return (
    <ViewportPortal>
      <svg className="ec-overview-cards nopan" data-testid="overview-cards" role="group" aria-label="Pipeline nodes" onPointerDown={onPointerDown} onKeyDown={onCardKey}>
        {nodes.map((n) => !n.selected && <Card key={n.id} n={n} />)}
      </svg>
    </ViewportPortal>
  );
}

export const OverviewCards = memo(OverviewCardsView);
