import { fireEvent, render, screen } from '@testing-library/react';
import { ReactFlow, ReactFlowProvider } from '@xyflow/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { useEditor } from '../store/editor';
import type { ModuleFlowNode } from './ModuleNode';
import { OverviewCards } from './OverviewCards';

class NoResize {
  observe() {}
  unobserve() {}
  disconnect() {}
}
globalThis.ResizeObserver ??= NoResize as unknown as typeof ResizeObserver;

const card = (id: string, extra: Partial<ModuleFlowNode> = {}): ModuleFlowNode => ({
  id,
  type: 'module',
  position: { x: 0, y: 0 },
  ariaLabel: `${id} (CSV file)`,
  data: { node: { id, type: 'extractor', module: 'csv', config: {} }, problems: [] },
  ...extra,
});

function show(nodes: ModuleFlowNode[]) {
  render(
    <ReactFlowProvider>
      <ReactFlow nodes={[]} edges={[]}>
        <OverviewCards nodes={nodes} />
      </ReactFlow>
    </ReactFlowProvider>,
  );
}

describe('OverviewCards', () => {
  beforeEach(() => useEditor.getState().select([], []));

  it('lets the keyboard reach a drawn card and select it with Enter or Space', () => {
    show([card('a'), card('b'), card('ghost', { selectable: false })]);
    const a = screen.getByRole('button', { name: 'a (CSV file)' });
    expect(a).toHaveAttribute('tabindex', '0');
    expect(screen.queryByRole('button', { name: 'ghost (CSV file)' })).toBeNull();
    fireEvent.keyDown(a, { key: 'Enter' });
    expect([...useEditor.getState().selected]).toEqual(['a']);
    fireEvent.keyDown(screen.getByRole('button', { name: 'b (CSV file)' }), { key: ' ', shiftKey: true });
    expect([...useEditor.getState().selected].sort()).toEqual(['a', 'b']);
    fireEvent.keyDown(a, { key: 'x' });
    expect(useEditor.getState().selected.size).toBe(2);
  });
});
