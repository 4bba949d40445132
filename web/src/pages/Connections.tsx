import { useState } from 'react';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import IconButton from '@mui/material/IconButton';
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
import { backend } from '../api';
import { useConnections, useDeleteConnection, useSaveConnection } from '../api/hooks';
import type { Connection } from '../api/provisional';
import { ConfirmDialog } from '../components/ConfirmDialog';

interface Draft {
  id?: string;
  name: string;
  type: string;
  host: string;
  user: string;
  password: string;
  secretsSet: string[];
}

/**
 * PROVISIONAL: connection types and their fields will come from the server's catalog of
 * connection schemas (rendered with SchemaForm); until then: name, type, host, user, secret.
 */
export function ConnectionsPage() {
  const { data } = useConnections();
  const save = useSaveConnection();
  const del = useDeleteConnection();
  const [draft, setDraft] = useState<Draft | null>(null);
  const [toDelete, setToDelete] = useState<Connection | null>(null);
  const [test, setTest] = useState<{ ok: boolean; message: string } | null>(null);

  const edit = (c?: Connection) => {
    setTest(null);
    setDraft(c ? { id: c.id, name: c.name, type: c.type, host: String(c.params.host ?? ''), user: String(c.params.user ?? ''), password: '', secretsSet: c.secrets_set ?? [] } : { name: '', type: 'postgres', host: '', user: '', password: '', secretsSet: [] });
  };
  const submit = async () => {
    if (!draft) return;
    const saved = await save.mutateAsync({ id: draft.id, name: draft.name, type: draft.type, params: { host: draft.host, user: draft.user }, secrets: draft.password ? { password: draft.password } : undefined });
    setDraft((d) => (d ? { ...d, id: saved.id, password: '', secretsSet: saved.secrets_set ?? d.secretsSet } : d));
    return saved;
  };

  return (
    <Box sx={{ p: 3, overflow: 'auto' }}>
      <Stack direction="row" alignItems="center" sx={{ mb: 2 }}>
        <Typography variant="h5" component="h1" sx={{ flex: 1 }}>
          Connections
        </Typography>
        <Button variant="contained" startIcon={<AddIcon />} onClick={() => edit()}>
          New connection
        </Button>
      </Stack>
      <Paper variant="outlined">
        <Table size="small" aria-label="Connections">
          <TableHead>
            <TableRow>
              <TableCell>Name</TableCell>
              <TableCell>Type</TableCell>
              <TableCell>Host</TableCell>
              <TableCell>Secret</TableCell>
              <TableCell align="right">Actions</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {(data ?? []).length === 0 && (
              <TableRow>
                <TableCell colSpan={5}>
                  <Typography color="text.secondary" sx={{ py: 3, textAlign: 'center' }}>
                    No connection yet. Connections hold the address and credentials of a database or service; nodes refer to them by name.
                  </Typography>
                </TableCell>
              </TableRow>
            )}
            {(data ?? []).map((c) => (
              <TableRow key={c.id} hover>
                <TableCell>
                  <Button size="small" onClick={() => edit(c)}>
                    {c.name}
                  </Button>
                </TableCell>
                <TableCell>{c.type}</TableCell>
                <TableCell>{String(c.params.host ?? '')}</TableCell>
                <TableCell>{c.secrets_set?.length ? 'set (hidden)' : '—'}</TableCell>
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
      <Dialog open={!!draft} onClose={() => setDraft(null)} fullWidth maxWidth="sm">
        <DialogTitle>{draft?.id ? 'Edit connection' : 'New connection'}</DialogTitle>
        <DialogContent>
          {draft && (
            <Stack spacing={2} sx={{ pt: 1 }}>
              <TextField label="Name" required value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} helperText="Nodes refer to the connection by this name." />
              <TextField label="Type" value={draft.type} onChange={(e) => setDraft({ ...draft, type: e.target.value })} />
              <TextField label="Host" value={draft.host} onChange={(e) => setDraft({ ...draft, host: e.target.value })} />
              <TextField label="User" value={draft.user} onChange={(e) => setDraft({ ...draft, user: e.target.value })} />
              <TextField
                label="Password"
                type="password"
                autoComplete="new-password"
                value={draft.password}
                onChange={(e) => setDraft({ ...draft, password: e.target.value })}
                helperText={draft.secretsSet.includes('password') ? 'A password is stored; it is never shown. Type a new one to replace it.' : 'Stored encrypted; never shown again.'}
              />
              {test && <Alert severity={test.ok ? 'success' : 'error'}>{test.message}</Alert>}
            </Stack>
          )}
        </DialogContent>
        <DialogActions>
          <Button
            onClick={async () => {
              const saved = await submit();
              if (saved) setTest(await backend().testConnection(saved.id));
            }}
            disabled={!draft?.name}
          >
            Save and test
          </Button>
          <Box sx={{ flex: 1 }} />
          <Button onClick={() => setDraft(null)}>Close</Button>
          <Button
            variant="contained"
            disabled={!draft?.name}
            onClick={async () => {
              await submit();
              setDraft(null);
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
