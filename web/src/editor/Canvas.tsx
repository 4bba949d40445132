import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import {
  Background,
  Controls,
  ReactFlow,
  useReactFlow,
  useStore,
  useStoreApi,
  type Edge,
  type ReactFlowState,
  type EdgeChange,
  type NodeChange,
  type OnConnect,
  type Viewport,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import Box from '@mui/material/Box';
import Typography from '@mui/material/Typography';
import { rowsOut, type CatalogEntry, type Column, type DocEdge, type DocNode, type NodeRun } from '../api/types';
import { NODE_WIDTH, useEditor } from '../store/editor';
import { edgeId, moduleKey, sourceHandleOf, targetHandleOf, type Catalog } from '../store/graph';
import { kindColor } from '../theme';
import { DetailContext, ModuleNode, detailLevel, type ModuleFlowNode } from './ModuleNode';
import type { DocDiff } from '../store/diff';
import { DND_TYPE } from './Palette';
import { MiniMap } from './MiniMap';
import { OverviewCards } from './OverviewCards';
import { OVERVIEW_SIZE, cardsInside, type ScreenRect } from './overviewCard';
import { OverviewEdges } from './OverviewEdges';

const nodeTypes = { module: ModuleNode };
const EMPTY: string[] = [];
const NO_EDGES: Edge[] = [];
/** Off-screen cards are left out of the DOM from this size on: below it, working out what is visible costs more. */
const CULL_FROM = 100;
const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const ORIGIN = { x: 0, y: 0 };
const FIT = { maxZoom: 1, padding: 0.2, includeHiddenNodes: true };
const selectionRect = (s: ReactFlowState) => s.userSelectionRect;

/** Keeps the last selection box drawn on the canvas: React Flow clears it before `onSelectionEnd`. */
function SelectionBoxTracker({ box }: { box: React.MutableRefObject<ScreenRect | null> }) {
  const rect = useStore(selectionRect);
  useEffect(() => {
    if (rect) box.current = rect;
  }, [rect, box]);
  return null;
}

interface CanvasProps {
  /** the document's nodes without positions: stable while dragging */
  logicalNodes: DocNode[];
  schemas: Record<string, Column[]> | undefined;
  problemsByNode: Map<string, string[]>;
  metrics: Record<string, NodeRun> | undefined;
  onAddAt(entry: CatalogEntry, pos: { x: number; y: number }): void;
  /** while comparing with another version: per-node status, and the removed nodes drawn as ghosts */
  diff?: DocDiff | null;
  /** the minimap is hidden when the canvas is short (preview open) so it does not cover nodes */
  showMiniMap?: boolean;
  defaultViewport?: Viewport;
}

/**
 * Keeps one React Flow node object per document node and rebuilds it only when its inputs change,
 * so dragging one node of 1,000 does not re-render the other 999.
 */
type Measured = Map<string, { width: number; height: number }>;

function useFlowNodes(nodes: DocNode[], catalog: Catalog, selected: ReadonlySet<string>, schemas: CanvasProps['schemas'], problemsByNode: Map<string, string[]>, metrics: CanvasProps['metrics'], measured: Measured, diff: DocDiff | null | undefined, overview: boolean) {
  const cache = useRef(new Map<string, { key: unknown[]; data: ModuleFlowNode['data']; value: ModuleFlowNode }>());
  return useMemo(() => {
    const next = new Map<string, { key: unknown[]; data: ModuleFlowNode['data']; value: ModuleFlowNode }>();
    const out = nodes.map((n) => {
      const entry = catalog.get(moduleKey(n));
      const isSel = selected.has(n.id);
      // zoomed out, unselected cards are drawn by OverviewCards: their React Flow nodes are hidden (not rendered)
      const hidden = overview && !isSel;
      const size = hidden ? OVERVIEW_SIZE : measured.get(n.id);
      const dataKey = [n.label, n.type, n.module, entry, schemas?.[n.id], problemsByNode.get(n.id) ?? EMPTY, metrics?.[n.id], diff?.nodes.get(n.id)];
      const prev = cache.current.get(n.id);
      if (prev && prev.value.position === n.position && prev.value.selected === isSel && prev.value.hidden === hidden && prev.value.measured === size && prev.key.every((k, i) => k === dataKey[i])) {
        next.set(n.id, prev);
        return prev.value;
      }
      // the data object is kept when only the position, selection or size changed, so the card does not re-render
      const data = prev && prev.key.every((k, i) => k === dataKey[i]) ? prev.data : { node: n, entry, columns: schemas?.[n.id], problems: problemsByNode.get(n.id) ?? EMPTY, metrics: metrics?.[n.id], diff: diff?.nodes.get(n.id) };
      const value: ModuleFlowNode = {
        id: n.id,
        type: 'module',
        position: n.position ?? ORIGIN,
        selected: isSel,
        hidden,
        data,
        ariaLabel: `${n.label || n.id} (${entry?.title ?? n.module})`,
        measured: size,
      };
      next.set(n.id, { key: dataKey, data, value });
      return value;
    });
    cache.current = next;
    for (const g of diff?.removed ?? [])
      out.push({ id: `removed:${g.id}`, type: 'module', position: g.position ?? ORIGIN, selectable: false, draggable: false, connectable: false, hidden: overview, measured: overview ? OVERVIEW_SIZE : measured.get(`removed:${g.id}`), data: { node: g, entry: catalog.get(moduleKey(g)), problems: EMPTY, diff: 'removed' } });
    return out;
  }, [nodes, catalog, selected, schemas, problemsByNode, metrics, measured, diff, overview]);
}

function toFlowEdges(edges: DocEdge[], nodes: DocNode[], catalog: Catalog, selectedEdges: ReadonlySet<string>, metrics: CanvasProps['metrics']): Edge[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return edges.map((e) => {
    const id = edgeId(e);
    const rows = rowsOut(metrics?.[e.source]);
    const src = byId.get(e.source);
    return {
      id,
      source: e.source,
      target: e.target,
      sourceHandle: sourceHandleOf(e, catalog, byId),
      targetHandle: targetHandleOf(e, catalog, byId),
      selected: selectedEdges.has(id),
      animated: metrics?.[e.source]?.status === 'running',
      label: rows != null ? `${compact.format(rows)} rows` : e.source_handle && e.source_handle !== 'out' ? e.source_handle : undefined,
      style: { strokeWidth: 2, stroke: src ? kindColor[src.type] + 'aa' : undefined },
      labelStyle: { fontSize: 11, fontWeight: 600 },
      labelBgPadding: [4, 2] as [number, number],
      labelBgBorderRadius: 4,
    };
  });
}

const EST_HEIGHT = 130;

export function viewportFor(nodes: DocNode[], width: number, height: number): Viewport {
  if (nodes.length === 0) return { x: 40, y: 40, zoom: 1 };
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const n of nodes) {
    const p = n.position ?? { x: 0, y: 0 };
    x0 = Math.min(x0, p.x);
    y0 = Math.min(y0, p.y);
    x1 = Math.max(x1, p.x + NODE_WIDTH);
    y1 = Math.max(y1, p.y + EST_HEIGHT);
  }
  const pad = 0.08;
  const zoom = Math.max(0.05, Math.min(1, (width * (1 - 2 * pad)) / (x1 - x0), (height * (1 - 2 * pad)) / (y1 - y0)));
  return { x: (width - (x1 - x0) * zoom) / 2 - x0 * zoom, y: (height - (y1 - y0) * zoom) / 2 - y0 * zoom, zoom };
}

export function Canvas({ diff, showMiniMap = true, logicalNodes, schemas, problemsByNode, metrics, onAddAt, defaultViewport }: CanvasProps) {
  const doc = useEditor((s) => s.doc);
  const catalog = useEditor((s) => s.catalog);
  const selected = useEditor((s) => s.selected);
  const selectedEdges = useEditor((s) => s.selectedEdges);
  const { screenToFlowPosition } = useReactFlow();
  const level = useStore(detailLevel);

  // sizes measured by React Flow: a controlled flow must hand them back (minimap, fit view, culling)
  const [measured, setMeasured] = useState<Measured>(() => new Map());
  const nodes = useFlowNodes(doc.nodes, catalog, selected, schemas, problemsByNode, metrics, measured, diff, level === 0);
  const edges = useMemo(() => toFlowEdges(doc.edges, logicalNodes, catalog, selectedEdges, metrics), [doc.edges, logicalNodes, catalog, selectedEdges, metrics]);

  const onNodesChange = useCallback((changes: NodeChange<ModuleFlowNode>[]) => {
    const st = useEditor.getState();
    const moves: { id: string; x: number; y: number }[] = [];
    let ended = false;
    let sel: Set<string> | null = null;
    let sizes: [string, { width: number; height: number }][] | null = null;
    for (const c of changes) {
      if (c.type === 'dimensions' && c.dimensions) {
        (sizes ??= []).push([c.id, c.dimensions]);
      } else if (c.type === 'position' && c.position) {
        moves.push({ id: c.id, x: c.position.x, y: c.position.y });
        if (c.dragging === false) ended = true;
      } else if (c.type === 'position' && c.dragging === false) {
        ended = true;
      } else if (c.type === 'select') {
        sel ??= new Set(st.selected);
        if (c.selected) sel.add(c.id);
        else sel.delete(c.id);
      }
    }
    if (moves.length || ended) st.moveNodes(moves, ended ? 'end' : 'move');
    if (sel) st.select(sel, st.selectedEdges);
    if (sizes) {
      const list = sizes;
      setMeasured((m) => {
        const next = new Map(m);
        for (const [id, d] of list) next.set(id, d);
        return next;
      });
    }
  }, []);

  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    const st = useEditor.getState();
    let sel: Set<string> | null = null;
    for (const c of changes) {
      if (c.type === 'select') {
        sel ??= new Set(st.selectedEdges);
        if (c.selected) sel.add(c.id);
        else sel.delete(c.id);
      }
    }
    if (sel) st.select(st.selected, sel);
  }, []);

  // zoomed out, React Flow's selection box sees only the rendered (selected) cards: select the drawn ones too
  const selectionBox = useRef<ScreenRect | null>(null);
  const storeApi = useStoreApi();
  const onSelectionEnd = useCallback(() => {
    const rect = selectionBox.current;
    selectionBox.current = null;
    if (!rect || detailLevel(storeApi.getState()) !== 0) return;
    const st = useEditor.getState();
    st.select(cardsInside(st.doc.nodes.map((n) => ({ id: n.id, position: n.position ?? ORIGIN })), rect, storeApi.getState().transform), []);
  }, [storeApi]);

  const onConnect: OnConnect = useCallback((c) => {
    useEditor.getState().connect({ source: c.source, target: c.target, sourceHandle: c.sourceHandle, targetHandle: c.targetHandle });
  }, []);

  const onDrop = useCallback(
    (ev: React.DragEvent) => {
      const key = ev.dataTransfer.getData(DND_TYPE) || ev.dataTransfer.getData('text/plain');
      const entry = useEditor.getState().catalog.get(key);
      if (!entry) return;
      ev.preventDefault();
      const p = screenToFlowPosition({ x: ev.clientX, y: ev.clientY });
      onAddAt(entry, { x: p.x - 95, y: p.y - 30 });
    },
    [screenToFlowPosition, onAddAt],
  );

  // The opening viewport is computed from the document before the first render, so a large pipeline is drawn
  // once at its final zoom (compact cards) instead of at 1:1 and then refitted. An empty canvas opens at 1:1 so
  // the first drop stays where it was dropped.
  const box = useRef<HTMLDivElement>(null);
  const [initial, setInitial] = useState<Viewport | null>(defaultViewport ?? null);
  useLayoutEffect(() => {
    if (initial || !box.current) return;
    const r = box.current.getBoundingClientRect();
    setInitial(viewportFor(useEditor.getState().doc.nodes, r.width || 800, r.height || 600));
  }, [initial]);

  return (
    <Box ref={box} className={`ec-lod-${level}`} sx={{ flex: 1, position: 'relative', minWidth: 0 }} onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; }} onDrop={onDrop} data-testid="canvas">
      {initial && <DetailContext.Provider value={level}><ReactFlow<ModuleFlowNode>
        nodes={nodes}
        edges={level === 0 ? NO_EDGES : edges}
        onlyRenderVisibleElements={level > 0 && doc.nodes.length > CULL_FROM}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        deleteKeyCode={null}
        multiSelectionKeyCode={['Meta', 'Control', 'Shift']}
        selectionKeyCode="Shift"
        defaultViewport={initial}
        fitViewOptions={FIT}
        onSelectionEnd={onSelectionEnd}
        minZoom={0.05}
        proOptions={{ hideAttribution: true }}
        snapToGrid
        snapGrid={[10, 10]}
      >
        <Background gap={20} color="#dde3ea" />
        <Controls position="bottom-left" aria-label="Zoom controls" />
        {level === 0 && <OverviewEdges nodes={nodes} edges={doc.edges} />}
        {level === 0 && <OverviewCards nodes={nodes} />}
        {level === 0 && <SelectionBoxTracker box={selectionBox} />}
        {showMiniMap && <MiniMap nodes={nodes} />}
      </ReactFlow></DetailContext.Provider>}
      {doc.nodes.length === 0 && (
        <Box sx={{ position: 'absolute', inset: 0, display: 'grid', placeItems: 'center', pointerEvents: 'none' }}>
          <Box sx={{ textAlign: 'center', color: 'text.secondary', maxWidth: 360 }}>
            <Typography variant="h6" gutterBottom>
              Start by dragging a source here
            </Typography>
            <Typography variant="body2">Pick an <b>Extract</b> module on the left (e.g. CSV file), then a <b>Transform</b>, then a <b>Load</b>. Connect them by dragging from a node’s right dot to the next node’s left dot.</Typography>
          </Box>
        </Box>
      )}
    </Box>
  );
}
