import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { NodeFailure } from './NodeFailure';

describe('NodeFailure', () => {
  it('shows the message, the full cause and the rows the step failed on, nulls visible', () => {
    render(
      <NodeFailure
        message="short"
        error={{
          node_id: 'check',
          message: '2 row(s) failed rule amount_positive',
          cause: 'ConversionException: Could not convert string "x" to INT64\nLINE 1: ...',
          field: 'rules',
          sample_rows: [
            { id: 1, amount: -3, note: null },
            { id: 2, amount: -1, note: 'refund' },
          ],
        }}
      />,
    );
    const alert = screen.getByRole('alert');
    expect(alert).toHaveTextContent('This step failed in the last run. 2 row(s) failed rule amount_positive');
    expect(alert).toHaveTextContent('Setting concerned: rules');
    expect(within(alert).getByText(/Could not convert string "x" to INT64/)).toBeInTheDocument();
    const table = within(alert).getByRole('table', { name: 'Rows the step failed on' });
    expect(within(table).getAllByRole('row')).toHaveLength(3);
    expect(within(table).getByText('refund')).toBeInTheDocument();
    expect(within(table).getByText('null')).toBeInTheDocument();
  });

  it('falls back to the node metrics message when the run error is not this node', () => {
    render(<NodeFailure message="node 'out': boom" error={null} />);
    expect(screen.getByRole('alert')).toHaveTextContent("This step failed in the last run. node 'out': boom");
    expect(screen.queryByRole('table')).toBeNull();
  });
});
