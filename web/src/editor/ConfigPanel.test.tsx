import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router-dom';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { demoPipeline, realCatalog } from '../test/catalog';
import { useEditor } from '../store/editor';
import { validateDocument } from '../store/validate';
import { ConfigPanel } from './ConfigPanel';

function renderPanel(nodeId: string, problems = validateDocument(useEditor.getState().doc, realCatalog)) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  qc.setQueryData(['connections'], []);
  return render(
    <QueryClientProvider client={qc}>
      <MemoryRouter>
        <ConfigPanel nodeId={nodeId} problems={problems} schemas={{ orders: [{ name: 'country', type: 'string' }, { name: 'amount', type: 'float64' }] }} onPreview={() => {}} />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe('ConfigPanel', () => {
  it('shows the problem of /nodes/<i>/config/<field> on that field', () => {
    const doc = structuredClone(demoPipeline);
    delete doc.nodes[0].config.path;
    useEditor.getState().load(doc, realCatalog);
    renderPanel('orders');
    const path = screen.getByRole('textbox', { name: 'Path' });
    expect(path).toHaveAttribute('aria-invalid', 'true');
    expect(path).toHaveAccessibleDescription('Required.');
    expect(screen.getByRole('combobox', { name: 'Encoding' })).toHaveAttribute('aria-invalid', 'false');
  });

  it('feeds column pickers with the upstream node’s columns and edits the document (undoably)', async () => {
    useEditor.getState().load(structuredClone(demoPipeline), realCatalog);
    renderPanel('clean');
    await userEvent.click(screen.getByRole('combobox', { name: 'Drop Nulls' }));
    await userEvent.click(await screen.findByRole('option', { name: /country/ }));
    expect(useEditor.getState().doc.nodes[1].config.drop_nulls).toEqual(['amount', 'country']);
    useEditor.getState().undo();
    expect(useEditor.getState().doc.nodes[1].config.drop_nulls).toEqual(['amount']);
  });

  it('renames the node on the canvas', async () => {
    useEditor.getState().load(structuredClone(demoPipeline), realCatalog);
    renderPanel('report');
    const name = screen.getByRole('textbox', { name: 'Name on the canvas' });
    await userEvent.clear(name);
    await userEvent.type(name, 'Report');
    expect(useEditor.getState().doc.nodes[3].label).toBe('Report');
  });
});
