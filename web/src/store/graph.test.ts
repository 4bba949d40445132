import { describe, expect, it } from 'vitest';
import type { PipelineDocument } from '../api/types';
import { demoPipeline, testCatalog } from '../test/catalog';
import { checkConnection, indexCatalog, topoOrder, wouldCreateCycle } from './graph';

const catalog = indexCatalog(testCatalog);
const node = (id: string, type: string, module: string) => ({ id, type: type as 'extractor', module, config: {} });

describe('connection rules', () => {
  it('accepts a plain source → transform edge without handles', () => {
    const doc: PipelineDocument = { name: 'x', nodes: [node('a', 'extractor', 'csv'), node('b', 'transformer', 'cleaner')], edges: [] };
    const r = checkConnection(doc, catalog, { source: 'a', target: 'b', sourceHandle: 'out', targetHandle: 'in' });
    expect(r).toEqual({ ok: true, edge: { source: 'a', target: 'b' } });
  });

  it('refuses a cycle with a reason', () => {
    const r = checkConnection(demoPipeline, catalog, { source: 'monthly', target: 'clean' });
    expect(r.ok).toBe(false);
    // clean already has its one input, so arity is reported before the loop; check the loop on a free port
    const doc: PipelineDocument = {
      name: 'x',
      nodes: [node('a', 'extractor', 'csv'), node('v', 'transformer', 'validator'), node('j', 'transformer', 'join')],
      edges: [
        { source: 'a', target: 'j', target_handle: 'left' },
        { source: 'j', target: 'v' },
      ],
    };
    const loop = checkConnection(doc, catalog, { source: 'v', target: 'j', sourceHandle: 'rejected', targetHandle: 'right' });
    expect(loop).toEqual({ ok: false, reason: expect.stringMatching(/loop/) });
  });

  it('refuses a second input on a port whose max is 1', () => {
    const r = checkConnection(demoPipeline, catalog, { source: 'orders', target: 'monthly' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/at most 1 incoming connection/);
  });

  it('keeps named handles for multi-port modules', () => {
    const doc: PipelineDocument = {
      name: 'x',
      nodes: [node('a', 'extractor', 'csv'), node('b', 'extractor', 'parquet'), node('j', 'transformer', 'join')],
      edges: [{ source: 'a', target: 'j', target_handle: 'left' }],
    };
    const right = checkConnection(doc, catalog, { source: 'b', target: 'j', sourceHandle: 'out', targetHandle: 'right' });
    expect(right).toEqual({ ok: true, edge: { source: 'b', target: 'j', target_handle: 'right' } });
    const left = checkConnection(doc, catalog, { source: 'b', target: 'j', sourceHandle: 'out', targetHandle: 'left' });
    expect(left.ok).toBe(false);
    if (!left.ok) expect(left.reason).toMatch(/Input “left” of “j” accepts at most 1/);
  });

  it('refuses edges into a source, out of a destination, to itself, or to an unknown port', () => {
    const ok = (c: Parameters<typeof checkConnection>[2]) => checkConnection(demoPipeline, catalog, c).ok;
    expect(ok({ source: 'clean', target: 'orders' })).toBe(false);
    expect(ok({ source: 'report', target: 'clean' })).toBe(false);
    const doc: PipelineDocument = { name: 'x', nodes: [node('c', 'transformer', 'cleaner'), node('d', 'transformer', 'cleaner')], edges: [] };
    expect(checkConnection(doc, catalog, { source: 'c', target: 'c' }).ok).toBe(false);
    expect(checkConnection(doc, catalog, { source: 'c', target: 'd', targetHandle: 'nope' }).ok).toBe(false);
  });

  it('detects cycles and orders nodes', () => {
    expect(wouldCreateCycle(demoPipeline.edges, 'report', 'orders')).toBe(true);
    expect(wouldCreateCycle(demoPipeline.edges, 'orders', 'report')).toBe(false);
    expect(topoOrder(demoPipeline)).toEqual(['orders', 'clean', 'monthly', 'report']);
  });
});
