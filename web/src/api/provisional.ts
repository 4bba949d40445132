/**
 * PROVISIONAL types — the only hand-written API shapes in the app.
 *
 * The catalog entry and the pipeline document are stable contracts (DESIGN.md, issue 4).
 * Everything else the server returns (runs, connections, previews, schemas, problems)
 * is typed loosely here until `npm run gen:api` produces `src/client/schema.d.ts`
 * from the server's OpenAPI document; then these aliases become re-exports of the
 * generated `components['schemas'][...]` types and this file is deleted.
 */

export type ModuleKind = 'extractor' | 'transformer' | 'loader';

export interface PortIn {
  name: string;
  min: number;
  max: number | null;
  description?: string;
}
export interface PortOut {
  name: string;
  description?: string;
}

/** A JSON Schema object as pydantic emits it (subset the form renderer understands). */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  examples?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  format?: string;
  writeOnly?: boolean;
  'x-widget'?: string;
  [k: string]: unknown;
}

export interface CatalogEntry {
  type: ModuleKind;
  module: string;
  title: string;
  description: string;
  category: string;
  icon: string;
  version: number;
  engines: string[];
  inputs: PortIn[];
  outputs: PortOut[];
  config_schema: JsonSchema;
  examples: Record<string, unknown>[];
}

export interface DocPosition {
  x: number;
  y: number;
}
export interface DocNode {
  id: string;
  type: ModuleKind;
  module: string;
  config: Record<string, unknown>;
  position?: DocPosition | null;
  label?: string | null;
  module_version?: number | null;
}
export interface DocEdge {
  source: string;
  target: string;
  source_handle?: string | null;
  target_handle?: string | null;
  id?: string | null;
}
export interface PipelineParameter {
  type: string;
  default?: unknown;
  description?: string | null;
}
export interface PipelineDocument {
  id?: string | null;
  name: string;
  version?: string;
  description?: string | null;
  engine?: 'duckdb' | 'polars' | 'pyspark' | null;
  parameters?: Record<string, PipelineParameter>;
  nodes: DocNode[];
  edges: DocEdge[];
  schedule?: string | null;
  timezone?: string | null;
  notifications?: { on_failure?: string[]; on_success?: string[] };
  tags?: string[];
  owner?: string | null;
  retries?: number | null;
  timeout_seconds?: number | null;
}

// ---- Loosely typed until the OpenAPI client is generated ------------------------------

/** A validation problem; `pointer` is a JSON pointer into the document, e.g. `/nodes/2/config/path`. */
export interface Problem {
  pointer: string;
  message: string;
}

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface PipelineSummary {
  id: string;
  name: string;
  description?: string | null;
  updated_at?: string | null;
  schedule?: string | null;
  next_run_at?: string | null;
  last_run_status?: RunStatus | null;
  last_run_at?: string | null;
}

export interface NodeMetrics {
  status: RunStatus;
  rows?: number | null;
  rows_rejected?: number | null;
  duration_ms?: number | null;
  error?: string | null;
}

export interface Run {
  id: string;
  pipeline_id: string;
  pipeline_name?: string;
  status: RunStatus;
  trigger: 'manual' | 'schedule' | 'api';
  started_at?: string | null;
  finished_at?: string | null;
  parameters?: Record<string, unknown>;
  nodes?: Record<string, NodeMetrics>;
  error?: { node_id?: string | null; message: string } | null;
}

export interface Column {
  name: string;
  type: string;
}

export interface ColumnStats {
  name: string;
  type: string;
  null_share: number;
  distinct: number;
  min?: unknown;
  max?: unknown;
  histogram?: number[];
}

export interface Preview {
  columns: Column[];
  rows: unknown[][];
  total: number;
  offset: number;
  stats: ColumnStats[];
}

export interface Connection {
  id: string;
  name: string;
  type: string;
  params: Record<string, unknown>;
  /** Names of secret fields that have a value; the values themselves never come back. */
  secrets_set?: string[];
}

export interface PipelineVersion {
  version: number;
  created_at: string;
  created_by?: string | null;
  message?: string | null;
}

export interface LogLine {
  seq: number;
  at: string;
  level: string;
  node_id?: string | null;
  message: string;
}
