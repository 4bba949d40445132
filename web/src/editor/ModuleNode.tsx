import { createContext, memo, useContext } from 'react';
import { Handle, Position, type Node, type NodeProps } from '@xyflow/react';
import { rowsLabel, type CatalogEntry, type Column, type DocNode, type NodeRun } from '../api/types';
import { kindColor } from '../theme';
import './node.css';

export interface ModuleNodeData extends Record<string, unknown> {
  node: DocNode;
  entry?: CatalogEntry;
  columns?: Column[];
  problems: string[];
  metrics?: NodeRun;
  /** set while comparing with another version */
  diff?: 'added' | 'removed' | 'changed';
}
export type ModuleFlowNode = Node<ModuleNodeData, 'module'>;

const MAX_COLUMNS = 5;
const statusColor: Record<string, string> = { queued: '#757575', running: '#0277bd', succeeded: '#2e7d32', failed: '#d32f2f', cancelled: '#e65100' };
const portTop = (i: number, n: number) => `${((i + 1) / (n + 1)) * 100}%`;
/** Below this zoom, cards drop their column list: unreadable there, and costly to paint by the thousand. */
export const DETAIL_ZOOM = 0.45;
/** Below this one, a card is a coloured box with its name: text and icons are what costs most to raster. */
export const OVERVIEW_ZOOM = 0.2;
/** 0 overview, 1 compact, 2 full: the level of detail of the cards at a zoom. */
export const detailLevel = (s: { transform: [number, number, number] }): DetailLevel => (s.transform[2] < OVERVIEW_ZOOM ? 0 : s.transform[2] < DETAIL_ZOOM ? 1 : 2);
export type DetailLevel = 0 | 1 | 2;
/**
 * Read once by the canvas and handed down: a per-card subscription to React Flow's store would run
 * 1,000 selectors on every frame of a drag.
 */
export const DetailContext = createContext<DetailLevel>(2);

/**
 * Where an edge ends on an overview card: React Flow measures handles by their `source`/`target` class and
 * `data-handleid`/`data-handlepos`, so edges attach here exactly as on a full card. Unlike `<Handle>`, it
 * subscribes to nothing and paints nothing: on a 1,000-node graph the 1,500 real handles cost more per drag
 * frame than everything else. (Connecting from a 1-pixel dot at that zoom is not a thing people do.)
 */
function Anchor({ type, id, top }: { type: 'source' | 'target'; id: string; top: string }) {
  return <div className={`ec-anchor ${type}`} data-handleid={id} data-handlepos={type === 'source' ? Position.Right : Position.Left} style={{ top }} />;
}

function ModuleNodeView({ data, selected }: NodeProps<ModuleFlowNode>) {
  const { node, entry, columns, problems, metrics, diff } = data;
  const color = kindColor[node.type] ?? '#555';
  const inputs = entry?.inputs ?? [];
  const outputs = entry?.outputs ?? [];
  const status = metrics?.status;
  const level = useContext(DetailContext);
  const compact = level < 2;
  const cls = ['ec-node', selected && 'selected', diff ? `d-${diff}` : status ? `s-${status}` : problems.length ? 'invalid' : ''].filter(Boolean).join(' ');
  if (level === 0)
    return (
      <div className={`${cls} ec-overview`} data-testid={`node-${node.id}`} data-status={status ?? ''} style={{ background: diff || status ? undefined : `${color}22` }}>
        {inputs.map((p, i) => (
          <Anchor key={p.name} type="target" id={p.name} top={portTop(i, inputs.length)} />
        ))}
        <div className="ec-overview-label">{node.label || node.id}</div>
        {problems.length > 0 && !diff && <span className="ec-badge" data-testid="error-badge">{problems.length}</span>}
        {outputs.map((p, i) => (
          <Anchor key={p.name} type="source" id={p.name} top={portTop(i, outputs.length)} />
        ))}
      </div>
    );
  return (
    <div className={cls} data-testid={`node-${node.id}`} data-status={status ?? ''}>
      {inputs.map((p, i) => (
        <Handle key={p.name} type="target" position={Position.Left} id={p.name} style={{ top: portTop(i, inputs.length), width: 12, height: 12, background: '#fff', border: `2px solid ${color}` }} aria-label={`input ${p.name}`}>
          {inputs.length > 1 && <span className="ec-port-label" style={{ left: 12 }}>{p.name}</span>}
        </Handle>
      ))}
      <div className="ec-node-head" style={{ background: `${color}12` }}>
        <span className="ec-icon" aria-hidden style={{ fontSize: 20, width: 20, height: 20, color }}>
          {entry?.icon || 'extension'}
        </span>
        <div className="ec-node-titles">
          <div className="ec-node-title" title={node.label || node.id}>
            {node.label || node.id}
          </div>
          <div className="ec-node-sub">
            {entry?.title ?? node.module} · {node.type}
          </div>
        </div>
        {diff && <span className="ec-diff-tag" style={{ background: diff === 'added' ? '#2e7d32' : diff === 'removed' ? '#d32f2f' : '#ed6c02' }}>{diff}</span>}
        {!diff && problems.length > 0 && (
          <span className="ec-badge" role="status" title={problems.join('\n')} aria-label={`${problems.length} problem${problems.length > 1 ? 's' : ''}: ${problems.join('; ')}`} data-testid="error-badge">
            {problems.length}
          </span>
        )}
      </div>
      {!compact && <div className="ec-node-body">
        {metrics && (
          <div className="ec-status" style={{ color: statusColor[metrics.status] }}>
            {metrics.status}
            {rowsLabel(metrics)}
            {!!metrics.rows_rejected && ` · ${metrics.rows_rejected.toLocaleString()} rejected`}
            {metrics.duration_s != null && ` · ${Math.round(metrics.duration_s * 1000)} ms`}
          </div>
        )}
        {metrics?.error && <div className="ec-status" style={{ color: statusColor.failed }}>{metrics.error}</div>}
        {columns && columns.length > 0 ? (
          <ul className="ec-cols" aria-label="Output columns">
            {columns.slice(0, MAX_COLUMNS).map((c) => (
              <li key={c.name}>
                <span className="n">{c.name}</span>
                <span className="t">{c.type}</span>
              </li>
            ))}
            {columns.length > MAX_COLUMNS && <li className="ec-muted">+{columns.length - MAX_COLUMNS} more</li>}
          </ul>
        ) : (
          !metrics && <div className="ec-muted">{node.type === 'loader' ? 'Destination' : problems.length ? 'Needs configuration' : 'No columns yet'}</div>
        )}
      </div>}
      {outputs.map((p, i) => (
        <Handle key={p.name} type="source" position={Position.Right} id={p.name} style={{ top: portTop(i, outputs.length), width: 12, height: 12, background: color, border: '2px solid #fff' }} aria-label={`output ${p.name}`}>
          {outputs.length > 1 && <span className="ec-port-label" style={{ right: 12 }}>{p.name}</span>}
        </Handle>
      ))}
    </div>
  );
}

export const ModuleNode = memo(ModuleNodeView);
