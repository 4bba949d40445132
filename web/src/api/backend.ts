import type { CatalogEntry, Column, Connection, ConnectionTest, ConnectionType, LogLine, PipelineDocument, PipelineSummary, PipelineVersion, Preview, Problem, Run } from './types';

/**
 * Everything the UI asks of the server, in one small interface.
 * `http.ts` implements it on the client generated from the server's OpenAPI document.
 */
export interface Backend {
  readonly kind: 'http';
  login(username: string, password: string): Promise<void>;
  logout(): void;
  isSignedIn(): boolean;
  modules(): Promise<CatalogEntry[]>;
  listPipelines(): Promise<PipelineSummary[]>;
  getPipeline(id: string): Promise<PipelineDocument>;
  createPipeline(doc: PipelineDocument): Promise<PipelineDocument>;
  savePipeline(id: string, doc: PipelineDocument): Promise<PipelineDocument>;
  deletePipeline(id: string): Promise<void>;
  validate(doc: PipelineDocument): Promise<Problem[]>;
  /** Output columns of every node, computed by the server. */
  schemas(doc: PipelineDocument): Promise<Record<string, Column[]>>;
  preview(doc: PipelineDocument, nodeId: string, offset: number, limit: number): Promise<Preview>;
  startRun(pipelineId: string, parameters: Record<string, unknown>): Promise<Run>;
  getRun(id: string): Promise<Run>;
  /** Calls `onEvent` on every live event of a run (status, progress, log line); returns the unsubscribe. */
  subscribeRun?(id: string, onEvent: (event: unknown) => void): () => void;
  listRuns(filter: { pipelineId?: string; status?: string }): Promise<Run[]>;
  listVersions(pipelineId: string): Promise<PipelineVersion[]>;
  getVersion(pipelineId: string, version: number): Promise<PipelineDocument>;
  restoreVersion(pipelineId: string, version: number): Promise<PipelineDocument>;
  runLogs(runId: string, after: number): Promise<{ items: LogLine[]; next: number }>;
  listConnections(): Promise<Connection[]>;
  /** Each connection type with the JSON Schema of its fields (secrets `writeOnly`). */
  connectionTypes(): Promise<ConnectionType[]>;
  saveConnection(c: Pick<Connection, 'name' | 'type' | 'fields'> & { id?: string; description?: string | null }): Promise<Connection>;
  deleteConnection(id: string): Promise<void>;
  testConnection(id: string): Promise<ConnectionTest>;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly problems: Problem[] = [],
  ) {
    super(message);
  }
}
