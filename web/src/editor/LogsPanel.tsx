import { useEffect, useRef, useState } from 'react';
import Box from '@mui/material/Box';
import IconButton from '@mui/material/IconButton';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import CloseIcon from '@mui/icons-material/Close';
import { backend } from '../api';
import type { LogLine } from '../api/types';

const levelColor: Record<string, string> = { error: '#d32f2f', warning: '#ed6c02', info: '#0277bd', debug: '#757575' };

/** Streams a run's log lines (polling `after`; PROVISIONAL until the WebSocket feed is wired). */
export function LogsPanel({ runId, live, onClose }: { runId: string; live: boolean; onClose(): void }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const after = useRef(0);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    after.current = 0;
    setLines([]);
  }, [runId]);
  useEffect(() => {
    let stop = false;
    const tick = async () => {
      try {
        const r = await backend().runLogs(runId, after.current);
        if (stop) return;
        if (r.items.length) {
          after.current = r.next;
          setLines((l) => [...l, ...r.items]);
        }
      } catch {
        /* the next tick retries */
      }
    };
    void tick();
    const t = live ? setInterval(tick, 700) : undefined;
    const last = live ? undefined : setTimeout(tick, 800);
    return () => {
      stop = true;
      clearInterval(t);
      clearTimeout(last);
    };
  }, [runId, live]);
  useEffect(() => {
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines.length]);
  return (
    <Box component="section" aria-label="Run log" sx={{ height: 200, borderTop: 1, borderColor: 'divider', bgcolor: '#fbfbfc', display: 'flex', flexDirection: 'column' }}>
      <Stack direction="row" alignItems="center" sx={{ px: 2, py: 0.5, borderBottom: 1, borderColor: 'divider' }}>
        <Typography variant="subtitle2" sx={{ flex: 1 }} component="h2">
          Run log {live && <Typography component="span" variant="caption" color="text.secondary">(live)</Typography>}
        </Typography>
        <IconButton aria-label="Close log" size="small" onClick={onClose}>
          <CloseIcon fontSize="small" />
        </IconButton>
      </Stack>
      <Box ref={box} role="log" aria-live="polite" sx={{ overflow: 'auto', flex: 1, fontFamily: 'monospace', fontSize: 12, px: 2, py: 1 }}>
        {lines.length === 0 && <Typography variant="caption" color="text.secondary">Waiting for log lines…</Typography>}
        {lines.map((l) => (
          <div key={l.seq}>
            <span style={{ color: '#757575' }}>{new Date(l.at).toLocaleTimeString()}</span> <b style={{ color: levelColor[l.level] ?? '#333' }}>{l.level.toUpperCase().padEnd(5)}</b> {l.node_id && <span style={{ color: '#7b3fb3' }}>[{l.node_id}] </span>}
            {l.message}
          </div>
        ))}
      </Box>
    </Box>
  );
}
