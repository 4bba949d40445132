import { useCallback, useMemo } from 'react';
import { useNavigate } from 'react-router-dom';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Divider from '@mui/material/Divider';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import TableChartOutlinedIcon from '@mui/icons-material/TableChartOutlined';
import type { Column, DocNode, NodeRun, Problem, RunError } from '../api/types';
import { useConnections } from '../api/hooks';
import { ModuleIcon } from '../components/ModuleIcon';
import { SchemaForm } from '../forms/SchemaForm';
import { useEditor } from '../store/editor';
import { useLogical } from './useEditorDerived';
import { NodeFailure } from './NodeFailure';
import { moduleKey } from '../store/graph';
import { kindColor, kindGroup } from '../theme';

/** The form of the selected node, generated from its module's JSON Schema. */
export function ConfigPanel({ nodeId, schemas, problems, onPreview, metrics, runError }: { nodeId: string; schemas?: Record<string, Column[]>; problems: Problem[]; onPreview(): void; metrics?: NodeRun; runError?: RunError | null }) {
  const navigate = useNavigate();
  // the document without positions: dragging a node does not re-render its form
  const { logical } = useLogical();
  const index = logical.nodes.findIndex((n) => n.id === nodeId);
  const node = logical.nodes[index] as DocNode | undefined;
  const edges = logical.edges;
  const entry = useEditor((s) => (node ? s.catalog.get(moduleKey(node)) : undefined));
  const updateConfig = useEditor((s) => s.updateConfig);
  const updateLabel = useEditor((s) => s.updateLabel);
  const connections = useConnections();

  const upstreamColumns = useMemo(() => {
    const cols: Column[] = [];
    const seen = new Set<string>();
    for (const e of edges)
      if (e.target === nodeId)
        for (const c of schemas?.[e.source] ?? [])
          if (!seen.has(c.name)) {
            seen.add(c.name);
            cols.push(c);
          }
    return cols;
  }, [edges, nodeId, schemas]);

  const prefix = `/nodes/${index}/config`;
  const fieldProblems = useMemo(() => {
    const m = new Map<string, string>();
    for (const p of problems) if (p.pointer.startsWith(prefix)) m.set(p.pointer.slice(prefix.length), p.message);
    return m;
  }, [problems, prefix]);
  const nodeProblems = problems.filter((p) => p.pointer === `/nodes/${index}` || p.pointer === `/nodes/${index}/module`);
  const onChange = useCallback((c: Record<string, unknown>) => updateConfig(nodeId, c), [nodeId, updateConfig]);
  const onManage = useCallback(() => navigate('/connections'), [navigate]);
  const conns = useMemo(() => connections.data ?? [], [connections.data]);

  if (!node) return null;
  const color = kindColor[node.type];
  const outCols = schemas?.[nodeId];
  return (
    <Box component="section" aria-label="Node configuration" sx={{ width: 380, borderLeft: 1, borderColor: 'divider', bgcolor: 'background.paper', display: 'flex', flexDirection: 'column', minHeight: 0 }}>
      <Box sx={{ p: 2, pb: 1.5, borderBottom: 1, borderColor: 'divider' }}>
        <Stack direction="row" spacing={1} alignItems="center">
          <ModuleIcon name={entry?.icon ?? 'extension'} color={color} size={24} />
          <Box sx={{ flex: 1, minWidth: 0 }}>
            <Typography variant="subtitle1" fontWeight={700} noWrap component="h2">
              {entry?.title ?? node.module}
            </Typography>
            <Typography variant="caption" color="text.secondary">
              {kindGroup[node.type]} · id <code>{node.id}</code>
            </Typography>
          </Box>
          {node.type !== 'loader' && (
            <Button size="small" variant="outlined" startIcon={<TableChartOutlinedIcon />} onClick={onPreview}>
              Preview
            </Button>
          )}
        </Stack>
        {entry && (
          <Typography variant="body2" color="text.secondary" sx={{ mt: 1 }}>
            {entry.description}
          </Typography>
        )}
      </Box>
      <Box sx={{ p: 2, overflow: 'auto', flex: 1 }}>
        <Stack spacing={2}>
          {metrics?.status === 'failed' && <NodeFailure message={metrics.error} error={runError?.node_id === nodeId ? runError : null} />}
          {!!metrics?.rows_rejected && (
            <Alert severity="warning">
              {metrics.rows_rejected.toLocaleString()} row(s) were set aside in the last run (see the run log for where they were written).
            </Alert>
          )}
          {nodeProblems.map((p, i) => (
            <Alert key={i} severity="warning">
              {p.message}
            </Alert>
          ))}
          <TextField label="Name on the canvas" value={node.label ?? ''} onChange={(e) => updateLabel(nodeId, e.target.value)} fullWidth />
          <Divider textAlign="left">
            <Typography variant="caption" color="text.secondary">
              Settings
            </Typography>
          </Divider>
          {entry ? (
            <SchemaForm schema={entry.config_schema} value={node.config ?? {}} onChange={onChange} problems={fieldProblems} columns={upstreamColumns} connections={conns} onManageConnections={onManage} />
          ) : (
            <Alert severity="error">Module {node.module} is not installed on the server.</Alert>
          )}
          {outCols && outCols.length > 0 && (
            <>
              <Divider textAlign="left">
                <Typography variant="caption" color="text.secondary">
                  Output columns
                </Typography>
              </Divider>
              <Box component="table" sx={{ width: '100%', fontSize: 12, borderCollapse: 'collapse' }} aria-label="Output columns">
                <tbody>
                  {outCols.map((c) => (
                    <tr key={c.name}>
                      <td>{c.name}</td>
                      <Box component="td" sx={{ textAlign: 'right', fontFamily: 'monospace', color: 'text.secondary' }}>
                        {c.type}
                      </Box>
                    </tr>
                  ))}
                </tbody>
              </Box>
            </>
          )}
        </Stack>
      </Box>
    </Box>
  );
}
