import { useState } from 'react';
import Box from '@mui/material/Box';
import IconButton from '@mui/material/IconButton';
import LinearProgress from '@mui/material/LinearProgress';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TablePagination from '@mui/material/TablePagination';
import TableRow from '@mui/material/TableRow';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import Alert from '@mui/material/Alert';
import CloseIcon from '@mui/icons-material/Close';
import type { ColumnStats, PipelineDocument } from '../api/types';
import { usePreview } from '../api/hooks';

const PAGE = 50;
const isNumeric = (t: string) => /^(u?int|float|double|decimal|numeric)/i.test(t);

function fmt(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString() : v.toLocaleString(undefined, { maximumFractionDigits: 4 });
  return String(v);
}

function Histogram({ bins }: { bins: number[] }) {
  const max = Math.max(...bins, 1);
  return (
    <Box sx={{ display: 'flex', alignItems: 'flex-end', gap: '1px', height: 18, mt: 0.5 }} aria-hidden>
      {bins.map((b, i) => (
        <Box key={i} sx={{ width: 6, height: `${Math.max(1, (b / max) * 18)}px`, bgcolor: 'primary.light' }} />
      ))}
    </Box>
  );
}

function StatsLine({ s }: { s: ColumnStats }) {
  return (
    <Box sx={{ fontWeight: 400, color: 'text.secondary', fontSize: 11, lineHeight: 1.4 }}>
      <div>
        nulls {(s.null_share * 100).toFixed(0)}% · {s.distinct.toLocaleString()} distinct
      </div>
      {s.min !== undefined && s.min !== null && (
        <Tooltip title={`min ${fmt(s.min)} · max ${fmt(s.max)}`}>
          <Box sx={{ whiteSpace: 'nowrap', overflow: 'hidden', textOverflow: 'ellipsis', maxWidth: 180 }}>
            {fmt(s.min)} … {fmt(s.max)}
          </Box>
        </Tooltip>
      )}
      {s.histogram && <Histogram bins={s.histogram} />}
    </Box>
  );
}

/** A page of the selected node's output, computed by the server on a sample. */
export function PreviewPanel({ doc, nodeId, label, onClose }: { doc: PipelineDocument; nodeId: string; label: string; onClose(): void }) {
  const [page, setPage] = useState(0);
  const { data, isFetching, error } = usePreview(doc, nodeId, page * PAGE, PAGE);
  return (
    <Box component="section" aria-label="Preview" sx={{ height: 300, borderTop: 1, borderColor: 'divider', bgcolor: 'background.paper', display: 'flex', flexDirection: 'column', minHeight: 0 }}>
      <Stack direction="row" alignItems="center" sx={{ px: 2, py: 0.5, borderBottom: 1, borderColor: 'divider' }}>
        <Typography variant="subtitle2" sx={{ flex: 1 }} component="h2">
          Preview of “{label}” <Typography component="span" variant="caption" color="text.secondary">(sample computed on the server)</Typography>
        </Typography>
        {data && (
          <TablePagination component="div" count={data.total} page={page} rowsPerPage={PAGE} rowsPerPageOptions={[PAGE]} onPageChange={(_, p) => setPage(p)} sx={{ '& .MuiToolbar-root': { minHeight: 36 } }} />
        )}
        <IconButton aria-label="Close preview" onClick={onClose} size="small">
          <CloseIcon fontSize="small" />
        </IconButton>
      </Stack>
      {isFetching && <LinearProgress sx={{ height: 2 }} />}
      {error && <Alert severity="error">{String((error as Error).message)}</Alert>}
      <Box sx={{ overflow: 'auto', flex: 1 }}>
        {data && (
          <Table size="small" stickyHeader aria-label={`Preview of ${label}`}>
            <TableHead>
              <TableRow>
                <TableCell sx={{ width: 48, color: 'text.secondary' }}>#</TableCell>
                {data.columns.map((c, j) => (
                  <TableCell key={c.name} sx={{ verticalAlign: 'top', minWidth: 120 }} align={isNumeric(c.type) ? 'right' : 'left'}>
                    <Box sx={{ fontWeight: 700 }}>{c.name}</Box>
                    <Box sx={{ fontFamily: 'monospace', fontSize: 11, color: 'secondary.main' }}>{c.type}</Box>
                    {data.stats[j] && <StatsLine s={data.stats[j]} />}
                  </TableCell>
                ))}
              </TableRow>
            </TableHead>
            <TableBody>
              {data.rows.map((r, i) => (
                <TableRow key={i} hover>
                  <TableCell sx={{ color: 'text.secondary' }}>{data.offset + i + 1}</TableCell>
                  {r.map((v, j) => (
                    <TableCell key={j} align={isNumeric(data.columns[j]?.type ?? '') ? 'right' : 'left'} sx={{ fontVariantNumeric: 'tabular-nums', whiteSpace: 'nowrap' }}>
                      {v === null || v === undefined ? (
                        <Box component="span" sx={{ color: 'text.disabled', fontStyle: 'italic' }}>
                          null
                        </Box>
                      ) : (
                        fmt(v)
                      )}
                    </TableCell>
                  ))}
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </Box>
    </Box>
  );
}
