import { useState, type FormEvent } from 'react';
import { useLocation, useNavigate } from 'react-router-dom';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { ApiError, backend } from '../api';
import { ModuleIcon } from '../components/ModuleIcon';

export function SignInPage() {
  const navigate = useNavigate();
  const loc = useLocation();
  const from = (loc.state as { from?: string } | null)?.from ?? '/pipelines';
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await backend().login(username, password);
      navigate(from, { replace: true });
    } catch (err) {
      if (err instanceof ApiError) {
        setError(err.status === 401 ? 'Wrong user name or password.' : err.message);
      } else {
        setError('The Ecluse server cannot be reached. Is `make run` (or `ecluse serve`) running?');
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <Box sx={{ minHeight: '100vh', display: 'grid', placeItems: 'center', bgcolor: 'background.default' }}>
      <Paper component="form" onSubmit={submit} sx={{ p: 4, width: 380 }} elevation={2}>
        <Stack spacing={2.5}>
          <Stack direction="row" spacing={1} alignItems="center">
            <ModuleIcon name="water" color="#1f5fbf" size={28} />
            <Typography variant="h5" component="h1" fontWeight={700}>
              Ecluse
            </Typography>
          </Stack>
          <Typography color="text.secondary">Sign in to build and run your data pipelines.</Typography>
          {error && <Alert severity="error">{error}</Alert>}
          <TextField label="User name" autoFocus autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
          <TextField label="Password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
          <Button type="submit" variant="contained" size="large" disabled={busy}>
            Sign in
          </Button>
        </Stack>
      </Paper>
    </Box>
  );
}
