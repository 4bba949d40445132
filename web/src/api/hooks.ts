import { useEffect } from 'react';
import { useMutation, useQuery, useQueryClient, keepPreviousData } from '@tanstack/react-query';
import { backend } from './index';
import type { Backend } from './backend';
import type { PipelineDocument } from './types';

/** The only place components get server data from: swap `backend()` for the generated client later. */
export const keys = {
  modules: ['modules'] as const,
  pipelines: ['pipelines'] as const,
  pipeline: (id: string) => ['pipelines', id] as const,
  runs: (f: object) => ['runs', f] as const,
  run: (id: string) => ['run', id] as const,
  connections: ['connections'] as const,
  connectionTypes: ['connection-types'] as const,
};

export const useModules = () => useQuery({ queryKey: keys.modules, queryFn: () => backend().modules(), staleTime: 5 * 60_000 });
export const usePipelines = () => useQuery({ queryKey: keys.pipelines, queryFn: () => backend().listPipelines() });
export const usePipeline = (id: string | undefined) =>
  useQuery({ queryKey: keys.pipeline(id ?? 'new'), queryFn: () => backend().getPipeline(id!), enabled: !!id && id !== 'new', staleTime: Infinity, gcTime: 0 });

export function useSavePipeline() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, doc }: { id?: string | null; doc: PipelineDocument }) => (id ? backend().savePipeline(id, doc) : backend().createPipeline(doc)),
    onSuccess: () => qc.invalidateQueries({ queryKey: keys.pipelines }),
  });
}
export function useDeletePipeline() {
  const qc = useQueryClient();
  return useMutation({ mutationFn: (id: string) => backend().deletePipeline(id), onSuccess: () => qc.invalidateQueries({ queryKey: keys.pipelines }) });
}
export function useCreatePipeline() {
  const qc = useQueryClient();
  return useMutation({ mutationFn: (doc: PipelineDocument) => backend().createPipeline(doc), onSuccess: () => qc.invalidateQueries({ queryKey: keys.pipelines }) });
}

/** Output columns of every node; refetched (debounced by the caller) when the document changes. */
export const useSchemas = (doc: PipelineDocument | null, enabled = true) =>
  useQuery({ queryKey: ['schemas', doc], queryFn: () => backend().schemas(doc!), enabled: !!doc && enabled, placeholderData: keepPreviousData, staleTime: Infinity });

export const useValidation = (doc: PipelineDocument | null) =>
  useQuery({ queryKey: ['validate', doc], queryFn: () => backend().validate(doc!), enabled: !!doc, placeholderData: keepPreviousData, staleTime: Infinity });

export const usePreview = (doc: PipelineDocument | null, nodeId: string | null, offset: number, limit: number) =>
  useQuery({ queryKey: ['preview', doc, nodeId, offset, limit], queryFn: () => backend().preview(doc!, nodeId!, offset, limit), enabled: !!doc && !!nodeId, placeholderData: keepPreviousData, staleTime: 30_000 });

export const useRuns = (f: { pipelineId?: string; status?: string }) =>
  useQuery({ queryKey: keys.runs(f), queryFn: () => backend().listRuns(f), refetchInterval: 2000 });

/**
 * A run, live: every WebSocket event (`/api/v1/ws/runs/{id}`) refetches it at once; a slower poll
 * covers a dropped socket. Stops when the run has ended.
 */
export function useRun(id: string | null) {
  const qc = useQueryClient();
  useEffect(() => {
    const sub = backend().subscribeRun;
    if (!id || !sub) return;
    return sub(id, () => void qc.invalidateQueries({ queryKey: keys.run(id) }));
  }, [id, qc]);
  return useQuery({
    queryKey: keys.run(id ?? ''),
    queryFn: () => backend().getRun(id!),
    enabled: !!id,
    refetchInterval: (q) => (q.state.data && ['succeeded', 'failed', 'cancelled'].includes(q.state.data.status) ? false : backend().subscribeRun ? 1000 : 300),
  });
}

export function useStartRun() {
  const qc = useQueryClient();
  return useMutation({ mutationFn: ({ id, parameters }: { id: string; parameters: Record<string, unknown> }) => backend().startRun(id, parameters), onSuccess: () => qc.invalidateQueries({ queryKey: ['runs'] }) });
}

export const useConnections = () => useQuery({ queryKey: keys.connections, queryFn: () => backend().listConnections() });
export const useConnectionTypes = () => useQuery({ queryKey: keys.connectionTypes, queryFn: () => backend().connectionTypes(), staleTime: Infinity });
export function useSaveConnection() {
  const qc = useQueryClient();
  return useMutation({ mutationFn: (c: Parameters<Backend['saveConnection']>[0]) => backend().saveConnection(c), onSuccess: () => qc.invalidateQueries({ queryKey: keys.connections }) });
}
export function useDeleteConnection() {
  const qc = useQueryClient();
  return useMutation({ mutationFn: (id: string) => backend().deleteConnection(id), onSuccess: () => qc.invalidateQueries({ queryKey: keys.connections }) });
}
