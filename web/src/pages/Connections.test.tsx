import { afterEach, describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { ApiError } from '../api';
import { httpBackend } from '../api/http';
import type { Connection, ConnectionType } from '../api/types';
import connectionTypes from '../test/fixtures/connection-types.json';
import { ConnectionsPage } from './Connections';
import { MASK, keepingStored, maskedPaths, withoutMasked } from './connectionForm';

const stored: Connection = {
  id: 'c1',
  name: 'warehouse',
  type: 'postgres',
  fields: { host: 'db.example', user: 'etl', password: MASK },
  description: null,
  created_at: '2026-11-24T00:00:00Z',
  updated_at: '2026-11-24T00:00:00Z',
};

function renderPage(connections: Connection[]) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  qc.setQueryData(['connections'], connections);
  qc.setQueryData(['connection-types'], connectionTypes as unknown as ConnectionType[]); // JSON Schema documents: wider than their JSON literal types
  return render(
    <QueryClientProvider client={qc}>
      <ConnectionsPage />
    </QueryClientProvider>,
  );
}

afterEach(() => vi.restoreAllMocks());

describe('connection form helpers', () => {
  it('never puts a masked secret in the form, and sends the mask back for a secret left empty', () => {
    const fields = { url: 'x', auth: { type: 'bearer', token: MASK } };
    expect(maskedPaths(fields)).toEqual(['auth.token']);
    expect(withoutMasked(fields)).toEqual({ url: 'x', auth: { type: 'bearer' } });
    expect(keepingStored({ url: 'x', auth: { type: 'bearer' } }, ['auth.token'])).toEqual(fields);
    expect(keepingStored({ auth: { token: 'new' } }, ['auth.token'])).toEqual({ auth: { token: 'new' } });
  });
});

describe('ConnectionsPage', () => {
  it('shows the fields of the chosen type, secrets as password fields', async () => {
    renderPage([]);
    await userEvent.click(screen.getByRole('button', { name: 'New connection' }));
    const dialog = screen.getByRole('dialog');
    expect(within(dialog).getByLabelText('Password')).toHaveAttribute('type', 'password');
    expect(within(dialog).getByLabelText('Host')).toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole('combobox', { name: 'Type' }));
    await userEvent.click(screen.getByRole('option', { name: 'HTTP API' }));
    expect(within(dialog).getByLabelText('Base Url')).toBeInTheDocument();
    expect(within(dialog).queryByLabelText('Host')).not.toBeInTheDocument();
  });

  it('keeps a stored password hidden, saves it unchanged, and shows the test result', async () => {
    const save = vi.spyOn(httpBackend, 'saveConnection').mockResolvedValue(stored);
    vi.spyOn(httpBackend, 'testConnection').mockResolvedValue({ ok: false, message: 'warehouse: connection refused', duration_ms: 12 });
    renderPage([stored]);
    await userEvent.click(screen.getByRole('button', { name: 'Edit warehouse' }));
    const dialog = screen.getByRole('dialog');
    const password = within(dialog).getByLabelText('Password');
    expect(password).toHaveValue('');
    expect(within(dialog).getByText(/Stored, never shown/)).toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Save and test' }));
    expect(save).toHaveBeenCalledWith(expect.objectContaining({ id: 'c1', type: 'postgres', fields: { host: 'db.example', user: 'etl', password: MASK } }));
    expect(await within(dialog).findByRole('status')).toHaveTextContent('Connection failed. warehouse: connection refused');
  });

  it("shows each of the server's problems on its own field", async () => {
    const detail = 'A PostgreSQL URL starts with postgresql:// (mysql:// given), e.g. postgresql://user:password@host/db.';
    vi.spyOn(httpBackend, 'saveConnection').mockRejectedValue(
      new ApiError("The connection's fields are not valid", 422, [
        { pointer: '/url', message: detail },
        { pointer: '/port', message: 'Input should be less than or equal to 65535.' },
      ]),
    );
    renderPage([]);
    await userEvent.click(screen.getByRole('button', { name: 'New connection' }));
    const dialog = screen.getByRole('dialog');
    await userEvent.type(within(dialog).getByLabelText('Name', { exact: false }), 'wh');
    await userEvent.type(within(dialog).getByLabelText('Url'), 'mysql://h/db');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Save' }));
    const url = within(dialog).getByLabelText('Url');
    expect(url).toHaveAttribute('aria-invalid', 'true');
    expect(url).toHaveAccessibleDescription(detail);
    expect(within(dialog).getByLabelText('Port')).toHaveAccessibleDescription('Input should be less than or equal to 65535.');
    expect(within(dialog).getByLabelText('Host')).toHaveAttribute('aria-invalid', 'false');
    expect(within(dialog).getByText(/Not saved/)).toBeInTheDocument();
  });
});
