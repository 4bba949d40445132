import { useQuery } from '@tanstack/react-query';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Drawer from '@mui/material/Drawer';
import List from '@mui/material/List';
import ListItem from '@mui/material/ListItem';
import ListItemText from '@mui/material/ListItemText';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { backend } from '../api';

/** Every save is a version: compare one with the canvas, or restore it. */
export function HistoryDrawer({ open, pipelineId, onClose, onCompare, onRestore }: { open: boolean; pipelineId: string; onClose(): void; onCompare(version: number): void; onRestore(version: number): void }) {
  const versions = useQuery({ queryKey: ['versions', pipelineId], queryFn: () => backend().listVersions(pipelineId), enabled: open });
  return (
    <Drawer anchor="right" open={open} onClose={onClose}>
      <Box sx={{ width: 360, p: 2 }} role="region" aria-label="Version history">
        <Typography variant="h6" component="h2" gutterBottom>
          Version history
        </Typography>
        <Typography variant="body2" color="text.secondary" sx={{ mb: 1 }}>
          Each save makes a version. Compare one with what is on the canvas, or restore it (restoring makes a new version).
        </Typography>
        {versions.isLoading && <Typography>Loading…</Typography>}
        {versions.error && <Typography color="error">{String((versions.error as Error).message)}</Typography>}
        <List dense>
          {(versions.data ?? []).map((v, i) => (
            <ListItem key={v.version} divider sx={{ display: 'block' }}>
              <ListItemText primary={`Version ${v.version}${i === 0 ? ' (latest)' : ''}`} secondary={`${new Date(v.created_at).toLocaleString()}${v.created_by ? ` · ${v.created_by}` : ''}${v.message ? ` · ${v.message}` : ''}`} />
              <Stack direction="row" spacing={1}>
                <Button size="small" variant="outlined" onClick={() => onCompare(v.version)}>
                  Compare with canvas
                </Button>
                {i > 0 && (
                  <Button size="small" onClick={() => onRestore(v.version)}>
                    Restore
                  </Button>
                )}
              </Stack>
            </ListItem>
          ))}
        </List>
      </Box>
    </Drawer>
  );
}
