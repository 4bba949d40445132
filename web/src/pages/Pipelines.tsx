import { useMemo, useRef, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import IconButton from '@mui/material/IconButton';
import InputAdornment from '@mui/material/InputAdornment';
import Link from '@mui/material/Link';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TableSortLabel from '@mui/material/TableSortLabel';
import TextField from '@mui/material/TextField';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import AddIcon from '@mui/icons-material/Add';
import ContentCopyIcon from '@mui/icons-material/ContentCopy';
import DeleteOutlineIcon from '@mui/icons-material/DeleteOutline';
import DownloadIcon from '@mui/icons-material/Download';
import SearchIcon from '@mui/icons-material/Search';
import UploadFileIcon from '@mui/icons-material/UploadFile';
import { backend } from '../api';
import { useCreatePipeline, useDeletePipeline, usePipelines } from '../api/hooks';
import type { PipelineDocument, PipelineSummary } from '../api/types';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { StatusChip } from '../components/StatusChip';

type SortKey = 'name' | 'updated_at' | 'last_run_at';

function when(iso?: string | null) {
  if (!iso) return '—';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function download(doc: PipelineDocument) {
  const blob = new Blob([JSON.stringify(doc, null, 2)], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${doc.name.replace(/[^\w-]+/g, '_')}.json`;
  a.click();
  URL.revokeObjectURL(a.href);
}

export function PipelinesPage() {
  const navigate = useNavigate();
  const { data, isLoading, error } = usePipelines();
  const create = useCreatePipeline();
  const del = useDeletePipeline();
  const [q, setQ] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; asc: boolean }>({ key: 'updated_at', asc: false });
  const [toDelete, setToDelete] = useState<PipelineSummary | null>(null);
  const [importError, setImportError] = useState<string | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);

  const rows = useMemo(() => {
    const list = (data ?? []).filter((p) => `${p.name} ${p.description ?? ''}`.toLowerCase().includes(q.toLowerCase()));
    return list.sort((a, b) => {
      const x = String(a[sort.key] ?? '');
      const y = String(b[sort.key] ?? '');
      return (x < y ? -1 : x > y ? 1 : 0) * (sort.asc ? 1 : -1);
    });
  }, [data, q, sort]);

  const header = (key: SortKey, label: string) => (
    <TableSortLabel active={sort.key === key} direction={sort.key === key && sort.asc ? 'asc' : 'desc'} onClick={() => setSort((s) => ({ key, asc: s.key === key ? !s.asc : key === 'name' }))}>
      {label}
    </TableSortLabel>
  );

  const newPipeline = async () => {
    const doc = await create.mutateAsync({ name: 'Untitled pipeline', nodes: [], edges: [] });
    navigate(`/pipelines/${doc.id}`);
  };
  const duplicate = async (p: PipelineSummary) => {
    const doc = await backend().getPipeline(p.id);
    await create.mutateAsync({ ...doc, id: undefined, name: `${doc.name} (copy)` });
  };
  const onImport = async (file: File) => {
    setImportError(null);
    try {
      const doc = JSON.parse(await file.text()) as PipelineDocument;
      if (!doc || typeof doc.name !== 'string' || !Array.isArray(doc.nodes)) throw new Error('This file is not a pipeline document (it needs a name and nodes).');
      const created = await create.mutateAsync({ ...doc, id: undefined });
      navigate(`/pipelines/${created.id}`);
    } catch (e) {
      setImportError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <Box sx={{ p: 3, overflow: 'auto' }}>
      <Stack direction="row" alignItems="center" spacing={2} sx={{ mb: 2 }}>
        <Typography variant="h5" component="h1" sx={{ flex: 1 }}>
          Pipelines
        </Typography>
        <TextField
          placeholder="Search pipelines"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          slotProps={{ input: { startAdornment: <InputAdornment position="start"><SearchIcon fontSize="small" /></InputAdornment> }, htmlInput: { 'aria-label': 'Search pipelines' } }}
        />
        <Button startIcon={<UploadFileIcon />} onClick={() => fileRef.current?.click()}>
          Import JSON
        </Button>
        <input ref={fileRef} type="file" accept="application/json,.json" hidden onChange={(e) => e.target.files?.[0] && onImport(e.target.files[0])} />
        <Button variant="contained" startIcon={<AddIcon />} onClick={newPipeline}>
          New pipeline
        </Button>
      </Stack>
      {importError && <Alert severity="error" onClose={() => setImportError(null)} sx={{ mb: 2 }}>{importError}</Alert>}
      {error && <Alert severity="error">Could not load the pipelines: {String((error as Error).message)}</Alert>}
      <TableContainer component={Paper} variant="outlined">
        <Table size="small" aria-label="Pipelines">
          <TableHead>
            <TableRow>
              <TableCell>{header('name', 'Name')}</TableCell>
              <TableCell>Last run</TableCell>
              <TableCell>{header('last_run_at', 'Last run at')}</TableCell>
              <TableCell>Schedule / next run</TableCell>
              <TableCell>{header('updated_at', 'Updated')}</TableCell>
              <TableCell align="right">Actions</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {isLoading && (
              <TableRow>
                <TableCell colSpan={6}>Loading…</TableCell>
              </TableRow>
            )}
            {!isLoading && rows.length === 0 && (
              <TableRow>
                <TableCell colSpan={6}>
                  <Typography color="text.secondary" sx={{ py: 3, textAlign: 'center' }}>
                    {q ? 'No pipeline matches your search.' : 'No pipeline yet. Create one, or import a JSON document.'}
                  </Typography>
                </TableCell>
              </TableRow>
            )}
            {rows.map((p) => (
              <TableRow key={p.id} hover>
                <TableCell>
                  <Link component="button" onClick={() => navigate(`/pipelines/${p.id}`)} underline="hover" sx={{ fontWeight: 600, textAlign: 'left' }}>
                    {p.name}
                  </Link>
                  {p.description && (
                    <Typography variant="caption" color="text.secondary" component="div" noWrap sx={{ maxWidth: 420 }}>
                      {p.description}
                    </Typography>
                  )}
                </TableCell>
                <TableCell>
                  <StatusChip status={p.last_run_status} />
                </TableCell>
                <TableCell>{when(p.last_run_at)}</TableCell>
                <TableCell>
                  {p.schedule ? <code>{p.schedule}</code> : '—'}
                  {p.next_run_at && <Typography variant="caption" component="div">next {when(p.next_run_at)}</Typography>}
                </TableCell>
                <TableCell>{when(p.updated_at)}</TableCell>
                <TableCell align="right" sx={{ whiteSpace: 'nowrap' }}>
                  <Tooltip title="Export JSON">
                    <IconButton aria-label={`Export ${p.name}`} onClick={async () => download(await backend().getPipeline(p.id))}>
                      <DownloadIcon fontSize="small" />
                    </IconButton>
                  </Tooltip>
                  <Tooltip title="Duplicate">
                    <IconButton aria-label={`Duplicate ${p.name}`} onClick={() => duplicate(p)}>
                      <ContentCopyIcon fontSize="small" />
                    </IconButton>
                  </Tooltip>
                  <Tooltip title="Delete">
                    <IconButton aria-label={`Delete ${p.name}`} onClick={() => setToDelete(p)}>
                      <DeleteOutlineIcon fontSize="small" />
                    </IconButton>
                  </Tooltip>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </TableContainer>
      <ConfirmDialog
        open={!!toDelete}
        danger
        title="Delete this pipeline?"
        text={`“${toDelete?.name}” and its history will be deleted. This cannot be undone.`}
        confirm="Delete"
        onClose={() => setToDelete(null)}
        onConfirm={() => {
          if (toDelete) del.mutate(toDelete.id);
          setToDelete(null);
        }}
      />
    </Box>
  );
}
