import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from '../client/schema';
import { ApiError, type Backend } from './backend';
import type { CatalogEntry, Column, ConnectionType, PipelineDocument, PipelineSummary, Preview, Problem } from './types';
import { statsOf } from './stats';
import type { JsonSchema } from '../forms/jsonSchema';

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
    return list.map((m): CatalogEntry => ({ ...m, icon: m.icon ?? 'extension', category: m.category ?? '', config_schema: m.config_schema as JsonSchema }));
  },
  /** The list, with each pipeline's last run (from one page of recent runs) and next scheduled run. */
  async listPipelines() {
    const [page, runs] = await Promise.all([
      ok(() => client.GET('/api/v1/pipelines', { params: { query: { limit: 200 } } })),
      ok(() => client.GET('/api/v1/runs', { params: { query: { limit: 200 } } })),
    ]);
    const last = new Map<string, (typeof runs.items)[number]>();
    for (const r of runs.items) {
      const seen = last.get(r.pipeline_id);
      if (!seen || r.created_at > seen.created_at) last.set(r.pipeline_id, r);
    }
    const schedules = await Promise.all(
      page.items.map((p) => (p.schedule ? ok(() => client.GET('/api/v1/pipelines/{pipeline_id}/schedule', { params: { path: { pipeline_id: p.id } } })).catch(() => null) : null)),
    );
    return page.items.map((p, i): PipelineSummary => {
      const r = last.get(p.id);
      return { ...p, last_run_status: r?.status ?? null, last_run_at: r ? (r.started_at ?? r.created_at) : null, next_run_at: schedules[i]?.enabled ? schedules[i]?.next_run_at : null };
    });
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
  startRun: (id, parameters) => ok(() => client.POST('/api/v1/pipelines/{pipeline_id}/runs', { params: { path: { pipeline_id: id } }, body: { parameters, trigger: 'manual' } })),
  getRun: (id) => ok(() => client.GET('/api/v1/runs/{run_id}', { params: { path: { run_id: id } } })),
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
    return page.items;
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
    return page.items;
  },
  connectionTypes: async () => (await ok(() => client.GET('/api/v1/connections/types'))) as ConnectionType[],
  /** Secrets left at the mask (`********`) keep their stored value on the server. */
  saveConnection(c) {
    const body = { ...c.fields, name: c.name, type: c.type, description: c.description ?? undefined };
    return c.id
      ? ok(() => client.PUT('/api/v1/connections/{connection_id}', { params: { path: { connection_id: c.id! } }, body }))
      : ok(() => client.POST('/api/v1/connections', { body }));
  },
  deleteConnection: async (id) => {
    await ok(() => client.DELETE('/api/v1/connections/{connection_id}', { params: { path: { connection_id: id } } }));
  },
  testConnection: (id) => ok(() => client.POST('/api/v1/connections/{connection_id}/test', { params: { path: { connection_id: id } } })),
};
