import { create } from 'zustand';
import dagre from '@dagrejs/dagre';
import type { CatalogEntry, DocEdge, DocNode, PipelineDocument, Problem } from '../api/types';
import { checkConnection, edgeId, freshId, indexCatalog, moduleKey, type Catalog, type Connect } from './graph';
import { validateDocument } from './validate';

export type Severity = 'error' | 'warning' | 'info' | 'success';
export interface Notice {
  text: string;
  severity: Severity;
  key: number;
}

const HISTORY_LIMIT = 200;
export const NODE_WIDTH = 190;
export const NODE_HEIGHT = 96;

interface EditorState {
  doc: PipelineDocument;
  saved: PipelineDocument;
  catalog: Catalog;
  selected: ReadonlySet<string>;
  selectedEdges: ReadonlySet<string>;
  past: PipelineDocument[];
  future: PipelineDocument[];
  clipboard: { nodes: DocNode[]; edges: DocEdge[] } | null;
  notice: Notice | null;
  /** Problems from the server's validation, merged with the local ones in `problemsOf`. */
  serverProblems: Problem[];
  dragging: boolean;

  load(doc: PipelineDocument, catalog?: CatalogEntry[]): void;
  setCatalog(entries: CatalogEntry[]): void;
  markSaved(doc?: PipelineDocument): void;
  setServerProblems(p: Problem[]): void;
  notify(text: string, severity?: Severity): void;
  clearNotice(): void;

  addNode(entry: CatalogEntry, position: { x: number; y: number }): string;
  moveNodes(moves: { id: string; x: number; y: number }[], phase: 'start' | 'move' | 'end'): void;
  connect(c: Connect): boolean;
  select(nodes: Iterable<string>, edges?: Iterable<string>): void;
  deleteSelection(): void;
  removeEdges(ids: string[]): void;
  updateConfig(id: string, config: Record<string, unknown>): void;
  updateLabel(id: string, label: string): void;
  updateMeta(patch: Partial<PipelineDocument>): void;
  undo(): void;
  redo(): void;
  copy(): void;
  paste(): void;
  autoLayout(): void;
}

const EMPTY: PipelineDocument = { name: 'Untitled pipeline', nodes: [], edges: [] };

export const useEditor = create<EditorState>((set, get) => {
  /** Every change to the document goes through here, so it is undoable. */
  const commit = (next: PipelineDocument, extra: Partial<EditorState> = {}) => {
    const { doc, past } = get();
    set({ doc: next, past: [...past.slice(-HISTORY_LIMIT + 1), doc], future: [], ...extra });
  };

  /** Keystrokes in the same field within a second make one undo step, not one per character. */
  let lastTyping = { key: '', at: 0, base: null as PipelineDocument | null };
  const typing = (key: string, next: PipelineDocument) => {
    const now = Date.now();
    const { past } = get();
    if (lastTyping.key === key && now - lastTyping.at < 1000 && past[past.length - 1] === lastTyping.base) {
      set({ doc: next, future: [] });
    } else {
      commit(next);
      lastTyping = { key, at: now, base: get().past[get().past.length - 1] };
    }
    lastTyping.at = now;
  };

  return {
    doc: EMPTY,
    saved: EMPTY,
    catalog: new Map(),
    selected: new Set(),
    selectedEdges: new Set(),
    past: [],
    future: [],
    clipboard: null,
    notice: null,
    serverProblems: [],
    dragging: false,

    load(doc, entries) {
      const withPositions = ensurePositions(doc);
      set({
        doc: withPositions,
        saved: withPositions,
        past: [],
        future: [],
        selected: new Set(),
        selectedEdges: new Set(),
        serverProblems: [],
        ...(entries ? { catalog: indexCatalog(entries) } : {}),
      });
    },
    setCatalog: (entries) => set({ catalog: indexCatalog(entries) }),
    markSaved: (doc) => set((s) => ({ saved: doc ?? s.doc, ...(doc ? { doc } : {}) })),
    setServerProblems: (p) => set({ serverProblems: p }),
    notify: (text, severity = 'info') => set({ notice: { text, severity, key: Date.now() } }),
    clearNotice: () => set({ notice: null }),

    addNode(entry, position) {
      const { doc } = get();
      const id = freshId(entry.module, new Set(doc.nodes.map((n) => n.id)));
      const node: DocNode = {
        id,
        type: entry.type,
        module: entry.module,
        label: entry.title,
        config: {},
        position: { x: Math.round(position.x), y: Math.round(position.y) },
      };
      commit({ ...doc, nodes: [...doc.nodes, node] }, { selected: new Set([id]), selectedEdges: new Set() });
      return id;
    },

    moveNodes(moves, phase) {
      const { doc, dragging, past } = get();
      if (moves.length === 0 && phase !== 'end') return;
      const byId = new Map(moves.map((m) => [m.id, m]));
      const nodes = moves.length
        ? doc.nodes.map((n) => {
            const m = byId.get(n.id);
            return m ? { ...n, position: { x: Math.round(m.x), y: Math.round(m.y) } } : n;
          })
        : doc.nodes;
      const next = moves.length ? { ...doc, nodes } : doc;
      if (!dragging && phase !== 'end') {
        // the first frame of a drag records one undo step for the whole gesture
        set({ doc: next, past: [...past.slice(-HISTORY_LIMIT + 1), doc], future: [], dragging: true });
      } else {
        set({ doc: next, dragging: phase !== 'end' });
      }
    },

    connect(c) {
      const { doc, catalog } = get();
      const r = checkConnection(doc, catalog, c);
      if (!r.ok) {
        get().notify(r.reason, 'warning');
        return false;
      }
      commit({ ...doc, edges: [...doc.edges, r.edge] });
      return true;
    },

    select(nodes, edges = []) {
      set({ selected: new Set(nodes), selectedEdges: new Set(edges) });
    },

    deleteSelection() {
      const { doc, selected, selectedEdges } = get();
      if (selected.size === 0 && selectedEdges.size === 0) return;
      const nodes = doc.nodes.filter((n) => !selected.has(n.id));
      const edges = doc.edges.filter((e) => !selected.has(e.source) && !selected.has(e.target) && !selectedEdges.has(edgeId(e)));
      commit({ ...doc, nodes, edges }, { selected: new Set(), selectedEdges: new Set() });
    },

    removeEdges(ids) {
      const { doc } = get();
      const drop = new Set(ids);
      commit({ ...doc, edges: doc.edges.filter((e) => !drop.has(edgeId(e))) });
    },

    updateConfig(id, config) {
      const { doc } = get();
      typing(`config:${id}`, { ...doc, nodes: doc.nodes.map((n) => (n.id === id ? { ...n, config } : n)) });
    },
    updateLabel(id, label) {
      const { doc } = get();
      typing(`label:${id}`, { ...doc, nodes: doc.nodes.map((n) => (n.id === id ? { ...n, label } : n)) });
    },
    updateMeta(patch) {
      typing(`meta:${Object.keys(patch).join(',')}`, { ...get().doc, ...patch });
    },

    undo() {
      const { past, future, doc } = get();
      if (past.length === 0) return;
      const prev = past[past.length - 1];
      set({ doc: prev, past: past.slice(0, -1), future: [doc, ...future], selected: keep(get().selected, prev) });
    },
    redo() {
      const { past, future, doc } = get();
      if (future.length === 0) return;
      const next = future[0];
      set({ doc: next, past: [...past, doc], future: future.slice(1), selected: keep(get().selected, next) });
    },

    copy() {
      const { doc, selected } = get();
      if (selected.size === 0) return;
      const nodes = doc.nodes.filter((n) => selected.has(n.id));
      const edges = doc.edges.filter((e) => selected.has(e.source) && selected.has(e.target));
      set({ clipboard: structuredClone({ nodes, edges }) });
      get().notify(`Copied ${nodes.length} node${nodes.length === 1 ? '' : 's'}.`, 'info');
    },

    paste() {
      const { doc, clipboard } = get();
      if (!clipboard || clipboard.nodes.length === 0) return;
      const taken = new Set(doc.nodes.map((n) => n.id));
      const rename = new Map<string, string>();
      const nodes = clipboard.nodes.map((n) => {
        const id = freshId(n.id.replace(/_\d+$/, ''), taken);
        taken.add(id);
        rename.set(n.id, id);
        const p = n.position ?? { x: 0, y: 0 };
        return { ...structuredClone(n), id, position: { x: p.x + 40, y: p.y + 40 } };
      });
      const edges = clipboard.edges.map((e) => ({ ...e, id: undefined, source: rename.get(e.source)!, target: rename.get(e.target)! }));
      // the next paste lands further down, like in a drawing program
      set({ clipboard: { nodes: clipboard.nodes.map((n) => ({ ...n, position: { x: (n.position?.x ?? 0) + 40, y: (n.position?.y ?? 0) + 40 } })), edges: clipboard.edges } });
      commit({ ...doc, nodes: [...doc.nodes, ...nodes], edges: [...doc.edges, ...edges] }, { selected: new Set(nodes.map((n) => n.id)), selectedEdges: new Set() });
    },

    autoLayout() {
      const { doc } = get();
      commit(layout(doc));
    },
  };
});

function keep(sel: ReadonlySet<string>, doc: PipelineDocument): ReadonlySet<string> {
  const ids = new Set(doc.nodes.map((n) => n.id));
  return new Set([...sel].filter((id) => ids.has(id)));
}

export function layout(doc: PipelineDocument): PipelineDocument {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 30, ranksep: 70, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of doc.nodes) g.setNode(n.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const e of doc.edges) g.setEdge(e.source, e.target);
  dagre.layout(g);
  return {
    ...doc,
    nodes: doc.nodes.map((n) => {
      const p = g.node(n.id);
      return { ...n, position: { x: Math.round(p.x - NODE_WIDTH / 2), y: Math.round(p.y - NODE_HEIGHT / 2) } };
    }),
  };
}

function ensurePositions(doc: PipelineDocument): PipelineDocument {
  const nodes = doc.nodes ?? [];
  const edges = doc.edges ?? [];
  const full = { ...doc, nodes, edges };
  return nodes.every((n) => n.position) ? full : layout(full);
}

/** Local + server problems, keyed by node index. */
export function problemsOf(doc: PipelineDocument, catalog: Catalog, server: Problem[]): Problem[] {
  const local = catalog.size ? validateDocument(doc, catalog) : [];
  const seen = new Set(local.map((p) => p.pointer + p.message));
  return [...local, ...server.filter((p) => !seen.has(p.pointer + p.message))];
}

export const isDirty = (s: Pick<EditorState, 'doc' | 'saved'>) => s.doc !== s.saved;
export { moduleKey };
