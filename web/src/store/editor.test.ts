import { beforeEach, describe, expect, it } from 'vitest';
import { demoPipeline, entry, testCatalog } from '../test/catalog';
import { isDirty, layout, useEditor } from './editor';

const st = () => useEditor.getState();

beforeEach(() => {
  st().load(structuredClone(demoPipeline), testCatalog);
});

describe('editor store', () => {
  it('adds nodes with fresh ids and undoes/redoes them', () => {
    const id1 = st().addNode(entry('transformer', 'cleaner'), { x: 10, y: 20 });
    const id2 = st().addNode(entry('transformer', 'cleaner'), { x: 10, y: 20 });
    expect([id1, id2]).toEqual(['cleaner', 'cleaner_2']);
    expect(st().doc.nodes).toHaveLength(6);
    expect(isDirty(st())).toBe(true);
    st().undo();
    st().undo();
    expect(st().doc.nodes).toHaveLength(4);
    expect(isDirty(st())).toBe(false);
    st().redo();
    expect(st().doc.nodes.map((n) => n.id)).toContain('cleaner');
    expect(st().future).toHaveLength(1);
  });

  it('records one undo step per drag gesture', () => {
    st().moveNodes([{ id: 'orders', x: 5, y: 5 }], 'move');
    st().moveNodes([{ id: 'orders', x: 50, y: 60 }], 'move');
    st().moveNodes([{ id: 'orders', x: 100, y: 120 }], 'move');
    st().moveNodes([], 'end');
    expect(st().doc.nodes[0].position).toEqual({ x: 100, y: 120 });
    st().undo();
    expect(st().doc.nodes[0].position).toEqual({ x: 0, y: 100 });
  });

  it('refuses a bad connection with a visible notice and keeps the document', () => {
    const before = st().doc;
    expect(st().connect({ source: 'report', target: 'orders' })).toBe(false);
    expect(st().doc).toBe(before);
    expect(st().notice?.severity).toBe('warning');
    expect(st().notice?.text).toMatch(/destination/);
  });

  it('merges keystrokes in one field into one undo step', () => {
    st().updateConfig('orders', { ...st().doc.nodes[0].config, path: 'a' });
    st().updateConfig('orders', { ...st().doc.nodes[0].config, path: 'ab' });
    st().updateConfig('orders', { ...st().doc.nodes[0].config, path: 'abc' });
    expect(st().doc.nodes[0].config.path).toBe('abc');
    st().undo();
    expect(st().doc.nodes[0].config.path).toBe('examples/demo/orders.csv');
  });

  it('deletes the selection with its edges, undoably', () => {
    st().select(['clean']);
    st().deleteSelection();
    expect(st().doc.nodes.map((n) => n.id)).toEqual(['orders', 'monthly', 'report']);
    expect(st().doc.edges).toEqual([{ source: 'monthly', target: 'report' }]);
    st().undo();
    expect(st().doc.edges).toHaveLength(3);
  });

  it('copies and pastes a sub-graph with new ids, its inner edges and an offset', () => {
    st().select(['clean', 'monthly']);
    st().copy();
    st().paste();
    const ids = st().doc.nodes.map((n) => n.id);
    expect(ids).toEqual(['orders', 'clean', 'monthly', 'report', 'clean_2', 'monthly_2']);
    expect(st().doc.edges).toContainEqual(expect.objectContaining({ source: 'clean_2', target: 'monthly_2' }));
    expect(st().doc.edges).toHaveLength(4);
    const pasted = st().doc.nodes.find((n) => n.id === 'clean_2')!;
    expect(pasted.position).toEqual({ x: 320, y: 140 });
    expect(pasted.config).toEqual(st().doc.nodes[1].config);
    expect(pasted.config).not.toBe(st().doc.nodes[1].config);
    expect([...st().selected]).toEqual(['clean_2', 'monthly_2']);
    st().paste();
    expect(st().doc.nodes.find((n) => n.id === 'clean_3')?.position).toEqual({ x: 360, y: 180 });
    st().undo();
    st().undo();
    expect(st().doc.nodes).toHaveLength(4);
  });

  it('lays out left to right', () => {
    const doc = layout(st().doc);
    const xs = doc.nodes.map((n) => n.position!.x);
    expect([...xs].sort((a, b) => a - b)).toEqual(xs);
  });
});
