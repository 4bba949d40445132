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

/** Rows a node produced (what its loader wrote, or read for an extractor), for the cards and edges. */
export const rowsOf = (m: NodeRun | undefined): number | null => m?.rows_out ?? m?.rows_in ?? null;
