import {
  ApplicationFailure, CancellationScope, allHandlersFinished, condition, continueAsNew, executeChild, getExternalWorkflowHandle, isCancellation, log,
  patched, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { createManifestActivities } from '../activities/manifest';
import type { createResultActivities, ReportResult } from '../activities/results';
import { acquireSlotSignal, releaseSlotSignal, slotGrantedSignal } from './account-slots';
import { itemWorkflow } from './item';
import { BatchIdKey, BatchStateKey, ItemsDoneKey, ItemsFailedKey, ItemsTotalKey } from './search-attributes';
import {
  cancelBatchSignal, pauseUpdate, progressQuery, resumeUpdate, setConcurrencyUpdate,
  type BatchCounts, type BatchProgress, type ItemOptions, type ItemResult,
} from './shared';

export interface BatchInput {
  batchId: string;
  manifest: { ref: string; sha256: string };
  outputPrefix: string;
  /** Rows in flight at once (waiting for a slot, running jobs, storing images); the account's slots limit the jobs. */
  concurrency: number;
  item: ItemOptions;
  /** Fail the batch early when more rows than this have failed (a count, or a percent of the rows). */
  maxFailed?: number;
  maxFailedPercent?: number;
  /** A redrive: only these rows. */
  onlyKeys?: string[];
  pageSize?: number;
  /** The account's slots workflow (shared by every batch on the same API key); none: only `concurrency` limits. */
  accountSlotsWorkflowId?: string;
  /** Rows started per run before continue-as-new keeps the history small. */
  rowsPerRun?: number;
  carried?: Carried;
}

/** What survives continue-as-new: a cursor and counters, never per-row results (those live in S3). */
interface Carried {
  offset: number;
  counts: BatchCounts;
  startedAt: number;
  runs: number;
  concurrency: number;
  paused: boolean;
}

export interface BatchResult extends ReportResult {
  batchId: string;
  failedEarly: boolean;
  cancelled: boolean;
}

const manifest = proxyActivities<ReturnType<typeof createManifestActivities>>({
  startToCloseTimeout: '5m',
  retry: { initialInterval: '2s', maximumInterval: '60s', maximumAttempts: 10 },
});
const report = proxyActivities<ReturnType<typeof createResultActivities>>({
  startToCloseTimeout: '15m',
  heartbeatTimeout: undefined,
  retry: { initialInterval: '2s', maximumInterval: '60s', maximumAttempts: 10 },
});

const emptyCounts = (): BatchCounts => ({ total: 0, succeeded: 0, failed: 0, unknownSubmit: 0, skipped: 0, cancelled: 0 });

/**
 * A whole manifest: reads it page by page, runs one child workflow per row (id `<batchId>/<rowKey>`) with no more
 * in flight than the account's slots, and writes the report at the end. Pausable, resizable, cancellable.
 */
export async function batchWorkflow(input: BatchInput): Promise<BatchResult> {
  const carried = input.carried;
  const counts = carried?.counts ?? emptyCounts();
  const startedAt = carried?.startedAt ?? Date.now();
  const runs = (carried?.runs ?? 0) + 1;
  let concurrency = carried?.concurrency ?? input.concurrency;
  let paused = carried?.paused ?? false;
  let cancelled = false;
  let failedEarly = false;
  let offset = carried?.offset ?? 0;
  let queued = 0;
  const inFlight = new Map<string, Promise<void>>();
  const scope = new CancellationScope();
  const pageSize = input.pageSize ?? 50;
  const rowsPerRun = input.rowsPerRun ?? 400;

  const updateSearchAttributes = (state: string) => upsertSearchAttributes([
    { key: BatchIdKey, value: input.batchId },
    { key: BatchStateKey, value: state },
    { key: ItemsTotalKey, value: counts.total },
    { key: ItemsDoneKey, value: counts.succeeded + counts.skipped },
    { key: ItemsFailedKey, value: counts.failed + counts.unknownSubmit },
  ]);

  setHandler(progressQuery, (): BatchProgress => {
    const done = counts.succeeded + counts.failed + counts.unknownSubmit + counts.skipped + counts.cancelled;
    const minutes = Math.max(1 / 60, (Date.now() - startedAt) / 60_000);
    const rate = done / minutes;
    return {
      batchId: input.batchId, state: cancelled ? 'cancelling' : paused ? 'paused' : 'running', counts: { ...counts },
      inFlight: inFlight.size, concurrency, queued: Math.max(0, counts.total - done - inFlight.size), startedAt, ratePerMinute: Math.round(rate * 10) / 10,
      etaSeconds: rate > 0 ? Math.round(((counts.total - done) / rate) * 60) : null, runs,
    };
  });
  setHandler(pauseUpdate, () => {
    paused = true;
    updateSearchAttributes('paused');
  });
  setHandler(resumeUpdate, () => {
    paused = false;
    updateSearchAttributes('running');
  });
  setHandler(setConcurrencyUpdate, (n) => {
    concurrency = n;
    return concurrency;
  }, { validator: (n) => { if (!Number.isInteger(n) || n < 1 || n > 200) throw new Error(`concurrency must be a whole number from 1 to 200, got ${n}`); } });
  setHandler(cancelBatchSignal, () => {
    cancelled = true;
    scope.cancel();
  });

  // Account-wide slots: every row holds a lease of the account's slots workflow while its jobs run.
  let slotsId = input.accountSlotsWorkflowId;
  const granted = new Set<string>();
  setHandler(slotGrantedSignal, (leaseId) => {
    granted.add(leaseId);
  });
  const release = (leaseId: string) => {
    granted.delete(leaseId);
    if (slotsId) getExternalWorkflowHandle(slotsId).signal(releaseSlotSignal, leaseId).catch(() => undefined);
  };
  /** Waits for one of the account's slots; false when the batch stops first. */
  const acquire = async (leaseId: string): Promise<boolean> => {
    if (!slotsId) return true;
    try {
      await getExternalWorkflowHandle(slotsId).signal(acquireSlotSignal, { id: leaseId, holder: workflowInfo().workflowId });
    } catch (err) {
      log.warn('the account slots workflow is not running; only this batch\'s concurrency limits it', { slotsId, error: String(err) });
      slotsId = undefined;
      return true;
    }
    await condition(() => granted.has(leaseId) || cancelled || failedEarly);
    if (granted.has(leaseId)) return true;
    release(leaseId);
    return false;
  };

  const tooManyFailures = () => {
    const failed = counts.failed + counts.unknownSubmit;
    if (input.maxFailed !== undefined && failed > input.maxFailed) return true;
    return input.maxFailedPercent !== undefined && counts.total > 0 && (failed * 100) / counts.total > input.maxFailedPercent;
  };

  const record = (r: ItemResult) => {
    if (r.status === 'SUCCESS') counts.succeeded++;
    else if (r.status === 'SKIPPED') counts.skipped++;
    else if (r.status === 'UNKNOWN_SUBMIT') counts.unknownSubmit++;
    else if (r.status === 'CANCELLED') counts.cancelled++;
    else counts.failed++;
    if (!failedEarly && tooManyFailures()) failedEarly = true;
  };

  updateSearchAttributes(paused ? 'paused' : 'running');
  // Runs started before leases were asked for ahead take them one row at a time, as their histories say.
  const pipelinedLeases = patched('pipelined-leases');
  let startedThisRun = 0;
  let more = true;
  while (more && !cancelled && !failedEarly) {
    const page = await manifest.readManifestPage({ ref: input.manifest.ref, sha256: input.manifest.sha256, offset, limit: pageSize, outputPrefix: input.outputPrefix, onlyKeys: input.onlyKeys });
    counts.total = page.total;
    queued = page.rows.length;
    for (const row of page.rows) {
      await condition(() => cancelled || failedEarly || (!paused && inFlight.size < concurrency));
      if (cancelled || failedEarly) break;
      const leaseId = `${input.batchId}/${row.key}/${runs}`;
      const startChild = () => scope.run(() => executeChild(itemWorkflow, {
        workflowId: `${input.batchId}/${row.key}`,
        args: [{ batchId: input.batchId, outputPrefix: input.outputPrefix, row, options: input.item, slotLease: slotsId ? { workflowId: slotsId, leaseId } : undefined }],
      }));
      const lost = (err: unknown): ItemResult => isCancellation(err)
        ? { rowKey: row.key, line: row.line, status: 'CANCELLED', failureClass: 'cancelled', reason: 'the batch was cancelled', taskIds: [], images: [] }
        : { rowKey: row.key, line: row.line, status: 'FAILED', failureClass: 'submit', reason: `the row's workflow failed: ${(err as Error).message}`, taskIds: [], images: [] };
      if (pipelinedLeases) {
        // Ask for the row's slot and go on to the next row: many asks travel in one workflow task, and each row
        // starts when its grant arrives. A row that ends normally has given its slot back itself.
        inFlight.set(row.key, (async () => {
          if (!(await acquire(leaseId))) return; // the batch stopped before a slot came: the row never started
          await startChild().then(record, (err: unknown) => {
            release(leaseId);
            record(lost(err));
          });
        })().finally(() => inFlight.delete(row.key)));
      } else {
        if (!(await acquire(leaseId))) break;
        inFlight.set(row.key, startChild().then(record, (err: unknown) => record(lost(err)))
          .finally(() => {
            release(leaseId);
            inFlight.delete(row.key);
          }));
      }
      offset++;
      queued--;
      startedThisRun++;
      if (startedThisRun >= rowsPerRun || workflowInfo().continueAsNewSuggested) {
        // Children do not survive continue-as-new: let the ones in flight finish, then carry the cursor over.
        await Promise.all(inFlight.values());
        await condition(allHandlersFinished);
        updateSearchAttributes(paused ? 'paused' : 'running');
        return continueAsNew<typeof batchWorkflow>({ ...input, carried: { offset, counts, startedAt, runs, concurrency, paused } });
      }
    }
    more = page.nextOffset !== null && offset < page.total;
  }
  await Promise.all(inFlight.values());
  const written = await report.writeReport({ batchId: input.batchId, manifestRef: input.manifest.ref, sha256: input.manifest.sha256, outputPrefix: input.outputPrefix, onlyKeys: input.onlyKeys });
  updateSearchAttributes(cancelled ? 'cancelled' : failedEarly ? 'failed' : 'finished');
  // The workflow's own counts know which rows were skipped as already done; the report's files cover every row.
  const result: BatchResult = { ...written, counts: { ...counts }, batchId: input.batchId, failedEarly, cancelled };
  if (failedEarly) {
    throw ApplicationFailure.nonRetryable(`${counts.failed + counts.unknownSubmit} rows failed, over the batch's threshold; the report lists them`, 'FailureThresholdExceeded', result);
  }
  return result;
}
