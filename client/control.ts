// Controlling and listing batches: pause, resume, cancel, resize, and what ended how.
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { BatchResult } from '../contracts/batch';
import { cancelBatchSignal, pauseUpdate, resumeUpdate, setConcurrencyUpdate } from '../contracts/handlers';
import { WorkflowType } from '../contracts/naming';
import { BatchIdKey, BatchStateKey, ItemsDoneKey, ItemsFailedKey, ItemsTotalKey } from '../contracts/search-attributes';

/** Stop starting rows; the ones in flight finish. */
export const pauseBatch = (handle: WorkflowHandle) => handle.executeUpdate(pauseUpdate);
/** Start rows again; a batch held for its account tries the account now. */
export const resumeBatch = (handle: WorkflowHandle) => handle.executeUpdate(resumeUpdate);
/** Rows in flight end CANCELLED, the report is written. */
export const cancelBatch = (handle: WorkflowHandle) => handle.signal(cancelBatchSignal);
/** Rows in flight at once from now on; answers the value now in force. */
export const setBatchConcurrency = (handle: WorkflowHandle, n: number) => handle.executeUpdate(setConcurrencyUpdate, { args: [n] });

/** How a closed batch ended: its result (also from a threshold failure, which carries it), or the error. */
export async function batchOutcome(handle: WorkflowHandle): Promise<{ result?: BatchResult; error?: string }> {
  try {
    return { result: (await handle.result()) as BatchResult };
  } catch (err) {
    const details = (err as { cause?: { details?: unknown[] } }).cause?.details?.[0] as BatchResult | undefined;
    const result = details && typeof details === 'object' && 'counts' in details ? details : undefined;
    return { result, error: (err as { cause?: Error }).cause?.message ?? (err as Error).message };
  }
}

export interface BatchListing {
  batchId: string;
  status: string;
  state: string | null;
  rows: number | null;
  done: number | null;
  failed: number | null;
  startTime: string;
  closeTime: string | null;
}

/** Batches on the namespace, newest first, from their search attributes (`state`: running, paused, finished, ...). */
export async function listBatches(client: Client, opts: { state?: string; limit: number }): Promise<BatchListing[]> {
  const filters = [`WorkflowType = '${WorkflowType.batch}'`, `ExecutionStatus != 'ContinuedAsNew'`];
  if (opts.state) filters.push(`BatchState = '${opts.state.replace(/'/g, '')}'`);
  const batches: BatchListing[] = [];
  for await (const wf of client.workflow.list({ query: filters.join(' AND '), pageSize: opts.limit })) {
    const sa = wf.typedSearchAttributes;
    batches.push({
      batchId: sa.get(BatchIdKey) ?? wf.workflowId,
      status: wf.status.name,
      state: sa.get(BatchStateKey) ?? null,
      rows: sa.get(ItemsTotalKey) ?? null,
      done: sa.get(ItemsDoneKey) ?? null,
      failed: sa.get(ItemsFailedKey) ?? null,
      startTime: wf.startTime.toISOString(),
      closeTime: wf.closeTime?.toISOString() ?? null,
    });
    if (batches.length >= opts.limit) break;
  }
  return batches;
}
