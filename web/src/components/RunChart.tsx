import Box from '@mui/material/Box';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { rowsMoved, type Run } from '../api/types';

const W = 520;
const H = 90;

function Bars({ values, color, label, format, statuses }: { values: number[]; color: string; label: string; format(v: number): string; statuses: string[] }) {
  const max = Math.max(...values, 1);
  const bw = Math.max(4, Math.min(24, W / Math.max(values.length, 1) - 4));
  return (
    <Box>
      <Typography variant="caption" color="text.secondary">
        {label} (max {format(max)})
      </Typography>
      <svg width={W} height={H} role="img" aria-label={`${label} of the last ${values.length} runs`}>
        <line x1={0} y1={H - 0.5} x2={W} y2={H - 0.5} stroke="#ccc" />
        {values.map((v, i) => {
          const h = Math.max(1, (v / max) * (H - 6));
          return (
            <rect key={i} x={i * (bw + 4)} y={H - h} width={bw} height={h} fill={statuses[i] === 'failed' ? '#d32f2f' : color} rx={2}>
              <title>{format(v)}</title>
            </rect>
          );
        })}
      </svg>
    </Box>
  );
}

/** Durations and rows written of a pipeline's recent runs, oldest first (failed runs in red). */
export function RunChart({ runs }: { runs: Run[] }) {
  const recent = [...runs].filter((r) => r.started_at).sort((a, b) => Date.parse(a.started_at!) - Date.parse(b.started_at!)).slice(-30);
  if (recent.length === 0) return null;
  const durations = recent.map((r) => (r.finished_at ? Date.parse(r.finished_at) - Date.parse(r.started_at!) : 0) / 1000);
  const rows = recent.map((r) => Object.values(r.nodes).reduce((m, n) => Math.max(m, rowsMoved(n)), 0));
  const statuses = recent.map((r) => r.status);
  return (
    <Stack direction="row" spacing={4} sx={{ mb: 2, p: 2, bgcolor: 'background.paper', border: 1, borderColor: 'divider', borderRadius: 1 }}>
      <Bars values={durations} color="#1f5fbf" label="Duration" format={(v) => `${v.toFixed(1)} s`} statuses={statuses} />
      <Bars values={rows} color="#00897b" label="Rows" format={(v) => v.toLocaleString()} statuses={statuses} />
    </Stack>
  );
}
