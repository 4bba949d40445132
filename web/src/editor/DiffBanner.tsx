import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import type { DocDiff } from '../store/diff';

const short = (v: unknown) => {
  if (v === undefined) return '—';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}…` : s;
};

export function DiffBanner({ version, diff, onExit, onRestore }: { version: number; diff: DocDiff; onExit(): void; onRestore(): void }) {
  const count = (k: string) => [...diff.nodes.values()].filter((x) => x === k).length;
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const parts = [
    count('added') && `${plural(count('added'), 'node')} added`,
    count('removed') && `${plural(count('removed'), 'node')} removed`,
    count('changed') && `${plural(count('changed'), 'node')} changed`,
    diff.edgesAdded && `${plural(diff.edgesAdded, 'connection')} added`,
    diff.edgesRemoved && `${plural(diff.edgesRemoved, 'connection')} removed`,
  ].filter(Boolean);
  const summary = parts.join(', ') + '.';
  return (
    <Alert
      severity="info"
      sx={{ borderRadius: 0, alignItems: 'flex-start', '& .MuiAlert-message': { flex: 1 } }}
      action={
        <>
          <Button size="small" onClick={onRestore}>
            Restore version {version}
          </Button>
          <Button size="small" variant="contained" onClick={onExit}>
            Done comparing
          </Button>
        </>
      }
    >
      <b>Changes since version {version}</b>: {diff.nodes.size === 0 && diff.edgesAdded + diff.edgesRemoved === 0 ? 'none.' : summary}
      {diff.changes.size > 0 && (
        <Box component="ul" sx={{ m: 0, mt: 0.5, pl: 2, maxHeight: 96, overflow: 'auto' }}>
          {[...diff.changes].map(([id, list]) => (
            <li key={id}>
              <b>{id}</b>: {list.map((c) => `${c.key} ${short(c.before)} → ${short(c.after)}`).join('; ')}
            </li>
          ))}
        </Box>
      )}
    </Alert>
  );
}
