import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from '../client/schema';
import { ApiError, type Backend } from './backend';
import type { CatalogEntry, Column, Connection, PipelineDocument, PipelineSummary, Preview, Problem, Run } from './provisional';
import { statsOf } from './stats';

/**
 * The real server, through the client generated from its OpenAPI document (`npm run gen:api`
 * writes `src/client/schema.d.ts` from `web/openapi.json`). Only this file knows the routes;
 * it maps the server's shapes to the stable contracts the UI uses.
 */
type S = components['schemas'];

const ACCESS = 'ecluse.token';
const REFRESH = 'ecluse.refresh';

const auth: Middleware = {
  onRequest({ request }) {
    const token = sessionStorage.getItem(ACCESS);
    if (token) request.headers.set('Authorization', `Bearer ${token}`);
    return request;
  },
};

export const client = createClient<paths>({ baseUrl: '' });
client.use(auth);

/** The version each opened pipeline was based on, sent back on save (optimistic concurrency). */
const versions = new Map<string, number>();

interface ProblemBody {
  detail?: string;
  title?: string;
  errors?: { pointer: string; detail?: string; message?: string }[];
}

async function refreshOnce(): Promise<boolean> {
  const refresh_token = sessionStorage.getItem(REFRESH);
  if (!refresh_token) return false;
  const { data } = await client.POST('/api/v1/auth/refresh', { body: { refresh_token } });
  if (!data) return false;
  sessionStorage.setItem(ACCESS, data.access_token);
  sessionStorage.setItem(REFRESH, data.refresh_token);
  return true;
}

/** Unwraps an openapi-fetch result; one silent token refresh on 401; problem+json → ApiError with pointers. */
async function ok<T>(call: () => Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let r = await call();
  if (r.response.status === 401 && (await refreshOnce())) r = await call();
  if (r.response.ok) return r.data as T;
  const body = (r.error ?? {}) as ProblemBody;
  const problems: Problem[] = (body.errors ?? []).map((e) => ({ pointer: e.pointer, message: e.detail ?? e.message ?? '' }));
  if (r.response.status === 401) {
    sessionStorage.removeItem(ACCESS);
  }
  throw new ApiError(body.detail ?? body.title ?? r.response.statusText, r.response.status, problems);
}

const toDoc = (p: S['PipelineOut']): PipelineDocument => {
  versions.set(p.id, p.version);
  return { ...(p.document as unknown as PipelineDocument), id: p.id };
};

interface ServerNodeMetrics {
  status: Run['status'];
  rows_in?: number | null;
  rows_out?: number | null;
  rows_rejected?: number | null;
  duration_s?: number | null;
  error?: { message?: string } | string | null;
}

const toNodes = (nodes: S['RunOut']['nodes']): Run['nodes'] =>
  Object.fromEntries(
    Object.entries(nodes as Record<string, ServerNodeMetrics>).map(([id, m]) => [
      id,
      {
        status: m.status,
        rows: m.rows_out ?? m.rows_in ?? null,
        rows_rejected: m.rows_rejected ?? null,
        duration_ms: m.duration_s != null ? Math.round(m.duration_s * 1000) : null,
        error: typeof m.error === 'string' ? m.error : (m.error?.message ?? null),
      },
    ]),
  );

const toRun = (r: S['RunOut']): Run => ({
  id: r.id,
  pipeline_id: r.pipeline_id,
  status: r.status === 'orphaned' ? 'failed' : r.status,
  trigger: r.trigger as Run['trigger'],
  started_at: r.started_at ?? r.created_at,
  finished_at: r.finished_at,
  parameters: r.parameters,
  nodes: toNodes(r.nodes),
  error: (r.error as Run['error']) ?? null,
});

const toConnection = (c: S['ConnectionOut']): Connection => {
  const masked = Object.entries(c.fields).filter(([, v]) => v === '********').map(([k]) => k);
  const params = Object.fromEntries(Object.entries(c.fields).filter(([, v]) => v !== '********'));
  return { id: c.id, name: c.name, type: c.type, params, secrets_set: masked };
};

export const httpBackend: Backend = {
  kind: 'http',
  async login(username, password) {
    const t = await ok(() => client.POST('/api/v1/auth/login', { body: { username, password } }));
    sessionStorage.setItem(ACCESS, t.access_token);
    sessionStorage.setItem(REFRESH, t.refresh_token);
  },
  logout() {
    const refresh_token = sessionStorage.getItem(REFRESH);
    if (refresh_token) void client.POST('/api/v1/auth/logout', { body: { refresh_token } });
    sessionStorage.removeItem(ACCESS);
    sessionStorage.removeItem(REFRESH);
  },
  isSignedIn: () => sessionStorage.getItem(ACCESS) !== null,
  async modules() {
    const list = await ok(() => client.GET('/api/v1/modules'));
    return list.map((m) => ({ ...m, icon: m.icon ?? 'extension', category: m.category ?? '' }) as unknown as CatalogEntry);
  },
  async listPipelines() {
    const page = await ok(() => client.GET('/api/v1/pipelines', { params: { query: { limit: 200 } } }));
    return page.items.map((p): PipelineSummary => ({ id: p.id, name: p.name, description: p.description, updated_at: p.updated_at, schedule: p.schedule }));
  },
  getPipeline: async (id) => toDoc(await ok(() => client.GET('/api/v1/pipelines/{pipeline_id}', { params: { path: { pipeline_id: id } } }))),
  createPipeline: async (doc) => toDoc(await ok(() => client.POST('/api/v1/pipelines', { body: { ...doc, id: undefined } as unknown as S['Pipeline'] }))),
  savePipeline: async (id, doc) =>
    toDoc(await ok(() => client.PUT('/api/v1/pipelines/{pipeline_id}', { params: { path: { pipeline_id: id }, query: { base_version: versions.get(id) } }, body: doc as unknown as S['Pipeline'] }))),
  deletePipeline: async (id) => {
    await ok(() => client.DELETE('/api/v1/pipelines/{pipeline_id}', { params: { path: { pipeline_id: id } } }));
  },
  async validate(doc) {
    const r = await ok(() => client.POST('/api/v1/pipelines/validate', { body: doc as unknown as Record<string, unknown> }));
    return r.problems.map((p) => ({ pointer: p.pointer, message: p.message }));
  },
  /** Schemas of the document as it is on screen (saved or not): the server computes every node it can. */
  async schemas(doc) {
    const r = await ok(() => client.POST('/api/v1/pipelines/schema', { body: doc as unknown as Record<string, unknown> }));
    const out: Record<string, Column[]> = {};
    for (const [id, n] of Object.entries(r.nodes)) if (n.columns) out[id] = n.columns;
    return out;
  },
  async preview(doc, nodeId, offset, limit) {
    const r = await ok(() => client.POST('/api/v1/pipelines/preview', { params: { query: { node_id: nodeId, limit, offset } }, body: doc as unknown as Record<string, unknown> }));
    const rows = r.rows as unknown[][];
    // the server pages without a total: "at least one more page" while pages come back full
    const p: Preview = { columns: r.columns, rows, offset, total: rows.length < limit ? offset + rows.length : -1, stats: statsOf(r.columns, rows) };
    return p;
  },
  startRun: async (id, parameters) => toRun(await ok(() => client.POST('/api/v1/pipelines/{pipeline_id}/runs', { params: { path: { pipeline_id: id } }, body: { parameters, trigger: 'manual' } }))),
  getRun: async (id) => toRun(await ok(() => client.GET('/api/v1/runs/{run_id}', { params: { path: { run_id: id } } }))),
  subscribeRun(id, onEvent) {
    const token = sessionStorage.getItem(ACCESS);
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/ws/runs/${encodeURIComponent(id)}?token=${encodeURIComponent(token ?? '')}`;
    let ws: WebSocket | null = null;
    try {
      ws = new WebSocket(url);
      ws.onmessage = (m) => {
        try {
          onEvent(JSON.parse(String(m.data)));
        } catch {
          onEvent(m.data);
        }
      };
    } catch {
      /* polling still runs */
    }
    return () => ws?.close();
  },
  async listRuns({ pipelineId, status }) {
    const page = await ok(() => client.GET('/api/v1/runs', { params: { query: { pipeline_id: pipelineId, status: status as never, limit: 100 } } }));
    return page.items.map(toRun);
  },
  async listVersions(id) {
    const page = await ok(() => client.GET('/api/v1/pipelines/{pipeline_id}/versions', { params: { path: { pipeline_id: id }, query: { limit: 100 } } }));
    return page.items.map((v) => ({ version: v.version, created_at: v.created_at, created_by: v.created_by, message: v.message }));
  },
  async getVersion(id, version) {
    const v = await ok(() => client.GET('/api/v1/pipelines/{pipeline_id}/versions/{version}', { params: { path: { pipeline_id: id, version } } }));
    return { ...(v.document as unknown as PipelineDocument), id };
  },
  restoreVersion: async (id, version) => toDoc(await ok(() => client.POST('/api/v1/pipelines/{pipeline_id}/versions/{version}/restore', { params: { path: { pipeline_id: id, version } } }))),
  async runLogs(runId, after) {
    const page = await ok(() => client.GET('/api/v1/runs/{run_id}/logs', { params: { path: { run_id: runId }, query: { after, limit: 500 } } }));
    return { items: page.items, next: page.next_after };
  },
  async listConnections() {
    const page = await ok(() => client.GET('/api/v1/connections', { params: { query: { limit: 200 } } }));
    return page.items.map(toConnection);
  },
  async saveConnection(c) {
    const body = { name: c.name, type: c.type, ...c.params, ...(c.secrets ?? {}) };
    const out = c.id
      ? await ok(() => client.PUT('/api/v1/connections/{connection_id}', { params: { path: { connection_id: c.id! } }, body }))
      : await ok(() => client.POST('/api/v1/connections', { body }));
    return toConnection(out);
  },
  deleteConnection: async (id) => {
    await ok(() => client.DELETE('/api/v1/connections/{connection_id}', { params: { path: { connection_id: id } } }));
  },
  testConnection: async (id) => {
    const r = await ok(() => client.POST('/api/v1/connections/{connection_id}/test', { params: { path: { connection_id: id } } }));
    return { ok: r.ok, message: r.message };
  },
};
