import 'material-icons/iconfont/outlined.css';
import Box from '@mui/material/Box';

/** Catalog icons are Material Icons names (`cleaning_services`): rendered with the bundled 150 kB font, no per-module code. */
export function ModuleIcon({ name, color, size = 20 }: { name: string; color?: string; size?: number }) {
  return (
    <Box component="span" className="material-icons-outlined" aria-hidden sx={{ fontSize: size, color, lineHeight: 1, width: size, height: size, overflow: 'hidden', flexShrink: 0, userSelect: 'none' }}>
      {name || 'extension'}
    </Box>
  );
}
