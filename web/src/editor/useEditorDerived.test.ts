import { describe, expect, it } from 'vitest';
import type { PipelineDocument } from '../api/types';
import { logicalOf } from './useEditorDerived';

const doc: PipelineDocument = {
  name: 'p',
  nodes: [
    { id: 'a', type: 'extractor', module: 'csv', config: { path: 'x.csv' }, position: { x: 0, y: 0 } },
    { id: 'b', type: 'loader', module: 'parquet', config: {}, position: { x: 300, y: 0 } },
  ],
  edges: [{ source: 'a', target: 'b' }],
};

describe('logicalOf', () => {
  it('keeps the same object while only positions change, so a drag re-renders nothing around the canvas', () => {
    const first = logicalOf(doc);
    const moved = { ...doc, nodes: doc.nodes.map((n) => (n.id === 'a' ? { ...n, position: { x: 40, y: 10 } } : n)) };
    expect(logicalOf(moved)).toBe(first);
    expect(first.logical.nodes[0]).not.toHaveProperty('position');
  });

  it('changes on a config edit and on a pipeline setting', () => {
    const first = logicalOf(doc);
    const edited = { ...doc, nodes: doc.nodes.map((n) => (n.id === 'b' ? { ...n, config: { path: 'out' } } : n)) };
    const second = logicalOf(edited);
    expect(second).not.toBe(first);
    expect(second.version).toBeGreaterThan(first.version);
    const scheduled = logicalOf({ ...edited, schedule: '0 2 * * *' });
    expect(scheduled.version).toBeGreaterThan(second.version);
    expect(scheduled.logical.schedule).toBe('0 2 * * *');
  });
});
