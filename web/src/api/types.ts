/**
 * The server's shapes, all from the client generated from its OpenAPI document (`npm run gen:api`).
 * The only additions are what the editor guarantees on top of them (a document always has its node and
 * edge lists, a node its config: the server fills those defaults on save) and the browser-side summaries
 * marked as such.
 */
import type { components } from '../client/schema';
import type { JsonSchema } from '../forms/jsonSchema';

type S = components['schemas'];

export type ModuleKind = S['Node']['type'];
export type PortIn = S['PortIn'];
export type PortOut = S['PortOut'];
/** A module of the catalog; its `config_schema` is the JSON Schema of the node's form. */
export type CatalogEntry = Omit<S['ModuleOut'], 'config_schema' | 'icon' | 'category'> & { config_schema: JsonSchema; icon: string; category: string };

export type DocPosition = S['Position'];
export type DocNode = S['Node'] & { config: Record<string, unknown> };
export type DocEdge = S['Edge'];
export type PipelineParameter = S['Parameter'];
export type PipelineDocument = Omit<S['Pipeline'], 'nodes' | 'edges' | 'version'> & { version?: string; nodes: DocNode[]; edges: DocEdge[] };

/** A problem; `pointer` is a JSON pointer into the document, e.g. `/nodes/2/config/path` (local checks make these too). */
export type Problem = Pick<S['ProblemOut'], 'pointer' | 'message'>;
export type Column = S['ColumnOut'];
export type LogLine = S['LogLineOut'];
export type PipelineVersion = S['VersionOut'];

export type Run = S['RunOut'];
export type RunStatus = Run['status'];
export type NodeRun = Run['nodes'][string];
export type RunError = NonNullable<Run['error']>;

/** A pipeline in the list, with its last run and next scheduled run (joined in the browser). */
export type PipelineSummary = S['PipelineSummary'] & { last_run_status?: RunStatus | null; last_run_at?: string | null; next_run_at?: string | null };

export type Connection = S['ConnectionOut'];
export type ConnectionType = Omit<S['ConnectionTypeOut'], 'json_schema'> & { json_schema: JsonSchema };
export type ConnectionTest = S['ConnectionTestOut'];

/** Browser-side statistics of a preview page (the server sends rows only). */
export interface ColumnStats {
  name: string;
  type: string;
  null_share: number;
  distinct: number;
  min?: unknown;
  max?: unknown;
  histogram?: number[];
}
/** A preview page, with "more than" paging (`total` is -1 while pages come back full) and its statistics. */
export type Preview = Pick<S['PreviewOut'], 'columns' | 'rows' | 'offset'> & { total: number; stats: ColumnStats[] };

/** Rows that left a node (a loader: wrote), or while it runs, those it has streamed so far; null when the
 * engine ran the step inside one query with its neighbours and only knows the count at the ends. */
export const rowsOut = (m: NodeRun | undefined): number | null => m?.rows_out ?? (m?.status === 'running' ? m.rows_so_far : null) ?? null;
/** " · 1,234 rows" out of the node; " · 1,234 rows in" when only its input count is known. */
export function rowsLabel(m: NodeRun): string {
  const out = rowsOut(m);
  if (out != null) return ` · ${out.toLocaleString()} rows${m.status === 'running' ? ' so far' : ''}`;
  return m.rows_in != null ? ` · ${m.rows_in.toLocaleString()} rows in` : '';
}
/** The largest count a run's node moved (in or out), for run-level volumes. */
export const rowsMoved = (m: NodeRun): number => Math.max(m.rows_out ?? 0, m.rows_in ?? 0);
