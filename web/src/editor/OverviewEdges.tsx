import { memo, useMemo } from 'react';
import { Position, ViewportPortal, getBezierPath } from '@xyflow/react';
import type { DocEdge } from '../api/types';
import { kindColor } from '../theme';
import type { ModuleFlowNode } from './ModuleNode';

/** y of port `i` of `n` on a card of height `h`: the same rule as the cards' handles and anchors. */
const portY = (i: number, n: number, h: number) => (h * (i + 1)) / (n + 1);

/**
 * Every edge of a zoomed-out canvas as one SVG path per colour, instead of one React Flow edge (an SVG, three
 * store subscriptions and a hit-test target) per edge. At that zoom an edge is a hairline nobody clicks; the
 * real, selectable edges come back when the cards become readable.
 */
function OverviewEdgesView({ nodes, edges }: { nodes: ModuleFlowNode[]; edges: DocEdge[] }) {
  const paths = useMemo(() => {
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const out = new Map<string, string[]>();
    for (const e of edges) {
      const s = byId.get(e.source);
      const t = byId.get(e.target);
      if (!s?.measured?.height || !t?.measured?.height || !s.measured.width) continue;
      const outs = s.data.entry?.outputs ?? [];
      const ins = t.data.entry?.inputs ?? [];
      const i = Math.max(0, outs.findIndex((p) => p.name === (e.source_handle ?? outs[0]?.name)));
      const j = Math.max(0, ins.findIndex((p) => p.name === (e.target_handle ?? ins[0]?.name)));
      const [d] = getBezierPath({
        sourceX: s.position.x + s.measured.width,
        sourceY: s.position.y + portY(i, outs.length || 1, s.measured.height),
        sourcePosition: Position.Right,
        targetX: t.position.x,
        targetY: t.position.y + portY(j, ins.length || 1, t.measured.height),
        targetPosition: Position.Left,
      });
      const color = kindColor[s.data.node.type] ?? '#999';
      const list = out.get(color);
      if (list) list.push(d);
      else out.set(color, [d]);
    }
    return [...out].map(([color, ds]) => [color, ds.join('')] as const);
  }, [nodes, edges]);
  return (
    <ViewportPortal>
      <svg className="ec-overview-edges" data-testid="overview-edges" aria-hidden>
        {paths.map(([color, d]) => (
          <path key={color} d={d} stroke={color} />
        ))}
      </svg>
    </ViewportPortal>
  );
}

export const OverviewEdges = memo(OverviewEdgesView);
