import { ApiError, type Backend } from './backend';
import catalogFixture from '../test/fixtures/modules.json';
import demoPipeline from '../test/fixtures/orders_pipeline.json';
import type {
  CatalogEntry,
  Column,
  Connection,
  NodeMetrics,
  PipelineDocument,
  PipelineSummary,
  Preview,
  Run,
  LogLine,
} from './provisional';
import { validateDocument } from '../store/validate';
import { topoOrder } from '../store/graph';
import { statsOf } from './stats';

/**
 * An in-browser stand-in for the server (offline demo, browser smoke test).
 * State lives in localStorage; schemas and previews are computed on made-up sample data.
 */
const KEY = 'ecluse.mock.v1';
const catalog = catalogFixture as unknown as CatalogEntry[];

interface State {
  pipelines: Record<string, { doc: PipelineDocument; updated_at: string; versions?: { version: number; created_at: string; doc: PipelineDocument }[] }>;
  logs?: Record<string, LogLine[]>;
  runs: Run[];
  connections: Connection[];
}

function load(): State {
  const raw = localStorage.getItem(KEY);
  if (raw) return JSON.parse(raw) as State;
  const id = 'demo-orders';
  return {
    pipelines: { [id]: { doc: { ...(demoPipeline as unknown as PipelineDocument), id }, updated_at: new Date().toISOString() } },
    runs: [],
    connections: [],
  };
}
function addVersion(s: State, id: string) {
  const p = s.pipelines[id];
  p.versions ??= [];
  p.versions.push({ version: p.versions.length + 1, created_at: new Date().toISOString(), doc: structuredClone(p.doc) });
}
function log(s: State, runId: string, level: string, message: string, node_id: string | null = null) {
  s.logs ??= {};
  const l = (s.logs[runId] ??= []);
  l.push({ seq: l.length + 1, at: new Date().toISOString(), level, node_id, message });
}
function save(s: State) {
  localStorage.setItem(KEY, JSON.stringify(s));
}
const uid = () => Math.random().toString(36).slice(2, 10);
const delay = <T,>(v: T, ms = 60) => new Promise<T>((r) => setTimeout(() => r(v), ms));

const SOURCE_COLUMNS: Column[] = [
  { name: 'order_id', type: 'int64' },
  { name: 'email', type: 'string' },
  { name: 'country', type: 'string' },
  { name: 'amount', type: 'decimal(12,2)' },
  { name: 'order_ts', type: 'string' },
];

/** Output columns of every node, propagated along the edges (a rough imitation of the engine). */
export function mockSchemas(doc: PipelineDocument): Record<string, Column[]> {
  const out: Record<string, Column[]> = {};
  for (const id of topoOrder(doc)) {
    const node = doc.nodes.find((n) => n.id === id)!;
    const upstream = doc.edges.filter((e) => e.target === id).map((e) => out[e.source] ?? []);
    const input = upstream[0] ?? [];
    const cfg = node.config as Record<string, unknown>;
    if (node.type === 'extractor') {
      const typed = (cfg.columns as Record<string, string>) ?? {};
      out[id] = SOURCE_COLUMNS.map((c) => ({ ...c, type: typed[c.name] ?? c.type }));
    } else if (node.type === 'loader') {
      out[id] = input;
    } else if (node.module === 'aggregate') {
      const cols: Column[] = [];
      for (const g of (cfg.group_by as string[]) ?? []) cols.push(input.find((c) => c.name === g) ?? { name: g, type: 'unknown' });
      const tb = cfg.time_bucket as { column?: string; unit?: string; name?: string | null } | null;
      if (tb?.unit) cols.push({ name: tb.name || tb.unit, type: 'timestamp' });
      for (const a of (cfg.aggregations as { column?: string | null; function?: string; name?: string }[]) ?? []) {
        if (!a?.name) continue;
        const src = input.find((c) => c.name === a.column);
        const t = a.function === 'count' || a.function === 'count_distinct' ? 'int64' : a.function === 'mean' || a.function === 'stddev' ? 'float64' : (src?.type ?? 'unknown');
        cols.push({ name: a.name, type: t });
      }
      out[id] = cols;
    } else if (node.module === 'cleaner') {
      const cast = (cfg.cast as Record<string, string>) ?? {};
      out[id] = input.map((c) => ({ ...c, type: cast[c.name] ?? c.type }));
    } else if (node.module === 'add_constant') {
      const name = (cfg.column as string) || (cfg.name as string) || 'constant';
      out[id] = [...input, { name, type: 'string' }];
    } else {
      out[id] = input;
    }
  }
  return out;
}

function sampleValue(col: Column, i: number): unknown {
  const seed = (i * 2654435761) % 1000;
  if (seed % 17 === 0) return null;
  if (col.type.startsWith('int')) return col.name.endsWith('id') ? 1000 + i : 1 + (seed % 40);
  if (col.type.startsWith('decimal') || col.type.startsWith('float')) return Math.round(((seed * 37) % 50000) / 10) / 10;
  if (col.type === 'timestamp') return new Date(Date.UTC(2024, seed % 12, 1 + (seed % 27), seed % 24)).toISOString().replace('.000Z', '');
  if (col.name.includes('country')) return ['FR', 'DE', 'ES', 'IT', 'BE'][seed % 5];
  if (col.name.includes('email')) return `user${seed % 120}@example.com`;
  return `${col.name}_${seed % 50}`;
}

const runTimers = new Map<string, number>();

function advanceRun(runId: string) {
  const s = load();
  const run = s.runs.find((r) => r.id === runId);
  if (!run || run.status === 'succeeded' || run.status === 'failed') return;
  const entry = s.pipelines[run.pipeline_id];
  const order = topoOrder(entry.doc);
  const nodes: Record<string, NodeMetrics> = { ...(run.nodes ?? {}) };
  const next = order.find((id) => nodes[id]?.status !== 'succeeded');
  run.status = 'running';
  if (next) {
    if (nodes[next]?.status === 'running') {
      nodes[next] = { status: 'succeeded', rows: 1200 - order.indexOf(next) * 250, duration_ms: 180 + order.indexOf(next) * 40 };
      log(s, runId, 'info', `finished: ${nodes[next].rows} rows in ${nodes[next].duration_ms} ms`, next);
    } else {
      nodes[next] = { status: 'running', rows: 300 };
      log(s, runId, 'info', 'started', next);
    }
  }
  run.nodes = nodes;
  if (order.every((id) => nodes[id]?.status === 'succeeded')) {
    run.status = 'succeeded';
    run.finished_at = new Date().toISOString();
    log(s, runId, 'info', 'run succeeded');
  }
  save(s);
  if (run.status === 'running') runTimers.set(runId, window.setTimeout(() => advanceRun(runId), 250));
}

export const mockBackend: Backend = {
  kind: 'mock',
  async login(username, password) {
    if (!username || !password) throw new ApiError('Enter a user name and a password.', 401);
    sessionStorage.setItem('ecluse.mock.user', username);
  },
  logout: () => sessionStorage.removeItem('ecluse.mock.user'),
  isSignedIn: () => sessionStorage.getItem('ecluse.mock.user') !== null,
  modules: () => delay(catalog),
  async listPipelines() {
    const s = load();
    return delay(
      Object.entries(s.pipelines).map(([id, p]): PipelineSummary => {
        const last = s.runs.filter((r) => r.pipeline_id === id).at(-1);
        return { id, name: p.doc.name, description: p.doc.description, updated_at: p.updated_at, schedule: p.doc.schedule, last_run_status: last?.status ?? null, last_run_at: last?.started_at ?? null, next_run_at: null };
      }),
    );
  },
  async getPipeline(id) {
    const p = load().pipelines[id];
    if (!p) throw new ApiError('No such pipeline', 404);
    return delay(structuredClone(p.doc));
  },
  async createPipeline(doc) {
    const s = load();
    const id = uid();
    s.pipelines[id] = { doc: { ...doc, id }, updated_at: new Date().toISOString() };
    addVersion(s, id);
    save(s);
    return delay(s.pipelines[id].doc);
  },
  async savePipeline(id, doc) {
    const s = load();
    s.pipelines[id] = { ...s.pipelines[id], doc: { ...doc, id }, updated_at: new Date().toISOString() };
    addVersion(s, id);
    save(s);
    return delay(s.pipelines[id].doc);
  },
  async deletePipeline(id) {
    const s = load();
    delete s.pipelines[id];
    save(s);
    await delay(null);
  },
  validate: (doc) => delay(validateDocument(doc, catalog)),
  schemas: (doc) => delay(mockSchemas(doc)),
  async preview(doc, nodeId, offset, limit) {
    const columns = mockSchemas(doc)[nodeId] ?? [];
    const total = doc.nodes.find((n) => n.id === nodeId)?.module === 'aggregate' ? 42 : 1000;
    const all = Array.from({ length: Math.min(total, 200) }, (_, i) => columns.map((c) => sampleValue(c, i)));
    const rows = all.slice(offset, offset + limit);
    const p: Preview = { columns, rows, total: Math.min(total, 200), offset, stats: statsOf(columns, all) };
    return delay(p, 120);
  },
  async startRun(pipelineId, parameters) {
    const s = load();
    const run: Run = { id: uid(), pipeline_id: pipelineId, pipeline_name: s.pipelines[pipelineId]?.doc.name, status: 'queued', trigger: 'manual', started_at: new Date().toISOString(), parameters, nodes: {} };
    s.runs.push(run);
    log(s, run.id, 'info', 'run queued');
    save(s);
    runTimers.set(run.id, window.setTimeout(() => advanceRun(run.id), 200));
    return delay(run);
  },
  async getRun(id) {
    const r = load().runs.find((x) => x.id === id);
    if (!r) throw new ApiError('No such run', 404);
    return delay(r, 10);
  },
  async listRuns({ pipelineId, status }) {
    return delay(
      load()
        .runs.filter((r) => (!pipelineId || r.pipeline_id === pipelineId) && (!status || r.status === status))
        .reverse(),
    );
  },
  async listVersions(id) {
    const p = load().pipelines[id];
    if (!p) throw new ApiError('No such pipeline', 404);
    if (!p.versions?.length) return delay([{ version: 1, created_at: p.updated_at }]);
    return delay(p.versions.map(({ version, created_at }) => ({ version, created_at, created_by: sessionStorage.getItem('ecluse.mock.user') })).reverse());
  },
  async getVersion(id, version) {
    const p = load().pipelines[id];
    const v = p?.versions?.find((x) => x.version === version);
    return delay(structuredClone(v?.doc ?? p.doc));
  },
  async restoreVersion(id, version) {
    const s = load();
    const v = s.pipelines[id]?.versions?.find((x) => x.version === version);
    if (!v) throw new ApiError('No such version', 404);
    s.pipelines[id].doc = structuredClone(v.doc);
    addVersion(s, id);
    save(s);
    return delay(s.pipelines[id].doc);
  },
  async runLogs(runId, after) {
    const lines = (load().logs?.[runId] ?? []).filter((l) => l.seq > after);
    return delay({ items: lines, next: lines.at(-1)?.seq ?? after }, 10);
  },
  listConnections: () => delay(load().connections),
  async saveConnection(c) {
    const s = load();
    const { secrets, ...rest } = c;
    const conn: Connection = { ...rest, id: c.id ?? uid(), secrets_set: Object.keys(secrets ?? {}).filter((k) => secrets?.[k]) };
    s.connections = [...s.connections.filter((x) => x.id !== conn.id), conn];
    save(s);
    return delay(conn);
  },
  async deleteConnection(id) {
    const s = load();
    s.connections = s.connections.filter((x) => x.id !== id);
    save(s);
    await delay(null);
  },
  testConnection: (id) => delay({ ok: true, message: `Connection ${id} reachable (demo mode).` }, 300),
};
