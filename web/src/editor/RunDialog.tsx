import { useState } from 'react';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import type { PipelineParameter } from '../api/types';

export function RunDialog({ open, parameters, dirty, onClose, onRun }: { open: boolean; parameters: Record<string, PipelineParameter>; dirty: boolean; onClose(): void; onRun(values: Record<string, unknown>): void }) {
  const [values, setValues] = useState<Record<string, string>>({});
  const entries = Object.entries(parameters);
  return (
    <Dialog open={open} onClose={onClose} fullWidth maxWidth="xs">
      <DialogTitle>Run the pipeline</DialogTitle>
      <DialogContent>
        <Stack spacing={2} sx={{ pt: 1 }}>
          {dirty && <DialogContentText>Your changes will be saved first.</DialogContentText>}
          {entries.length === 0 && <DialogContentText>This pipeline has no parameters.</DialogContentText>}
          {entries.map(([name, p]) => (
            <TextField key={name} label={name} helperText={`${p.type}${p.description ? ` — ${p.description}` : ''}`} placeholder={p.default != null ? String(p.default) : undefined} value={values[name] ?? ''} onChange={(e) => setValues({ ...values, [name]: e.target.value })} />
          ))}
        </Stack>
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose}>Cancel</Button>
        <Button variant="contained" autoFocus onClick={() => onRun(Object.fromEntries(Object.entries(values).filter(([, v]) => v !== '')))}>
          Run now
        </Button>
      </DialogActions>
    </Dialog>
  );
}
