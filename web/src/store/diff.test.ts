import { describe, expect, it } from 'vitest';
import { demoPipeline } from '../test/catalog';
import { diffDocs } from './diff';

describe('version diff', () => {
  it('finds added, removed and changed nodes with their config changes', () => {
    const after = structuredClone(demoPipeline);
    after.nodes = after.nodes.filter((n) => n.id !== 'report');
    after.edges = after.edges.filter((e) => e.target !== 'report');
    after.nodes[0].config = { ...after.nodes[0].config, delimiter: ',' };
    after.nodes.push({ id: 'out_csv', type: 'loader', module: 'csv', config: { path: 'x.csv' } });
    after.edges.push({ source: 'monthly', target: 'out_csv' });
    const d = diffDocs(demoPipeline, after);
    expect(Object.fromEntries(d.nodes)).toEqual({ orders: 'changed', out_csv: 'added', report: 'removed' });
    expect(d.changes.get('orders')).toEqual([{ key: 'delimiter', before: ';', after: ',' }]);
    expect(d.removed.map((n) => n.id)).toEqual(['report']);
    expect([d.edgesAdded, d.edgesRemoved]).toEqual([1, 1]);
  });

  it('ignores moves', () => {
    const after = structuredClone(demoPipeline);
    after.nodes[1].position = { x: 999, y: 999 };
    expect(diffDocs(demoPipeline, after).nodes.size).toBe(0);
  });
});
