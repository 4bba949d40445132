import { describe, expect, it } from 'vitest';
import type { DocNode } from '../api/types';
import { kindColor } from '../theme';
import { cardLook, cardsInside, draggedTo } from './overviewCard';

const node: DocNode = { id: 'n1', type: 'extractor', module: 'csv', label: 'Orders from the shop', config: {} };

describe('cardLook', () => {
  it('draws a card in its kind colour, with a shortened name and a badge for its problems', () => {
    const look = cardLook({ node, problems: ['a', 'b'] });
    expect(look).toMatchObject({ fill: `${kindColor.extractor}22`, stroke: '#d32f2f', badge: 2, dashed: false });
    expect(look.label).toBe('Orders from …');
    expect(cardLook({ node: { ...node, label: 'short' }, problems: [] }).label).toBe('short');
  });

  it('shows a run status or a version difference instead, as the full cards do', () => {
    expect(cardLook({ node, problems: [], metrics: { status: 'succeeded' } as never })).toMatchObject({ fill: '#fff', stroke: '#2e7d32' });
    expect(cardLook({ node, problems: ['x'], diff: 'removed' })).toMatchObject({ stroke: '#d32f2f', dashed: true, opacity: 0.55, badge: 0 });
  });
});

describe('cardsInside', () => {
  const nodes = [
    { id: 'a', position: { x: 0, y: 0 } },
    { id: 'b', position: { x: 300, y: 0 } },
    { id: 'ghost', position: { x: 10, y: 10 }, selectable: false },
  ];
  it('selects the cards a box drawn on screen holds entirely, at the current zoom and pan', () => {
    // zoom 0.1, panned by (50, 20): card a covers screen x 50..69, y 20..26
    expect(cardsInside(nodes, { x: 45, y: 15, width: 30, height: 20 }, [50, 20, 0.1])).toEqual(['a']);
    expect(cardsInside(nodes, { x: 45, y: 15, width: 60, height: 20 }, [50, 20, 0.1])).toEqual(['a', 'b']);
    expect(cardsInside(nodes, { x: 55, y: 15, width: 60, height: 20 }, [50, 20, 0.1])).toEqual(['b']);
  });
});

describe('draggedTo', () => {
  it('moves every dragged card by the pointer travel, snapped to the grid', () => {
    const origins = new Map([['a', { x: 0, y: 0 }], ['b', { x: 300, y: 150 }]]);
    expect(draggedTo(origins, 24, -16)).toEqual([{ id: 'a', x: 20, y: -20 }, { id: 'b', x: 320, y: 130 }]);
  });
});
