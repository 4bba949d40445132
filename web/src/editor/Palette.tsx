import { memo, useMemo, useState } from 'react';
import Box from '@mui/material/Box';
import InputAdornment from '@mui/material/InputAdornment';
import List from '@mui/material/List';
import ListItemButton from '@mui/material/ListItemButton';
import ListSubheader from '@mui/material/ListSubheader';
import TextField from '@mui/material/TextField';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import SearchIcon from '@mui/icons-material/Search';
import type { CatalogEntry, ModuleKind } from '../api/types';
import { ModuleIcon } from '../components/ModuleIcon';
import { kindColor, kindGroup } from '../theme';
import { moduleKey } from '../store/graph';

export const DND_TYPE = 'application/x-ecluse-module';
const ORDER: ModuleKind[] = ['extractor', 'transformer', 'loader'];

/** Modules grouped Extract / Transform / Load. Drag one onto the canvas, or press Enter to add it. */
export const Palette = memo(function Palette({ entries, onAdd }: { entries: CatalogEntry[]; onAdd(entry: CatalogEntry): void }) {
  const [q, setQ] = useState('');
  const groups = useMemo(() => {
    const needle = q.trim().toLowerCase();
    const hit = (e: CatalogEntry) => !needle || `${e.title} ${e.module} ${e.description} ${e.category} ${kindGroup[e.type]}`.toLowerCase().includes(needle);
    return ORDER.map((kind) => ({ kind, items: entries.filter((e) => e.type === kind && hit(e)).sort((a, b) => a.title.localeCompare(b.title)) })).filter((g) => g.items.length);
  }, [entries, q]);

  return (
    <Box component="aside" aria-label="Modules" sx={{ width: 248, borderRight: 1, borderColor: 'divider', display: 'flex', flexDirection: 'column', bgcolor: 'background.paper', minHeight: 0 }}>
      <Box sx={{ p: 1.5, pb: 1 }}>
        <TextField
          fullWidth
          placeholder="Search modules"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          slotProps={{ input: { startAdornment: <InputAdornment position="start"><SearchIcon fontSize="small" /></InputAdornment> }, htmlInput: { 'aria-label': 'Search modules' } }}
        />
        <Typography variant="caption" color="text.secondary" sx={{ display: 'block', mt: 0.75 }}>
          Drag a module onto the canvas (or select it and press Enter).
        </Typography>
      </Box>
      <List dense sx={{ overflow: 'auto', flex: 1, pt: 0 }}>
        {groups.length === 0 && (
          <Typography variant="body2" color="text.secondary" sx={{ px: 2, py: 1 }}>
            No module matches “{q}”.
          </Typography>
        )}
        {groups.map((g) => (
          <li key={g.kind}>
            <ul style={{ padding: 0 }}>
              <ListSubheader sx={{ lineHeight: '32px', fontWeight: 700, color: kindColor[g.kind], bgcolor: 'background.paper' }}>{kindGroup[g.kind]}</ListSubheader>
              {g.items.map((e) => (
                <Tooltip key={moduleKey(e)} title={e.description} placement="right" enterDelay={600}>
                  <ListItemButton
                    draggable
                    data-testid={`palette-${e.type}-${e.module}`}
                    onDragStart={(ev) => {
                      ev.dataTransfer.setData(DND_TYPE, moduleKey(e));
                      ev.dataTransfer.setData('text/plain', moduleKey(e));
                      ev.dataTransfer.effectAllowed = 'copy';
                    }}
                    onClick={() => onAdd(e)}
                    sx={{ alignItems: 'flex-start', gap: 1.25, py: 0.75, cursor: 'grab' }}
                    aria-label={`Add ${e.title} (${kindGroup[e.type]})`}
                  >
                    <Box sx={{ mt: 0.25 }}>
                      <ModuleIcon name={e.icon} color={kindColor[e.type]} size={20} />
                    </Box>
                    <Box sx={{ minWidth: 0 }}>
                      <Typography variant="body2" fontWeight={600}>
                        {e.title}
                      </Typography>
                      <Typography variant="caption" color="text.secondary" component="div" sx={{ display: '-webkit-box', WebkitLineClamp: 2, WebkitBoxOrient: 'vertical', overflow: 'hidden', lineHeight: 1.3 }}>
                        {e.description}
                      </Typography>
                    </Box>
                  </ListItemButton>
                </Tooltip>
              ))}
            </ul>
          </li>
        ))}
      </List>
    </Box>
  );
});
