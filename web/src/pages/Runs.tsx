import { useState } from 'react';
import { useNavigate } from 'react-router-dom';
import Box from '@mui/material/Box';
import Link from '@mui/material/Link';
import MenuItem from '@mui/material/MenuItem';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { usePipelines, useRuns } from '../api/hooks';
import { rowsMoved, type Run } from '../api/types';
import { StatusChip } from '../components/StatusChip';
import { RunChart } from '../components/RunChart';

export function durationOf(r: Pick<Run, 'started_at' | 'finished_at'>): string {
  if (!r.started_at) return '—';
  const ms = (r.finished_at ? Date.parse(r.finished_at) : Date.now()) - Date.parse(r.started_at);
  return ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`;
}

/** Monitoring: every run, filtered by status and pipeline. */
export function RunsPage() {
  const navigate = useNavigate();
  const [status, setStatus] = useState('');
  const [pipelineId, setPipelineId] = useState('');
  const pipelines = usePipelines();
  const runs = useRuns({ status: status || undefined, pipelineId: pipelineId || undefined });
  const rows = runs.data ?? [];
  const names = new Map((pipelines.data ?? []).map((p) => [p.id, p.name]));
  return (
    <Box sx={{ p: 3, overflow: 'auto' }}>
      <Stack direction="row" spacing={2} alignItems="center" sx={{ mb: 2 }}>
        <Typography variant="h5" component="h1" sx={{ flex: 1 }}>
          Runs
        </Typography>
        <TextField select label="Pipeline" value={pipelineId} onChange={(e) => setPipelineId(e.target.value)} sx={{ minWidth: 220 }}>
          <MenuItem value="">All pipelines</MenuItem>
          {(pipelines.data ?? []).map((p) => (
            <MenuItem key={p.id} value={p.id}>
              {p.name}
            </MenuItem>
          ))}
        </TextField>
        <TextField select label="Status" value={status} onChange={(e) => setStatus(e.target.value)} sx={{ minWidth: 160 }}>
          <MenuItem value="">Any status</MenuItem>
          {['queued', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => (
            <MenuItem key={s} value={s}>
              {s}
            </MenuItem>
          ))}
        </TextField>
      </Stack>
      {pipelineId ? (
        <RunChart runs={rows} />
      ) : (
        <Typography variant="body2" color="text.secondary" sx={{ mb: 1 }}>
          Pick a pipeline to see the history of its durations and row volumes.
        </Typography>
      )}
      <TableContainer component={Paper} variant="outlined">
        <Table size="small" aria-label="Runs">
          <TableHead>
            <TableRow>
              <TableCell>Pipeline</TableCell>
              <TableCell>Status</TableCell>
              <TableCell>Trigger</TableCell>
              <TableCell>Started</TableCell>
              <TableCell>Duration</TableCell>
              <TableCell>Rows (largest step)</TableCell>
              <TableCell>Error</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {rows.length === 0 && (
              <TableRow>
                <TableCell colSpan={7}>
                  <Typography color="text.secondary" sx={{ py: 3, textAlign: 'center' }}>
                    {runs.isLoading ? 'Loading…' : 'No run yet. Open a pipeline and press Run.'}
                  </Typography>
                </TableCell>
              </TableRow>
            )}
            {rows.map((r) => {
              const rowsOut = Object.values(r.nodes).reduce((m, n) => Math.max(m, rowsMoved(n)), 0);
              return (
                <TableRow key={r.id} hover>
                  <TableCell>
                    <Link component="button" onClick={() => navigate(`/pipelines/${r.pipeline_id}`)}>
                      {names.get(r.pipeline_id) ?? r.pipeline_id}
                    </Link>
                  </TableCell>
                  <TableCell>
                    <StatusChip status={r.status} />
                  </TableCell>
                  <TableCell>{r.trigger}</TableCell>
                  <TableCell>{r.started_at ? new Date(r.started_at).toLocaleString() : '—'}</TableCell>
                  <TableCell>{durationOf(r)}</TableCell>
                  <TableCell>{rowsOut ? rowsOut.toLocaleString() : '—'}</TableCell>
                  <TableCell sx={{ color: 'error.main' }}>{r.error?.message ?? ''}</TableCell>
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      </TableContainer>
    </Box>
  );
}
