import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useBlocker, useNavigate, useParams } from 'react-router-dom';
import { ReactFlowProvider, useReactFlow } from '@xyflow/react';
import { useQuery } from '@tanstack/react-query';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import CircularProgress from '@mui/material/CircularProgress';
import Divider from '@mui/material/Divider';
import IconButton from '@mui/material/IconButton';
import InputBase from '@mui/material/InputBase';
import Snackbar from '@mui/material/Snackbar';
import Stack from '@mui/material/Stack';
import Tooltip from '@mui/material/Tooltip';
import ArrowBackIcon from '@mui/icons-material/ArrowBack';
import AccountTreeOutlinedIcon from '@mui/icons-material/AccountTreeOutlined';
import CenterFocusStrongOutlinedIcon from '@mui/icons-material/CenterFocusStrongOutlined';
import PlayArrowIcon from '@mui/icons-material/PlayArrow';
import RedoIcon from '@mui/icons-material/Redo';
import SaveOutlinedIcon from '@mui/icons-material/SaveOutlined';
import UndoIcon from '@mui/icons-material/Undo';
import { ApiError, backend } from '../api';
import { useModules, usePipeline, useRun, useSavePipeline, useStartRun } from '../api/hooks';
import type { CatalogEntry, PipelineDocument } from '../api/types';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { StatusChip } from '../components/StatusChip';
import { isDirty, problemsOf, useEditor } from '../store/editor';
import { checkConnection } from '../store/graph';
import { Canvas } from './Canvas';
import { ConfigPanel } from './ConfigPanel';
import { Palette } from './Palette';
import { PreviewPanel } from './PreviewPanel';
import { RunDialog } from './RunDialog';
import { useDebounced, useLogical, useProblemsByNode } from './useEditorDerived';
import { HistoryDrawer } from './HistoryDrawer';
import { DiffBanner } from './DiffBanner';
import { LogsPanel } from './LogsPanel';
import { SettingsPanel } from './SettingsPanel';
import { diffDocs, type DocDiff } from '../store/diff';
import HistoryIcon from '@mui/icons-material/History';
import ReceiptLongOutlinedIcon from '@mui/icons-material/ReceiptLongOutlined';

const isTyping = (t: EventTarget | null) => t instanceof HTMLElement && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName) || !!t.closest('.cm-editor'));

function useShortcuts() {
  const { fitView } = useReactFlow();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTyping(e.target)) return;
      const st = useEditor.getState();
      const mod = e.ctrlKey || e.metaKey;
      const k = e.key.toLowerCase();
      if (mod && k === 'z' && !e.shiftKey) st.undo();
      else if (mod && ((k === 'z' && e.shiftKey) || k === 'y')) st.redo();
      else if (mod && k === 'c') st.copy();
      else if (mod && k === 'v') st.paste();
      else if (mod && k === 'a') st.select(st.doc.nodes.map((n) => n.id));
      else if (e.key === 'Delete' || e.key === 'Backspace') st.deleteSelection();
      else if (e.key === 'Escape') st.select([]);
      else if (!mod && k === 'f') fitView({ duration: 200, maxZoom: 1, includeHiddenNodes: true });
      else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [fitView]);
}

function Editor({ pipelineId }: { pipelineId: string }) {
  const navigate = useNavigate();
  const catalog = useEditor((s) => s.catalog);
  const dirty = useEditor(isDirty);
  const canUndo = useEditor((s) => s.past.length > 0);
  const canRedo = useEditor((s) => s.future.length > 0);
  const selected = useEditor((s) => s.selected);
  const notice = useEditor((s) => s.notice);
  const st = useEditor.getState();
  const modules = useModules();
  const save = useSavePipeline();
  const startRun = useStartRun();
  const { fitView, getViewport } = useReactFlow();
  const [runOpen, setRunOpen] = useState(false);
  const [runId, setRunId] = useState<string | null>(null);
  const [previewId, setPreviewId] = useState<string | null>(null);
  const [saves, setSaves] = useState(0);
  const [historyOpen, setHistoryOpen] = useState(false);
  const [compare, setCompare] = useState<{ version: number; before: PipelineDocument } | null>(null);
  const [logsOpen, setLogsOpen] = useState(false);
  const run = useRun(runId);
  useShortcuts();

  // server-side derived data keyed on the logical document (positions excluded)
  const { logical, version } = useLogical();
  const debouncedVersion = useDebounced(version, 150);
  const queryDoc = useMemo(() => logical, [debouncedVersion]); // eslint-disable-line react-hooks/exhaustive-deps
  const schemas = useQuery({ queryKey: ['schemas', pipelineId, debouncedVersion, saves], queryFn: () => backend().schemas(queryDoc), placeholderData: (p) => p, staleTime: Infinity, enabled: queryDoc.nodes.length > 0 });
  const validation = useQuery({ queryKey: ['validate', pipelineId, debouncedVersion], queryFn: () => backend().validate(queryDoc), placeholderData: (p) => p, staleTime: Infinity, enabled: queryDoc.nodes.length > 0 });
  // server problems about an older version of the document are dropped, not shown on fields that were just fixed
  const fresh = version === debouncedVersion && !validation.isPlaceholderData;
  const serverProblems = fresh ? validation.data : undefined;
  const problems = useMemo(() => problemsOf(logical, catalog, serverProblems ?? []), [logical, catalog, serverProblems]);
  const problemsByNode = useProblemsByNode(logical, problems);

  const selectedId = selected.size === 1 ? [...selected][0] : null;
  const previewNode = previewId ? logical.nodes.find((n) => n.id === previewId) : undefined;

  // warn before leaving with unsaved changes
  const blocker = useBlocker(({ currentLocation, nextLocation }) => dirty && currentLocation.pathname !== nextLocation.pathname);
  useEffect(() => {
    if (!dirty) return;
    const h = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = '';
    };
    window.addEventListener('beforeunload', h);
    return () => window.removeEventListener('beforeunload', h);
  }, [dirty]);

  const doSave = useCallback(async () => {
    const current = useEditor.getState().doc;
    try {
      const saved = await save.mutateAsync({ id: pipelineId, doc: current });
      // keep the canvas as it is; only mark this state as saved
      useEditor.getState().markSaved(useEditor.getState().doc === current ? current : undefined);
      useEditor.getState().notify(`Saved “${saved.name}”.`, 'success');
      setSaves((n) => n + 1);
      return true;
    } catch (e) {
      const conflict = e instanceof ApiError && e.status === 409;
      useEditor.getState().notify(conflict ? 'Someone saved this pipeline meanwhile: your version was not saved. Export your changes, reload, and apply them again.' : `Could not save: ${(e as Error).message}`, 'error');
      return false;
    }
  }, [pipelineId, save]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
        e.preventDefault();
        void doSave();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [doSave]);

  const addAt = useCallback((entry: CatalogEntry, pos: { x: number; y: number }) => {
    useEditor.getState().addNode(entry, pos);
  }, []);

  /** Click/Enter in the palette: place the module right of the selected node and connect it when possible. */
  const addFromPalette = useCallback(
    (entry: CatalogEntry) => {
      const s = useEditor.getState();
      const from = s.selected.size === 1 ? s.doc.nodes.find((n) => s.selected.has(n.id)) : undefined;
      let pos: { x: number; y: number };
      if (from?.position) pos = { x: from.position.x + 280, y: from.position.y };
      else {
        const v = getViewport();
        const el = document.querySelector('[data-testid="canvas"]')?.getBoundingClientRect();
        pos = { x: ((el?.width ?? 800) / 2 - v.x) / v.zoom - 110, y: ((el?.height ?? 600) / 2 - v.y) / v.zoom - 48 };
      }
      const id = s.addNode(entry, pos);
      if (from && checkConnection(useEditor.getState().doc, s.catalog, { source: from.id, target: id }).ok) useEditor.getState().connect({ source: from.id, target: id });
    },
    [getViewport],
  );

  const onRun = async (parameters: Record<string, unknown>) => {
    setRunOpen(false);
    if (isDirty(useEditor.getState()) && !(await doSave())) return;
    try {
      const r = await startRun.mutateAsync({ id: pipelineId, parameters });
      setRunId(r.id);
      setLogsOpen(true);
    } catch (e) {
      useEditor.getState().notify(`Could not start the run: ${(e as Error).message}`, 'error');
    }
  };

  // a panel opening or closing under the canvas changes its height: frame again, so no node ends up below the
  // panel or under the zoom buttons — the previewed node and its neighbours, else the whole pipeline (a run)
  const panels = `${previewId ?? ''}:${logsOpen}`;
  const framedFor = useRef(panels);
  useEffect(() => {
    if (panels === framedFor.current) return;
    framedFor.current = panels;
    const s = useEditor.getState();
    const around = new Set(previewId ? [previewId] : []);
    for (const e of s.doc.edges) if (e.source === previewId || e.target === previewId) around.add(e.source).add(e.target);
    const t = setTimeout(() => fitView({ nodes: around.size ? [...around].map((id) => ({ id })) : undefined, duration: 200, maxZoom: 1, padding: 0.15, includeHiddenNodes: true }), 50);
    return () => clearTimeout(t);
  }, [panels, previewId, fitView]);

  const runStatus = run.data?.status;
  const diff: DocDiff | null = useMemo(() => (compare ? diffDocs(compare.before, logical) : null), [compare, logical]);

  const onCompare = async (version: number) => {
    try {
      const before = await backend().getVersion(pipelineId, version);
      setCompare({ version, before });
      setHistoryOpen(false);
    } catch (e) {
      useEditor.getState().notify(`Could not load version ${version}: ${(e as Error).message}`, 'error');
    }
  };
  const onRestore = async (version: number) => {
    if (isDirty(useEditor.getState()) && !window.confirm('Restoring replaces the canvas; your unsaved changes will be lost. Continue?')) return;
    try {
      const doc = await backend().restoreVersion(pipelineId, version);
      useEditor.getState().load(doc);
      setCompare(null);
      setHistoryOpen(false);
      setSaves((n) => n + 1);
      useEditor.getState().notify(`Restored version ${version} (saved as a new version).`, 'success');
    } catch (e) {
      useEditor.getState().notify(`Could not restore: ${(e as Error).message}`, 'error');
    }
  };
  const entries = modules.data ?? [];
  const problemCount = problemsByNode.size;

  return (
    <Box sx={{ display: 'flex', flexDirection: 'column', flex: 1, minHeight: 0 }}>
      <Stack direction="row" alignItems="center" spacing={1} sx={{ px: 1.5, py: 0.75, borderBottom: 1, borderColor: 'divider', bgcolor: 'background.paper' }} role="toolbar" aria-label="Editor">
        <Tooltip title="All pipelines">
          <IconButton aria-label="Back to pipelines" onClick={() => navigate('/pipelines')}>
            <ArrowBackIcon />
          </IconButton>
        </Tooltip>
        <InputBase value={logical.name} onChange={(e) => st.updateMeta({ name: e.target.value })} inputProps={{ 'aria-label': 'Pipeline name' }} sx={{ fontSize: 16, fontWeight: 600, minWidth: 200, maxWidth: 360, px: 1, borderRadius: 1, '&:hover, &.Mui-focused': { bgcolor: 'action.hover' } }} />
        {dirty ? <Chip size="small" label="Unsaved changes" color="warning" variant="outlined" /> : <Chip size="small" label="Saved" variant="outlined" />}
        {problemCount > 0 && <Chip size="small" color="error" variant="outlined" label={`${problemCount} node${problemCount > 1 ? 's' : ''} need${problemCount > 1 ? '' : 's'} attention`} />}
        <Box sx={{ flex: 1 }} />
        <Tooltip title="Undo (Ctrl+Z)">
          <span>
            <IconButton aria-label="Undo" disabled={!canUndo} onClick={st.undo}>
              <UndoIcon />
            </IconButton>
          </span>
        </Tooltip>
        <Tooltip title="Redo (Ctrl+Shift+Z)">
          <span>
            <IconButton aria-label="Redo" disabled={!canRedo} onClick={st.redo}>
              <RedoIcon />
            </IconButton>
          </span>
        </Tooltip>
        <Tooltip title="Tidy up: arrange the nodes left to right">
          <IconButton
            aria-label="Auto-layout"
            onClick={() => {
              st.autoLayout();
              setTimeout(() => fitView({ duration: 200, maxZoom: 1, padding: 0.04, includeHiddenNodes: true }), 50);
            }}
          >
            <AccountTreeOutlinedIcon />
          </IconButton>
        </Tooltip>
        <Tooltip title="Zoom to fit (F)">
          <IconButton aria-label="Zoom to fit" onClick={() => fitView({ duration: 200, maxZoom: 1, includeHiddenNodes: true })}>
            <CenterFocusStrongOutlinedIcon />
          </IconButton>
        </Tooltip>
        <Tooltip title="Version history: compare, restore">
          <IconButton aria-label="Version history" onClick={() => setHistoryOpen(true)}>
            <HistoryIcon />
          </IconButton>
        </Tooltip>
        <Divider orientation="vertical" flexItem />
        {runStatus && <StatusChip status={runStatus} />}
        {runId && (
          <Button size="small" startIcon={<ReceiptLongOutlinedIcon />} onClick={() => setLogsOpen((o) => !o)} aria-pressed={logsOpen}>
            Log
          </Button>
        )}
        <Button startIcon={save.isPending ? <CircularProgress size={16} /> : <SaveOutlinedIcon />} onClick={() => void doSave()} disabled={!dirty || save.isPending}>
          Save
        </Button>
        <Button variant="contained" startIcon={<PlayArrowIcon />} onClick={() => setRunOpen(true)} disabled={logical.nodes.length === 0 || runStatus === 'running' || runStatus === 'queued'}>
          Run
        </Button>
      </Stack>
      <Box sx={{ display: 'flex', flex: 1, minHeight: 0 }}>
        <Palette entries={entries} onAdd={addFromPalette} />
        <Box sx={{ flex: 1, display: 'flex', flexDirection: 'column', minWidth: 0 }}>
          {compare && diff && <DiffBanner version={compare.version} diff={diff} onExit={() => setCompare(null)} onRestore={() => void onRestore(compare.version)} />}
          <Canvas diff={diff} showMiniMap={!previewNode && !logsOpen} logicalNodes={logical.nodes} schemas={schemas.data} problemsByNode={problemsByNode} metrics={run.data?.nodes} onAddAt={addAt} />
          {logsOpen && runId && <LogsPanel runId={runId} live={runStatus === 'running' || runStatus === 'queued'} onClose={() => setLogsOpen(false)} />}
          {previewNode && <PreviewPanel doc={queryDoc} nodeId={previewNode.id} label={previewNode.label || previewNode.id} onClose={() => setPreviewId(null)} />}
        </Box>
        {selectedId && <ConfigPanel key={selectedId} nodeId={selectedId} schemas={schemas.data} problems={problems} metrics={run.data?.nodes?.[selectedId]} runError={run.data?.error} onPreview={() => setPreviewId(selectedId)} />}
        {!selectedId && <SettingsPanel selectedCount={selected.size} problems={problems} />}
      </Box>
      <Snackbar open={!!notice} key={notice?.key} autoHideDuration={notice?.severity === 'warning' || notice?.severity === 'error' ? 6000 : 2500} onClose={(_, r) => r !== 'clickaway' && st.clearNotice()} anchorOrigin={{ vertical: 'bottom', horizontal: 'center' }}>
        {notice ? (
          <Alert severity={notice.severity} variant="filled" onClose={st.clearNotice} sx={{ maxWidth: 560 }}>
            {notice.text}
          </Alert>
        ) : undefined}
      </Snackbar>
      <HistoryDrawer open={historyOpen} pipelineId={pipelineId} onClose={() => setHistoryOpen(false)} onCompare={(v) => void onCompare(v)} onRestore={(v) => void onRestore(v)} />
      <RunDialog open={runOpen} parameters={logical.parameters ?? {}} dirty={dirty} onClose={() => setRunOpen(false)} onRun={onRun} />
      <ConfirmDialog open={blocker.state === 'blocked'} title="Leave without saving?" text="Your changes to this pipeline are not saved. They will be lost if you leave." confirm="Leave without saving" danger onClose={() => blocker.reset?.()} onConfirm={() => blocker.proceed?.()} />
    </Box>
  );
}

export default function EditorPage() {
  const { id } = useParams<{ id: string }>();
  const pipeline = usePipeline(id);
  const modules = useModules();
  const [loadedFor, setLoadedFor] = useState<string | null>(null);

  useEffect(() => {
    if (pipeline.data && modules.data && loadedFor !== id) {
      useEditor.getState().load(pipeline.data, modules.data);
      setLoadedFor(id ?? null);
    }
  }, [pipeline.data, modules.data, id, loadedFor]);

  if (pipeline.error || modules.error)
    return (
      <Alert severity="error" sx={{ m: 3 }}>
        Could not open this pipeline: {String(((pipeline.error ?? modules.error) as Error).message)}
      </Alert>
    );
  if (loadedFor !== id)
    return (
      <Box sx={{ display: 'grid', placeItems: 'center', flex: 1 }}>
        <CircularProgress aria-label="Loading the pipeline" />
      </Box>
    );
  return (
    <ReactFlowProvider>
      <Editor pipelineId={id!} />
    </ReactFlowProvider>
  );
}

