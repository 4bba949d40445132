import { useCallback, useMemo } from 'react';
import Box from '@mui/material/Box';
import Divider from '@mui/material/Divider';
import Typography from '@mui/material/Typography';
import type { PipelineDocument, Problem } from '../api/types';
import type { JsonSchema } from '../forms/jsonSchema';
import settingsSchema from '../client/pipeline-settings.schema.json';
import { SchemaForm } from '../forms/SchemaForm';
import { useEditor } from '../store/editor';
import { useLogical } from './useEditorDerived';

/** Generated from the pipeline document's schema in openapi.json (`npm run gen:api`). */
const schema = settingsSchema as unknown as JsonSchema;
const KEYS = Object.keys(schema.properties ?? {}) as (keyof PipelineDocument)[];

/** Shown when no node is selected: the pipeline's own settings (schedule, parameters...) and the shortcuts. */
export function SettingsPanel({ selectedCount, problems }: { selectedCount: number; problems: Problem[] }) {
  const doc = useLogical().logical;
  const updateMeta = useEditor((s) => s.updateMeta);
  const value = useMemo(() => {
    const v: Record<string, unknown> = {};
    for (const k of KEYS) if (doc[k] !== undefined && doc[k] !== null) v[k] = doc[k];
    return v;
  }, [doc]);
  const fieldProblems = useMemo(() => {
    const m = new Map<string, string>();
    for (const p of problems) if (!p.pointer.startsWith('/nodes') && !p.pointer.startsWith('/edges')) m.set(p.pointer, p.message);
    return m;
  }, [problems]);
  const onChange = useCallback(
    (next: Record<string, unknown>) => {
      const patch: Record<string, unknown> = {};
      for (const k of KEYS) patch[k] = next[k];
      updateMeta(patch as Partial<PipelineDocument>);
    },
    [updateMeta],
  );
  return (
    <Box component="aside" aria-label="Pipeline settings" sx={{ width: 340, borderLeft: 1, borderColor: 'divider', bgcolor: 'background.paper', display: 'flex', flexDirection: 'column', minHeight: 0 }}>
      <Box sx={{ p: 2, pb: 1, color: 'text.secondary' }}>
        <Typography variant="subtitle2" color="text.primary" gutterBottom>
          {selectedCount > 1 ? `${selectedCount} nodes selected` : 'Select a node to configure it'}
        </Typography>
        <Typography variant="body2" component="div">
          <ul style={{ paddingLeft: 18, margin: 0, lineHeight: 1.6 }}>
            <li>Connect: drag from a node’s right dot to another’s left dot</li>
            <li>Select several: Shift+drag or Ctrl+click</li>
            <li>Delete: Del · Copy/paste: Ctrl+C / Ctrl+V</li>
            <li>Undo / redo: Ctrl+Z / Ctrl+Shift+Z · Save: Ctrl+S</li>
          </ul>
        </Typography>
      </Box>
      <Divider textAlign="left">
        <Typography variant="caption" color="text.secondary">
          Pipeline settings
        </Typography>
      </Divider>
      <Box sx={{ p: 2, overflow: 'auto', flex: 1 }}>
        <SchemaForm schema={schema} value={value} onChange={onChange} problems={fieldProblems} />
      </Box>
    </Box>
  );
}
