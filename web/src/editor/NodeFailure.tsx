import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import type { RunError } from '../api/types';

/** rows of the failure sample shown; the run keeps a few more */
const SHOWN_ROWS = 5;

const cell = (v: unknown) =>
  v === null || v === undefined ? (
    <Typography component="span" variant="caption" color="text.disabled" fontStyle="italic">
      null
    </Typography>
  ) : typeof v === 'object' ? (
    JSON.stringify(v)
  ) : (
    String(v)
  );

/** Where a node failed in the last run: the message, the library's full cause, and rows it failed on. */
export function NodeFailure({ message, error }: { message?: string | null; error?: RunError | null }) {
  const rows = (error?.sample_rows ?? []).slice(0, SHOWN_ROWS);
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return (
    <Alert severity="error" role="alert" sx={{ '& .MuiAlert-message': { minWidth: 0, flex: 1 } }}>
      <b>This step failed in the last run.</b> {error?.message ?? message ?? 'See the run log for the cause.'}
      {error?.field && (
        <Typography variant="body2" sx={{ mt: 0.5 }}>
          Setting concerned: <code>{error.field}</code>
        </Typography>
      )}
      {error?.cause && (
        <Box component="details" sx={{ mt: 1 }}>
          <summary>Cause</summary>
          <Box component="pre" sx={{ m: 0, mt: 0.5, whiteSpace: 'pre-wrap', wordBreak: 'break-word', fontSize: 12, maxHeight: 160, overflow: 'auto' }}>
            {error.cause}
          </Box>
        </Box>
      )}
      {rows.length > 0 && (
        <Box sx={{ mt: 1, overflowX: 'auto' }}>
          <Typography variant="body2">Rows it failed on (first {rows.length}):</Typography>
          <Table size="small" aria-label="Rows the step failed on">
            <TableHead>
              <TableRow>
                {columns.map((c) => (
                  <TableCell key={c}>{c}</TableCell>
                ))}
              </TableRow>
            </TableHead>
            <TableBody>
              {rows.map((r, i) => (
                <TableRow key={i}>
                  {columns.map((c) => (
                    <TableCell key={c}>{cell(r[c])}</TableCell>
                  ))}
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </Box>
      )}
    </Alert>
  );
}
