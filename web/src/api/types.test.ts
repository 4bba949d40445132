import { describe, expect, it } from 'vitest';
import { rowsLabel, rowsMoved, rowsOut, type NodeRun } from './types';

const node = (extra: Partial<NodeRun>): NodeRun => ({ node_id: 'n', module: 'cleaner', status: 'succeeded', extra: {}, ...extra });

describe('row counts on cards and edges', () => {
  it('puts on the outgoing edge only rows that left the node, never its input count', () => {
    expect(rowsOut(node({ rows_in: 245, rows_out: 58 }))).toBe(58);
    expect(rowsOut(node({ rows_in: 245 }))).toBeNull(); // fused with its neighbours: unknown, not 245
    expect(rowsLabel(node({ rows_in: 245 }))).toBe(' · 245 rows in');
    expect(rowsLabel(node({}))).toBe('');
  });

  it('counts rows streamed so far while the node runs, and only then', () => {
    expect(rowsOut(node({ status: 'running', rows_so_far: 1200 }))).toBe(1200);
    expect(rowsLabel(node({ status: 'running', rows_so_far: 1200 }))).toBe(' · 1,200 rows so far');
    expect(rowsOut(node({ status: 'cancelled', rows_so_far: 1200 }))).toBeNull();
  });

  it('measures a run by the most rows any node moved', () => {
    expect(rowsMoved(node({ rows_in: 245 }))).toBe(245);
    expect(rowsMoved(node({ rows_in: 245, rows_out: 300 }))).toBe(300);
  });
});
