import { memo, useMemo, useRef } from 'react';
import { ViewportPortal } from '@xyflow/react';
import type { DocEdge } from '../api/types';
import type { ModuleFlowNode } from './ModuleNode';
import { overviewPaths, type ColourPaths, type EdgePathCache } from './overviewPaths';

/** Same data as last time → the same array, so the memoised layer below does not even re-render. */
function useStable(paths: ColourPaths): ColourPaths {
  const last = useRef(paths);
  const prev = last.current;
  if (prev.length !== paths.length || prev.some(([c, d], i) => c !== paths[i][0] || d !== paths[i][1])) last.current = paths;
  return last.current;
}

const Layer = memo(function Layer({ paths, live }: { paths: ColourPaths; live?: boolean }) {
  return (
    <g className={live ? 'live' : undefined}>
      {paths.map(([color, d]) => (
        <path key={color} d={d} stroke={color} />
      ))}
    </g>
  );
});

/**
 * Every edge of a zoomed-out canvas as a few SVG paths (one per colour) instead of one React Flow edge (an SVG,
 * three store subscriptions and a hit-test target) per edge. At that zoom an edge is a hairline nobody clicks;
 * the real, selectable edges come back when the cards become readable. Edges of the selected cards are drawn
 * apart, so dragging a card redraws its own edges, not all of them.
 */
function OverviewEdgesView({ nodes, edges }: { nodes: ModuleFlowNode[]; edges: DocEdge[] }) {
  const cache = useRef<EdgePathCache>(new Map());
  const paths = useMemo(() => {
    const out = overviewPaths(nodes, edges, cache.current);
    cache.current = out.cache;
    return out.paths;
  }, [nodes, edges]);
  const still = useStable(paths.still);
  return (
    <ViewportPortal>
      <svg className="ec-overview-edges" data-testid="overview-edges" aria-hidden>
        <Layer paths={still} />
        <Layer paths={paths.live} live />
      </svg>
    </ViewportPortal>
  );
}

export const OverviewEdges = memo(OverviewEdgesView);
