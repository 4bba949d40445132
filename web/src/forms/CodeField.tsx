import { lazy, Suspense } from 'react';
import Box from '@mui/material/Box';
import FormHelperText from '@mui/material/FormHelperText';
import FormLabel from '@mui/material/FormLabel';
import TextField from '@mui/material/TextField';

const Editor = lazy(() => import('./CodeEditor'));

/** SQL and expressions get CodeMirror 6 (loaded on demand); a plain text area meanwhile. */
export function CodeField({ label, value, onChange, helper, error, required, language }: { label: string; value: string; onChange(v: string): void; helper?: string; error?: boolean; required?: boolean; language: string }) {
  return (
    <Box>
      <FormLabel required={required} error={error} sx={{ typography: 'body2', mb: 0.5, display: 'block' }}>
        {label}
      </FormLabel>
      <Box sx={{ border: 1, borderColor: error ? 'error.main' : 'divider', borderRadius: 1, overflow: 'hidden' }}>
        <Suspense fallback={<TextField multiline fullWidth minRows={3} value={value} onChange={(e) => onChange(e.target.value)} slotProps={{ htmlInput: { 'aria-label': label } }} />}>
          <Editor value={value} onChange={onChange} label={label} singleLine={language === 'expression'} />
        </Suspense>
      </Box>
      {helper && <FormHelperText error={error}>{helper}</FormHelperText>}
    </Box>
  );
}
