import { useMemo, useState } from 'react';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import CircularProgress from '@mui/material/CircularProgress';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import IconButton from '@mui/material/IconButton';
import MenuItem from '@mui/material/MenuItem';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import AddIcon from '@mui/icons-material/Add';
import DeleteOutlineIcon from '@mui/icons-material/DeleteOutline';
import { ApiError, backend } from '../api';
import { useConnections, useConnectionTypes, useDeleteConnection, useSaveConnection } from '../api/hooks';
import type { Connection, ConnectionTest } from '../api/types';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { SchemaForm } from '../forms/SchemaForm';
import { keepingStored, maskedPaths, noteStored, withoutMasked } from './connectionForm';

interface Draft {
  id?: string;
  name: string;
  type: string;
  description: string;
  fields: Record<string, unknown>;
  /** secrets the server holds for this connection (never sent to the browser) */
  stored: string[];
}

const ADDRESS_KEYS = ['host', 'base_url', 'endpoint_url', 'uri', 'url', 'account_name'];
const addressOf = (c: Connection) => String(ADDRESS_KEYS.map((k) => c.fields[k]).find((v) => typeof v === 'string' && v) ?? '—');

function TestResult({ result }: { result: ConnectionTest | 'testing' | null }) {
  if (!result) return null;
  if (result === 'testing')
    return (
      <Alert severity="info" icon={<CircularProgress size={18} />}>
        Testing the connection…
      </Alert>
    );
  return (
    <Alert severity={result.ok ? 'success' : 'error'} role="status">
      <b>{result.ok ? 'Connection works.' : 'Connection failed.'}</b> {result.message} ({Math.round(result.duration_ms)} ms)
    </Alert>
  );
}

/** Connections: the form of each type comes from the server's JSON Schema; secrets are write-only. */
export function ConnectionsPage() {
  const { data } = useConnections();
  const types = useConnectionTypes();
  const save = useSaveConnection();
  const del = useDeleteConnection();
  const [draft, setDraft] = useState<Draft | null>(null);
  const [open, setOpen] = useState(false);
  const [toDelete, setToDelete] = useState<Connection | null>(null);
  const [test, setTest] = useState<ConnectionTest | 'testing' | null>(null);
  const [error, setError] = useState<{ message: string; problems: Map<string, string> } | null>(null);

  const type = types.data?.find((t) => t.type === draft?.type);
  const schema = useMemo(() => (type ? noteStored(type.json_schema, draft?.stored ?? []) : null), [type, draft?.stored]);
  const titles = useMemo(() => new Map((types.data ?? []).map((t) => [t.type, t.title])), [types.data]);

  const edit = (c?: Connection) => {
    setTest(null);
    setError(null);
    setOpen(true);
    setDraft(c ? { id: c.id, name: c.name, type: c.type, description: c.description ?? '', fields: withoutMasked(c.fields), stored: maskedPaths(c.fields) } : { name: '', type: types.data?.[0]?.type ?? 'postgres', description: '', fields: {}, stored: [] });
  };
  const submit = async (): Promise<Connection | null> => {
    if (!draft) return null;
    setError(null);
    try {
      const saved = await save.mutateAsync({ id: draft.id, name: draft.name, type: draft.type, description: draft.description || null, fields: keepingStored(draft.fields, draft.stored) });
      setDraft((d) => (d ? { ...d, id: saved.id, fields: withoutMasked(saved.fields), stored: maskedPaths(saved.fields) } : d));
      return saved;
    } catch (e) {
      const problems = new Map(e instanceof ApiError ? e.problems.map((p) => [p.pointer, p.message] as const) : []);
      setError({ message: (e as Error).message, problems });
      return null;
    }
  };
  const runTest = async (id: string) => {
    setTest('testing');
    try {
      setTest(await backend().testConnection(id));
    } catch (e) {
      setTest({ ok: false, message: (e as Error).message, duration_ms: 0 });
    }
  };

  return (
    <Box sx={{ p: 3, overflow: 'auto' }}>
      <Stack direction="row" alignItems="center" sx={{ mb: 2 }}>
        <Box sx={{ flex: 1 }}>
          <Typography variant="h5" component="h1">
            Connections
          </Typography>
          <Typography variant="body2" color="text.secondary">
            The address and credentials of a database or service. Nodes refer to a connection by its name; passwords and keys are stored encrypted and never shown again.
          </Typography>
        </Box>
        <Button variant="contained" startIcon={<AddIcon />} onClick={() => edit()} disabled={!types.data}>
          New connection
        </Button>
      </Stack>
      <Paper variant="outlined">
        <Table size="small" aria-label="Connections">
          <TableHead>
            <TableRow>
              <TableCell>Name</TableCell>
              <TableCell>Type</TableCell>
              <TableCell>Address</TableCell>
              <TableCell>Stored secrets</TableCell>
              <TableCell align="right">Actions</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {(data ?? []).length === 0 && (
              <TableRow>
                <TableCell colSpan={5}>
                  <Typography color="text.secondary" sx={{ py: 3, textAlign: 'center' }}>
                    No connection yet. Press “New connection” to add a database, an API or a bucket.
                  </Typography>
                </TableCell>
              </TableRow>
            )}
            {(data ?? []).map((c) => (
              <TableRow key={c.id} hover>
                <TableCell>
                  <Button size="small" onClick={() => edit(c)} aria-label={`Edit ${c.name}`}>
                    {c.name}
                  </Button>
                </TableCell>
                <TableCell>{titles.get(c.type) ?? c.type}</TableCell>
                <TableCell sx={{ fontFamily: 'monospace', fontSize: 12, maxWidth: 360, overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>{addressOf(c)}</TableCell>
                <TableCell>{maskedPaths(c.fields).join(', ') || '—'}</TableCell>
                <TableCell align="right">
                  <IconButton aria-label={`Delete ${c.name}`} onClick={() => setToDelete(c)}>
                    <DeleteOutlineIcon fontSize="small" />
                  </IconButton>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </Paper>
      {/* the draft outlives the closing animation, so the dialog does not blank out while it fades */}
      <Dialog open={open} onClose={() => setOpen(false)} TransitionProps={{ onExited: () => setDraft(null) }} fullWidth maxWidth="sm" aria-labelledby="connection-dialog-title">
        <DialogTitle id="connection-dialog-title">{draft?.id ? `Connection “${draft.name}”` : 'New connection'}</DialogTitle>
        <DialogContent dividers>
          {draft && (
            <Stack spacing={2}>
              <TextField label="Name" required value={draft.name} disabled={!!draft.id} onChange={(e) => setDraft({ ...draft, name: e.target.value })} helperText={error?.problems.get('/name') ?? (draft.id ? 'Nodes refer to the connection by this name; it cannot change.' : 'Nodes refer to the connection by this name: letters, digits, - _ .')} error={error?.problems.has('/name')} size="small" />
              <TextField select label="Type" value={draft.type} onChange={(e) => setDraft({ ...draft, type: e.target.value, fields: {}, stored: [] })} size="small" error={error?.problems.has('/type')} helperText={error?.problems.get('/type') ?? 'The fields below depend on the type.'}>
                {(types.data ?? []).map((t) => (
                  <MenuItem key={t.type} value={t.type}>
                    {t.title}
                  </MenuItem>
                ))}
              </TextField>
              {schema && <SchemaForm key={draft.type} schema={schema} value={draft.fields} onChange={(fields) => setDraft((d) => (d ? { ...d, fields } : d))} problems={error?.problems} />}
              <TextField label="Description" value={draft.description} onChange={(e) => setDraft({ ...draft, description: e.target.value })} size="small" />
              {error && <Alert severity="error">Not saved: {error.message}</Alert>}
              <TestResult result={test} />
            </Stack>
          )}
        </DialogContent>
        <DialogActions>
          <Button
            onClick={async () => {
              const saved = await submit();
              if (saved) await runTest(saved.id);
            }}
            disabled={!draft?.name || save.isPending || test === 'testing'}
          >
            Save and test
          </Button>
          <Box sx={{ flex: 1 }} />
          <Button onClick={() => setOpen(false)}>Close</Button>
          <Button
            variant="contained"
            disabled={!draft?.name || save.isPending}
            onClick={async () => {
              if (await submit()) setOpen(false);
            }}
          >
            Save
          </Button>
        </DialogActions>
      </Dialog>
      <ConfirmDialog open={!!toDelete} danger title="Delete this connection?" text={`Nodes using “${toDelete?.name}” will fail until they use another connection.`} confirm="Delete" onClose={() => setToDelete(null)} onConfirm={() => { if (toDelete) del.mutate(toDelete.id); setToDelete(null); }} />
    </Box>
  );
}
