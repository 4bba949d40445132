import { createTheme } from '@mui/material/styles';

export const theme = createTheme({
  palette: {
    mode: 'light',
    primary: { main: '#1f5fbf' },
    secondary: { main: '#00897b' },
    background: { default: '#f5f7fa', paper: '#ffffff' },
  },
  shape: { borderRadius: 8 },
  typography: {
    fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
    fontSize: 13,
    h6: { fontWeight: 600 },
    button: { textTransform: 'none', fontWeight: 600 },
  },
  components: {
    MuiButtonBase: { defaultProps: { disableRipple: false } },
    MuiTooltip: { defaultProps: { arrow: true } },
    MuiTextField: { defaultProps: { size: 'small' } },
  },
});

/** Colours of the three module kinds, used by the palette and the node cards. */
export const kindColor: Record<string, string> = {
  extractor: '#1f5fbf',
  transformer: '#7b3fb3',
  loader: '#00897b',
};
export const kindGroup: Record<string, string> = {
  extractor: 'Extract',
  transformer: 'Transform',
  loader: 'Load',
};
