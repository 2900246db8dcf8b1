// Which of a batch's rows in flight have closed without telling it: read by the batch's activity for rows that
// outlive the run that started them (the batch no longer waits on them as children).
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { RowFinished } from '../contracts/batch';
import { modeMismatch, type ItemResult } from '../contracts/rows';

export interface RowToCheck {
  rowKey: string;
  workflowId: string;
}

export interface ClosedRow {
  rowKey: string;
  /** The row's own result, when its workflow completed (its `rowFinished` signal was lost). */
  finished?: RowFinished;
  /** Otherwise how it closed: `TERMINATED`, `FAILED`, `TIMED_OUT`, `CANCELLED`, or `NOT_FOUND`. */
  closedAs?: string;
}

/** The rows among `rows` whose workflow is no longer running, each described once. */
export async function findClosedRows(client: Client, rows: RowToCheck[]): Promise<ClosedRow[]> {
  const closed: ClosedRow[] = [];
  await Promise.all(
    rows.map(async ({ rowKey, workflowId }) => {
      const handle = client.workflow.getHandle(workflowId);
      let status: string;
      try {
        status = (await handle.describe()).status.name;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return void closed.push({ rowKey, closedAs: 'NOT_FOUND' });
        throw err;
      }
      if (status === 'RUNNING') return;
      if (status !== 'COMPLETED') return void closed.push({ rowKey, closedAs: status === 'CANCELED' ? 'CANCELLED' : status });
      const result = (await handle.result()) as ItemResult;
      closed.push({ rowKey, finished: { rowKey, status: result.status, modeMismatch: modeMismatch(result) || undefined } });
    }),
  );
  return closed;
}
