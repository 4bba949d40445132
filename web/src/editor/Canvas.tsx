import { useCallback, useMemo, useRef, useState } from 'react';
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  useReactFlow,
  type Edge,
  type EdgeChange,
  type NodeChange,
  type OnConnect,
  type Viewport,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import Box from '@mui/material/Box';
import Typography from '@mui/material/Typography';
import type { CatalogEntry, Column, DocEdge, DocNode, NodeMetrics } from '../api/provisional';
import { useEditor } from '../store/editor';
import { edgeId, moduleKey, sourceHandleOf, targetHandleOf, type Catalog } from '../store/graph';
import { kindColor } from '../theme';
import { ModuleNode, type ModuleFlowNode } from './ModuleNode';
import { DND_TYPE } from './Palette';

const nodeTypes = { module: ModuleNode };
const EMPTY: string[] = [];

interface CanvasProps {
  schemas: Record<string, Column[]> | undefined;
  problemsByNode: Map<string, string[]>;
  metrics: Record<string, NodeMetrics> | undefined;
  onAddAt(entry: CatalogEntry, pos: { x: number; y: number }): void;
  defaultViewport?: Viewport;
}

/**
 * Keeps one React Flow node object per document node and rebuilds it only when its inputs change,
 * so dragging one node of 1,000 does not re-render the other 999.
 */
type Measured = Map<string, { width: number; height: number }>;

function useFlowNodes(nodes: DocNode[], catalog: Catalog, selected: ReadonlySet<string>, schemas: CanvasProps['schemas'], problemsByNode: Map<string, string[]>, metrics: CanvasProps['metrics'], measured: Measured) {
  const cache = useRef(new Map<string, { key: unknown[]; value: ModuleFlowNode }>());
  return useMemo(() => {
    const next = new Map<string, { key: unknown[]; value: ModuleFlowNode }>();
    const out = nodes.map((n) => {
      const entry = catalog.get(moduleKey(n));
      const size = measured.get(n.id);
      const key = [n, entry, selected.has(n.id), schemas?.[n.id], problemsByNode.get(n.id) ?? EMPTY, metrics?.[n.id], size];
      const prev = cache.current.get(n.id);
      if (prev && prev.key.every((k, i) => k === key[i])) {
        next.set(n.id, prev);
        return prev.value;
      }
      const value: ModuleFlowNode = {
        id: n.id,
        type: 'module',
        position: n.position ?? { x: 0, y: 0 },
        selected: selected.has(n.id),
        data: { node: n, entry, columns: schemas?.[n.id], problems: problemsByNode.get(n.id) ?? EMPTY, metrics: metrics?.[n.id] },
        ariaLabel: `${n.label || n.id} (${entry?.title ?? n.module})`,
        measured: size,
      };
      next.set(n.id, { key, value });
      return value;
    });
    cache.current = next;
    return out;
  }, [nodes, catalog, selected, schemas, problemsByNode, metrics, measured]);
}

function toFlowEdges(edges: DocEdge[], nodes: DocNode[], catalog: Catalog, selectedEdges: ReadonlySet<string>, metrics: CanvasProps['metrics']): Edge[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return edges.map((e) => {
    const id = edgeId(e);
    const rows = metrics?.[e.source]?.rows;
    const src = byId.get(e.source);
    return {
      id,
      source: e.source,
      target: e.target,
      sourceHandle: sourceHandleOf(e, catalog, byId),
      targetHandle: targetHandleOf(e, catalog, byId),
      selected: selectedEdges.has(id),
      animated: metrics?.[e.source]?.status === 'running',
      label: rows != null ? `${rows.toLocaleString()} rows` : e.source_handle && e.source_handle !== 'out' ? e.source_handle : undefined,
      style: { strokeWidth: 2, stroke: src ? kindColor[src.type] + 'aa' : undefined },
    };
  });
}

export function Canvas({ schemas, problemsByNode, metrics, onAddAt, defaultViewport }: CanvasProps) {
  const doc = useEditor((s) => s.doc);
  const catalog = useEditor((s) => s.catalog);
  const selected = useEditor((s) => s.selected);
  const selectedEdges = useEditor((s) => s.selectedEdges);
  const { screenToFlowPosition } = useReactFlow();

  // sizes measured by React Flow: a controlled flow must hand them back (minimap, fit view, culling)
  const [measured, setMeasured] = useState<Measured>(() => new Map());
  const nodes = useFlowNodes(doc.nodes, catalog, selected, schemas, problemsByNode, metrics, measured);
  const edges = useMemo(() => toFlowEdges(doc.edges, doc.nodes, catalog, selectedEdges, metrics), [doc.edges, doc.nodes, catalog, selectedEdges, metrics]);

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

  const big = doc.nodes.length > 300;
  // fit the view only when opening a non-empty pipeline: on an empty canvas the first drop must stay where it was dropped
  const [fitOnOpen] = useState(() => doc.nodes.length > 0 && !defaultViewport);

  return (
    <Box sx={{ flex: 1, position: 'relative', minWidth: 0 }} onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; }} onDrop={onDrop} data-testid="canvas">
      <ReactFlow<ModuleFlowNode>
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        deleteKeyCode={null}
        multiSelectionKeyCode={['Meta', 'Control', 'Shift']}
        selectionKeyCode="Shift"
        fitView={fitOnOpen}
        defaultViewport={defaultViewport ?? { x: 0, y: 0, zoom: 1 }}
        fitViewOptions={{ maxZoom: 1, padding: 0.2 }}
        minZoom={0.05}
        onlyRenderVisibleElements={big}
        proOptions={{ hideAttribution: true }}
        snapToGrid
        snapGrid={[10, 10]}
      >
        <Background gap={20} color="#dde3ea" />
        <Controls position="bottom-left" aria-label="Zoom controls" />
        <MiniMap position="bottom-right" pannable zoomable nodeColor={(n) => kindColor[(n as ModuleFlowNode).data.node.type] ?? '#999'} nodeStrokeWidth={0} style={{ width: 160, height: 100 }} ariaLabel="Mini map" />
      </ReactFlow>
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
