import { memo } from 'react';
import { Handle, Position, type Node, type NodeProps } from '@xyflow/react';
import Box from '@mui/material/Box';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import type { CatalogEntry, Column, DocNode, NodeMetrics } from '../api/provisional';
import { ModuleIcon } from '../components/ModuleIcon';
import { kindColor } from '../theme';
import { NODE_WIDTH } from '../store/editor';

export interface ModuleNodeData extends Record<string, unknown> {
  node: DocNode;
  entry?: CatalogEntry;
  columns?: Column[];
  problems: string[];
  metrics?: NodeMetrics;
}
export type ModuleFlowNode = Node<ModuleNodeData, 'module'>;

const MAX_COLUMNS = 5;

const statusColor: Record<string, string> = {
  queued: '#9e9e9e',
  running: '#0288d1',
  succeeded: '#2e7d32',
  failed: '#d32f2f',
  cancelled: '#ed6c02',
};

function portTop(i: number, n: number) {
  return `${((i + 1) / (n + 1)) * 100}%`;
}

function ModuleNodeView({ data, selected }: NodeProps<ModuleFlowNode>) {
  const { node, entry, columns, problems, metrics } = data;
  const color = kindColor[node.type] ?? '#555';
  const inputs = entry?.inputs ?? [];
  const outputs = entry?.outputs ?? [];
  const status = metrics?.status;
  const border = status ? statusColor[status] : problems.length ? '#d32f2f' : selected ? '#1f5fbf' : '#cfd6e0';
  return (
    <Box
      sx={{
        width: NODE_WIDTH,
        bgcolor: 'background.paper',
        border: 2,
        borderColor: border,
        borderRadius: 2,
        boxShadow: selected ? '0 0 0 3px rgba(31,95,191,.25)' : '0 1px 3px rgba(0,0,0,.12)',
        position: 'relative',
        fontSize: 12,
      }}
      data-testid={`node-${node.id}`}
      data-status={status ?? ''}
    >
      {inputs.map((p, i) => (
        <Handle key={p.name} type="target" position={Position.Left} id={p.name} style={{ top: portTop(i, inputs.length), width: 12, height: 12, background: '#fff', border: `2px solid ${color}` }} aria-label={`input ${p.name}`}>
          {inputs.length > 1 && (
            <Box component="span" sx={{ position: 'absolute', left: 12, top: -7, fontSize: 10, color: 'text.secondary', pointerEvents: 'none' }}>
              {p.name}
            </Box>
          )}
        </Handle>
      ))}
      <Box sx={{ display: 'flex', alignItems: 'center', gap: 1, px: 1.25, py: 0.75, borderBottom: 1, borderColor: 'divider', bgcolor: `${color}12`, borderTopLeftRadius: 6, borderTopRightRadius: 6 }}>
        <ModuleIcon name={entry?.icon ?? 'extension'} color={color} size={20} />
        <Box sx={{ minWidth: 0, flex: 1 }}>
          <Typography variant="body2" fontWeight={600} noWrap title={node.label ?? node.id}>
            {node.label || node.id}
          </Typography>
          <Typography variant="caption" color="text.secondary" noWrap component="div" sx={{ lineHeight: 1.2 }}>
            {entry?.title ?? node.module} · {node.type}
          </Typography>
        </Box>
        {problems.length > 0 && (
          <Tooltip title={problems.join(' • ')}>
            <Box role="status" aria-label={`${problems.length} problem${problems.length > 1 ? 's' : ''}`} sx={{ bgcolor: 'error.main', color: '#fff', borderRadius: 10, minWidth: 20, height: 20, px: 0.5, display: 'grid', placeItems: 'center', fontSize: 11, fontWeight: 700 }} data-testid="error-badge">
              {problems.length}
            </Box>
          </Tooltip>
        )}
      </Box>
      <Box sx={{ px: 1.25, py: 0.75, minHeight: 30 }}>
        {metrics && (
          <Typography variant="caption" component="div" sx={{ color: statusColor[metrics.status], fontWeight: 600 }}>
            {metrics.status}
            {metrics.rows != null && ` · ${metrics.rows.toLocaleString()} rows`}
            {metrics.duration_ms != null && ` · ${metrics.duration_ms} ms`}
          </Typography>
        )}
        {columns && columns.length > 0 ? (
          <Box component="ul" sx={{ listStyle: 'none', m: 0, p: 0 }} aria-label="Output columns">
            {columns.slice(0, MAX_COLUMNS).map((c) => (
              <Box component="li" key={c.name} sx={{ display: 'flex', justifyContent: 'space-between', gap: 1, lineHeight: 1.5 }}>
                <Box component="span" sx={{ overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>
                  {c.name}
                </Box>
                <Box component="span" sx={{ color: 'text.secondary', fontFamily: 'monospace', fontSize: 11 }}>
                  {c.type}
                </Box>
              </Box>
            ))}
            {columns.length > MAX_COLUMNS && (
              <Typography variant="caption" color="text.secondary">
                +{columns.length - MAX_COLUMNS} more
              </Typography>
            )}
          </Box>
        ) : (
          !metrics && (
            <Typography variant="caption" color="text.secondary">
              {node.type === 'loader' ? 'Destination' : problems.length ? 'Needs configuration' : 'No columns yet'}
            </Typography>
          )
        )}
      </Box>
      {outputs.map((p, i) => (
        <Handle key={p.name} type="source" position={Position.Right} id={p.name} style={{ top: portTop(i, outputs.length), width: 12, height: 12, background: color, border: '2px solid #fff' }} aria-label={`output ${p.name}`}>
          {outputs.length > 1 && (
            <Box component="span" sx={{ position: 'absolute', right: 12, top: -7, fontSize: 10, color: 'text.secondary', pointerEvents: 'none' }}>
              {p.name}
            </Box>
          )}
        </Handle>
      ))}
    </Box>
  );
}

export const ModuleNode = memo(ModuleNodeView);
