// Which of a batch's rows in flight have closed without telling it: read by the batch's activity for rows that
// outlive the run that started them (the batch no longer waits on them as children).
import type { Client } from '@temporalio/client';
import type { RowFinished } from '../contracts/batch';
import { modeMismatch, type ItemResult } from '../contracts/rows';
import { describeOrNull } from './stale-leases';

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
      const described = await describeOrNull(client, workflowId);
      if (!described) return void closed.push({ rowKey, closedAs: 'NOT_FOUND' });
      const status = described.status.name;
      if (status === 'RUNNING') return;
      if (status !== 'COMPLETED') return void closed.push({ rowKey, closedAs: status });
      const result = (await client.workflow.getHandle(workflowId).result()) as ItemResult;
      closed.push({ rowKey, finished: { rowKey, status: result.status, modeMismatch: modeMismatch(result) || undefined } });
    }),
  );
  return closed;
}
