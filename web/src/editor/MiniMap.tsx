import { memo, useMemo, useRef } from 'react';
import { Panel, useReactFlow, useStore, type ReactFlowState } from '@xyflow/react';
import { shallow } from 'zustand/shallow';
import { kindColor } from '../theme';
import type { ModuleFlowNode } from './ModuleNode';

const W = 160;
const H = 100;
const view = (s: ReactFlowState) => ({ x: s.transform[0], y: s.transform[1], zoom: s.transform[2], width: s.width, height: s.height });

/**
 * The pipeline in miniature, with the visible part framed; press or drag on it to move there.
 * Drawn as one SVG path per module kind from the canvas's nodes, with a single subscription (to the
 * viewport): React Flow's own minimap subscribes once per node, which a 1,000-node drag pays on every frame.
 */
function MiniMapView({ nodes }: { nodes: ModuleFlowNode[] }) {
  const v = useStore(view, shallow);
  const { setCenter } = useReactFlow();
  const svg = useRef<SVGSVGElement>(null);

  const drawn = useMemo(() => {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    const byColor = new Map<string, string[]>();
    for (const n of nodes) {
      const w = n.measured?.width ?? 190;
      const h = n.measured?.height ?? 60;
      const { x, y } = n.position;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x + w);
      y1 = Math.max(y1, y + h);
      const color = kindColor[n.data.node.type] ?? '#999';
      const list = byColor.get(color) ?? byColor.set(color, []).get(color)!;
      list.push(`M${x},${y}h${w}v${h}h${-w}z`);
    }
    return { box: { x0, y0, x1, y1 }, paths: [...byColor].map(([c, l]) => [c, l.join('')] as const) };
  }, [nodes]);

  const seen = { x: -v.x / v.zoom, y: -v.y / v.zoom, w: v.width / v.zoom, h: v.height / v.zoom };
  const bx0 = Math.min(drawn.box.x0, seen.x);
  const by0 = Math.min(drawn.box.y0, seen.y);
  const bw = Math.max(drawn.box.x1, seen.x + seen.w) - bx0;
  const bh = Math.max(drawn.box.y1, seen.y + seen.h) - by0;
  const scale = Math.max(bw / W, bh / H);
  const pad = 5 * scale;
  const vbW = scale * W + 2 * pad;
  const vbH = scale * H + 2 * pad;
  const vbX = bx0 - (scale * W - bw) / 2 - pad;
  const vbY = by0 - (scale * H - bh) / 2 - pad;

  const moveTo = (e: React.PointerEvent<SVGSVGElement>) => {
    const r = svg.current!.getBoundingClientRect();
    setCenter(vbX + ((e.clientX - r.left) / r.width) * vbW, vbY + ((e.clientY - r.top) / r.height) * vbH, { zoom: v.zoom });
  };
  if (!nodes.length || !Number.isFinite(scale) || scale <= 0) return null;
  return (
    <Panel position="bottom-right" className="ec-minimap">
      <svg
        ref={svg}
        width={W}
        height={H}
        viewBox={`${vbX} ${vbY} ${vbW} ${vbH}`}
        role="img"
        aria-label="Mini map: press or drag to move the view"
        onPointerDown={(e) => {
          e.currentTarget.setPointerCapture(e.pointerId);
          moveTo(e);
        }}
        onPointerMove={(e) => e.buttons === 1 && moveTo(e)}
      >
        {drawn.paths.map(([color, d]) => (
          <path key={color} d={d} fill={color} fillOpacity={0.55} />
        ))}
        <path className="ec-minimap-mask" fillRule="evenodd" d={`M${vbX},${vbY}h${vbW}v${vbH}h${-vbW}z M${seen.x},${seen.y}h${seen.w}v${seen.h}h${-seen.w}z`} />
      </svg>
    </Panel>
  );
}

export const MiniMap = memo(MiniMapView);
