import { describe, expect, it } from 'vitest';
import type { DocEdge, DocNode } from '../api/types';
import { kindColor } from '../theme';
import type { ModuleFlowNode } from './ModuleNode';
import { overviewPaths, type EdgePathCache } from './overviewPaths';

function card(id: string, type: DocNode['type'], x: number, selected = false): ModuleFlowNode {
  const node: DocNode = { id, type, module: 'm', config: {}, position: { x, y: 0 } };
  const ports = { inputs: type === 'extractor' ? [] : [{ name: 'in' }], outputs: type === 'loader' ? [] : [{ name: 'out' }] };
  return { id, type: 'module', position: { x, y: 0 }, selected, measured: { width: 190, height: 60 }, data: { node, entry: ports as unknown as ModuleFlowNode['data']['entry'], problems: [] } };
}
const edges: DocEdge[] = [
  { source: 'a', target: 'b' },
  { source: 'b', target: 'c' },
];

describe('overviewPaths', () => {
  it('draws every edge from the right side of its source to the left side of its target', () => {
    const { paths } = overviewPaths([card('a', 'extractor', 0), card('b', 'transformer', 300), card('c', 'loader', 600)], edges, new Map());
    expect(paths.live).toEqual([]);
    const d = paths.still.map(([, p]) => p).join('');
    expect(d).toMatch(/^M190,30 C.* 300,30M490,30 C.* 600,30$/);
    expect(paths.still.map(([c]) => c).sort()).toEqual([kindColor.extractor, kindColor.transformer].sort());
  });

  it('puts the edges of selected cards apart, so dragging them leaves the other paths unchanged', () => {
    const a = card('a', 'extractor', 0);
    const c = card('c', 'loader', 600);
    const first = overviewPaths([a, card('b', 'transformer', 300), c], edges, new Map());
    const moved = card('b', 'transformer', 340, true);
    const second = overviewPaths([a, moved, c], edges, first.cache);
    expect(second.paths.still).toEqual([]);
    expect(second.paths.live.map(([, p]) => p).join('')).toContain('340,30');
    const third = overviewPaths([a, card('b', 'transformer', 340), c, card('d', 'extractor', 0, true)], [...edges, { source: 'd', target: 'c' }], second.cache);
    expect(third.paths.still.map(([, p]) => p).join('')).toContain('M190,30');
    expect(third.paths.live).toHaveLength(1);
  });

  it('reuses the path of an edge whose two cards did not change, and skips edges to a card not there', () => {
    const a = card('a', 'extractor', 0);
    const b = card('b', 'transformer', 300);
    const cache: EdgePathCache = new Map([[edges[0], { source: a, target: b, d: 'M0,0' }]]);
    const { paths, cache: next } = overviewPaths([a, b], edges, cache);
    expect(paths.still).toEqual([[kindColor.extractor, 'M0,0']]);
    expect(next.size).toBe(1);
  });
});
