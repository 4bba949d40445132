import Chip from '@mui/material/Chip';
import type { RunStatus } from '../api/types';

const colors: Record<RunStatus, 'default' | 'info' | 'success' | 'error' | 'warning'> = {
  queued: 'default',
  running: 'info',
  succeeded: 'success',
  failed: 'error',
  cancelled: 'warning',
  orphaned: 'error',
};

export function StatusChip({ status }: { status?: RunStatus | null }) {
  if (!status) return <Chip size="small" variant="outlined" label="never run" />;
  return <Chip size="small" color={colors[status]} label={status} />;
}
