import { describe, expect, it, vi } from 'vitest';
import { useState } from 'react';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { JsonSchema } from './jsonSchema';
import { entry } from '../test/catalog';
import { SchemaForm } from './SchemaForm';

function Harness({ schema, initial = {}, onChange, problems, columns }: { schema: JsonSchema; initial?: Record<string, unknown>; onChange?: (v: Record<string, unknown>) => void; problems?: Map<string, string>; columns?: { name: string; type: string }[] }) {
  const [value, setValue] = useState(initial);
  return (
    <SchemaForm
      schema={schema}
      value={value}
      problems={problems}
      columns={columns}
      onChange={(v) => {
        setValue(v);
        onChange?.(v);
      }}
    />
  );
}

describe('SchemaForm with the real csv extractor schema', () => {
  const schema = entry('extractor', 'csv').config_schema;

  it('renders each kind of field with its widget and helper text', () => {
    render(<Harness schema={schema} />);
    const path = screen.getByRole('textbox', { name: 'Path' });
    expect(path).toBeRequired();
    expect(screen.getByText('A file, a folder or a glob such as `in/*.csv`.')).toBeInTheDocument();
    // enum → select showing its default; a nullable one names what "empty" means
    expect(screen.getByRole('combobox', { name: /^Decimal/ })).toHaveTextContent('Detect from the file');
    expect(screen.getByRole('combobox', { name: /^On Error/ })).toHaveTextContent('fail');
    // boolean → switch with its default
    expect(screen.getByRole('checkbox', { name: 'Header' })).toBeChecked();
    // integer → number field
    expect(screen.getByRole('spinbutton', { name: 'Skip Rows' })).toBeInTheDocument();
    // anyOf [string, null] → a text field
    expect(screen.getByRole('textbox', { name: 'Delimiter' })).toBeInTheDocument();
    // map (additionalProperties) → key/value editor
    expect(screen.getByRole('group', { name: 'Columns' })).toBeInTheDocument();
  });

  it('writes typed values and removes emptied ones', async () => {
    const onChange = vi.fn();
    render(<Harness schema={schema} onChange={onChange} />);
    await userEvent.type(screen.getByRole('textbox', { name: 'Path' }), 'in.csv');
    expect(onChange).toHaveBeenLastCalledWith({ path: 'in.csv' });
    await userEvent.type(screen.getByRole('spinbutton', { name: 'Skip Rows' }), '2');
    expect(onChange).toHaveBeenLastCalledWith({ path: 'in.csv', skip_rows: 2 });
    await userEvent.click(screen.getByRole('checkbox', { name: 'Header' }));
    expect(onChange).toHaveBeenLastCalledWith({ path: 'in.csv', skip_rows: 2, header: false });
    await userEvent.click(screen.getByRole('combobox', { name: /^On Error/ }));
    await userEvent.click(screen.getByRole('option', { name: 'quarantine' }));
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ on_error: 'quarantine' }));
    await userEvent.clear(screen.getByRole('textbox', { name: 'Path' }));
    expect(onChange.mock.lastCall?.[0]).not.toHaveProperty('path');
  });

  it('shows a validation problem on the right field', () => {
    render(<Harness schema={schema} problems={new Map([['/path', 'No file matches in/*.csv']])} />);
    const path = screen.getByRole('textbox', { name: 'Path' });
    expect(path).toHaveAttribute('aria-invalid', 'true');
    expect(path).toHaveAccessibleDescription('No file matches in/*.csv');
    expect(screen.getByRole('textbox', { name: 'Delimiter' })).toHaveAttribute('aria-invalid', 'false');
  });
});

describe('SchemaForm with the real aggregate schema ($defs, arrays of objects, nullable objects)', () => {
  const schema = entry('transformer', 'aggregate').config_schema;

  it('adds an aggregation item rendered from its $ref', async () => {
    const onChange = vi.fn();
    render(<Harness schema={schema} onChange={onChange} />);
    await userEvent.click(screen.getByRole('button', { name: 'Add aggregation' }));
    expect(onChange).toHaveBeenLastCalledWith({ aggregations: [{}] });
    await userEvent.click(screen.getByRole('combobox', { name: /^Function/ }));
    await userEvent.click(screen.getByRole('option', { name: 'count distinct' }));
    await userEvent.type(screen.getByRole('textbox', { name: 'Name' }), 'customers');
    expect(onChange).toHaveBeenLastCalledWith({ aggregations: [{ function: 'count_distinct', name: 'customers' }] });
    await userEvent.click(screen.getByRole('button', { name: 'Remove Aggregations 1' }));
    expect(onChange).toHaveBeenLastCalledWith({ aggregations: [] });
  });

  it('offers the upstream columns in column pickers', async () => {
    const onChange = vi.fn();
    render(<Harness schema={schema} onChange={onChange} columns={[{ name: 'country', type: 'string' }, { name: 'amount', type: 'decimal(12,2)' }]} />);
    await userEvent.click(screen.getByRole('combobox', { name: 'Group By' }));
    const list = screen.getByRole('listbox');
    expect(within(list).getByText('decimal(12,2)')).toBeInTheDocument();
    await userEvent.click(within(list).getByText('country'));
    expect(onChange).toHaveBeenLastCalledWith({ group_by: ['country'] });
  });

  it('sets and clears a nullable nested object (anyOf [$ref, null])', async () => {
    const onChange = vi.fn();
    render(<Harness schema={schema} onChange={onChange} />);
    await userEvent.click(screen.getByRole('button', { name: 'Set time bucket' }));
    expect(onChange).toHaveBeenLastCalledWith({ time_bucket: {} });
    expect(screen.getByRole('combobox', { name: /^Unit/ })).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Clear' }));
    expect(onChange).toHaveBeenLastCalledWith({ time_bucket: null });
  });
});

describe('SchemaForm with the real cleaner schema (unions and maps)', () => {
  const schema = entry('transformer', 'cleaner').config_schema;

  it('edits a map of enum values keyed by column', async () => {
    const onChange = vi.fn();
    render(<Harness schema={schema} onChange={onChange} columns={[{ name: 'email', type: 'string' }]} />);
    const caseGroup = screen.getByRole('group', { name: 'Case' });
    await userEvent.click(within(caseGroup).getByRole('button', { name: 'Add' }));
    expect(onChange).toHaveBeenLastCalledWith({ case: { email: 'lower' } });
  });

  it('switches a boolean-or-list union between its forms', async () => {
    const onChange = vi.fn();
    render(<Harness schema={schema} onChange={onChange} initial={{ trim: true }} />);
    const trim = screen.getByRole('group', { name: 'Trim' });
    expect(within(trim).getByRole('checkbox', { name: 'Trim' })).toBeChecked();
    await userEvent.click(within(trim).getByRole('combobox', { name: /^Form/ }));
    await userEvent.click(screen.getByRole('option', { name: 'A list' }));
    expect(onChange).toHaveBeenLastCalledWith({ trim: [] });
  });
});

describe('SchemaForm widgets from x-widget hints', () => {
  it('renders secrets as password fields and connections as a picker', () => {
    const schema: JsonSchema = {
      type: 'object',
      properties: {
        password: { type: 'string', writeOnly: true, title: 'Password' },
        token: { type: 'string', 'x-widget': 'password', title: 'Token' },
        connection: { type: 'string', 'x-widget': 'connection', title: 'Connection' },
      },
    };
    render(<SchemaForm schema={schema} value={{}} onChange={() => {}} connections={[{ id: '1', name: 'warehouse', type: 'postgres' }]} />);
    expect(screen.getByLabelText('Password')).toHaveAttribute('type', 'password');
    expect(screen.getByLabelText('Token')).toHaveAttribute('type', 'password');
    expect(screen.getByRole('combobox', { name: /Connection/ })).toBeInTheDocument();
  });
});

describe('SchemaForm fields shown for some values of a sibling (x-show-when)', () => {
  it('shows only the fields of the chosen kind of authentication', async () => {
    const schema: JsonSchema = {
      type: 'object',
      properties: {
        type: { type: 'string', enum: ['none', 'bearer', 'basic'], default: 'none', title: 'Type' },
        token: { type: 'string', title: 'Token', 'x-show-when': { type: ['bearer'] } },
        username: { type: 'string', title: 'Username', 'x-show-when': { type: ['basic'] } },
      },
    };
    render(<Harness schema={schema} />);
    expect(screen.queryByRole('textbox', { name: 'Token' })).toBeNull();
    expect(screen.queryByRole('textbox', { name: 'Username' })).toBeNull();
    await userEvent.click(screen.getByRole('combobox', { name: /^Type/ }));
    await userEvent.click(screen.getByRole('option', { name: 'basic' }));
    expect(screen.getByRole('textbox', { name: 'Username' })).toBeInTheDocument();
    expect(screen.queryByRole('textbox', { name: 'Token' })).toBeNull();
  });
});
