import { ApiError, type Backend } from './backend';
import type {
  CatalogEntry,
  Column,
  Connection,
  PipelineSummary,
  Preview,
  Problem,
  Run,
} from './provisional';

const BASE = '/api/v1';
const TOKEN_KEY = 'ecluse.token';

/**
 * Talks to the platform server. PROVISIONAL: once the server's OpenAPI document lands,
 * `npm run gen:api` writes `src/client/schema.d.ts` and this file becomes
 * `createClient<paths>({ baseUrl: '/api/v1' })` from openapi-fetch, with the same methods.
 */
async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const res = await fetch(BASE + path, {
    method,
    headers: {
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) {
    let detail = res.statusText;
    let problems: Problem[] = [];
    try {
      const p = (await res.json()) as { detail?: string; title?: string; errors?: { pointer: string; detail?: string; message?: string }[] };
      detail = p.detail ?? p.title ?? detail;
      problems = (p.errors ?? []).map((e) => ({ pointer: e.pointer, message: e.detail ?? e.message ?? '' }));
    } catch {
      /* not JSON */
    }
    throw new ApiError(detail, res.status, problems);
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** Lists may come back paginated (`{items, total}`) or bare. */
function items<T>(x: T[] | { items: T[] }): T[] {
  return Array.isArray(x) ? x : x.items;
}

export const httpBackend: Backend = {
  kind: 'http',
  async login(username, password) {
    const t = await call<{ access_token: string }>('POST', '/auth/login', { username, password });
    sessionStorage.setItem(TOKEN_KEY, t.access_token);
  },
  logout() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
  isSignedIn: () => sessionStorage.getItem(TOKEN_KEY) !== null,
  modules: async () => items(await call<CatalogEntry[] | { items: CatalogEntry[] }>('GET', '/modules')),
  listPipelines: async () => items(await call<PipelineSummary[] | { items: PipelineSummary[] }>('GET', '/pipelines')),
  getPipeline: (id) => call('GET', `/pipelines/${encodeURIComponent(id)}`),
  createPipeline: (doc) => call('POST', '/pipelines', doc),
  savePipeline: (id, doc) => call('PUT', `/pipelines/${encodeURIComponent(id)}`, doc),
  deletePipeline: (id) => call('DELETE', `/pipelines/${encodeURIComponent(id)}`),
  validate: async (doc) => {
    const r = await call<{ problems?: Problem[] } | Problem[]>('POST', '/pipelines/validate', doc);
    return Array.isArray(r) ? r : (r.problems ?? []);
  },
  schemas: (doc) => call<Record<string, Column[]>>('POST', '/pipelines/schema', doc),
  preview: (doc, nodeId, offset, limit) => call<Preview>('POST', `/pipelines/preview`, { pipeline: doc, node_id: nodeId, offset, limit }),
  startRun: (id, parameters) => call('POST', `/pipelines/${encodeURIComponent(id)}/runs`, { parameters }),
  getRun: (id) => call('GET', `/runs/${encodeURIComponent(id)}`),
  listRuns: async ({ pipelineId, status }) => {
    const q = new URLSearchParams();
    if (pipelineId) q.set('pipeline_id', pipelineId);
    if (status) q.set('status', status);
    return items(await call<Run[] | { items: Run[] }>('GET', `/runs?${q.toString()}`));
  },
  listConnections: async () => items(await call<Connection[] | { items: Connection[] }>('GET', '/connections')),
  saveConnection: (c) => (c.id ? call('PUT', `/connections/${encodeURIComponent(c.id)}`, c) : call('POST', '/connections', c)),
  deleteConnection: (id) => call('DELETE', `/connections/${encodeURIComponent(id)}`),
  testConnection: (id) => call('POST', `/connections/${encodeURIComponent(id)}/test`),
};
