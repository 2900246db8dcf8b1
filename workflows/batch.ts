import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createManifestActivities } from '../activities/manifest';
import type { createResultActivities } from '../activities/results';
import { acquireSlotSignal, releaseSlotSignal, slotGrantedSignal } from '../contracts/handlers';
import { itemWorkflow } from './item';
import { BatchIdKey, BatchStateKey, ItemsDoneKey, ItemsFailedKey, ItemsTotalKey } from '../contracts/search-attributes';
import {
  accountConditionSignal,
  accountRecoveredSignal,
  accountRetrySignal,
  cancelBatchSignal,
  pauseUpdate,
  progressQuery,
  resumeUpdate,
  setConcurrencyUpdate,
} from '../contracts/handlers';
import { modeMismatch, type ItemResult } from '../contracts/rows';
import type { AccountHold, BatchCounts, BatchProgress } from '../contracts/batch';
import { FailureType } from '../contracts/failures';
import type { BatchInput, BatchResult } from '../contracts/batch';

const manifest = proxyActivities<ReturnType<typeof createManifestActivities>>({
  startToCloseTimeout: '5m',
  retry: { initialInterval: '2s', maximumInterval: '60s', maximumAttempts: 10 },
});
const report = proxyActivities<ReturnType<typeof createResultActivities>>({
  startToCloseTimeout: '15m',
  heartbeatTimeout: undefined,
  retry: { initialInterval: '2s', maximumInterval: '60s', maximumAttempts: 10 },
});

/** How long a held batch waits before one held row tries the account again: 30 s, doubling to 10 min. */
const PROBE_DELAYS_MS = [30_000, 60_000, 120_000, 240_000, 600_000];

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
  const inFlight = new Map<string, Promise<void>>();
  const scope = new CancellationScope();
  const pageSize = input.pageSize ?? 50;
  const rowsPerRun = input.rowsPerRun ?? 400;

  const updateSearchAttributes = (state: string) =>
    upsertSearchAttributes([
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
      batchId: input.batchId,
      state: cancelled ? 'cancelling' : paused ? 'paused' : hold ? 'held' : 'running',
      counts: { ...counts },
      inFlight: inFlight.size,
      concurrency,
      queued: Math.max(0, counts.total - done - inFlight.size),
      startedAt,
      ratePerMinute: Math.round(rate * 10) / 10,
      etaSeconds: rate > 0 ? Math.round(((counts.total - done) / rate) * 60) : null,
      runs,
      accountSlotsWorkflowId: slotsId,
      accountHold: hold ? { ...hold, rowsHeld: heldRows.length } : undefined,
    };
  });
  setHandler(pauseUpdate, () => {
    paused = true;
    updateSearchAttributes('paused');
  });
  setHandler(resumeUpdate, () => {
    paused = false;
    if (hold) probeNow = true; // `mj-batch resume` on a held batch: try the account now
    updateSearchAttributes(hold ? 'held' : 'running');
  });
  setHandler(
    setConcurrencyUpdate,
    (n) => {
      concurrency = n;
      return concurrency;
    },
    {
      validator: (n) => {
        if (!Number.isInteger(n) || n < 1 || n > 200) throw new Error(`concurrency must be a whole number from 1 to 200, got ${n}`);
      },
    },
  );
  setHandler(cancelBatchSignal, () => {
    cancelled = true;
    scope.cancel();
  });

  // Account conditions (quota spent, key invalid, account banned) stop the account, not the rows: rows that meet
  // one wait, no new row starts, and one held row at a time tries again with backoff; once it is accepted, every
  // held row goes on.
  let hold: Omit<AccountHold, 'rowsHeld'> | undefined;
  const heldRows: string[] = [];
  let probeNow = false;
  let recovered = false;
  setHandler(accountConditionSignal, (c) => {
    if (!hold) {
      hold = { reason: c.reason, message: c.message, since: Date.now(), probes: 0, nextProbeAt: Date.now() + PROBE_DELAYS_MS[0]! };
      updateSearchAttributes('held');
    } else Object.assign(hold, { reason: c.reason, message: c.message });
    if (!heldRows.includes(c.rowKey)) heldRows.push(c.rowKey);
  });
  setHandler(accountRecoveredSignal, () => {
    if (!hold) return;
    hold = undefined;
    recovered = true;
  });
  const retryRow = (rowKey: string) =>
    getExternalWorkflowHandle(`${input.batchId}/${rowKey}`)
      .signal(accountRetrySignal)
      .catch(() => undefined);
  const watchAccount = async () => {
    for (;;) {
      await condition(() => hold !== undefined || recovered || cancelled);
      if (cancelled) return;
      if (!hold) {
        recovered = false;
        updateSearchAttributes(paused ? 'paused' : 'running');
        await Promise.all(heldRows.splice(0).map(retryRow));
        continue;
      }
      await condition(() => !hold || probeNow || cancelled, Math.max(1, hold.nextProbeAt - Date.now()));
      if (!hold || cancelled) continue;
      probeNow = false;
      hold.probes++;
      hold.nextProbeAt = Date.now() + PROBE_DELAYS_MS[Math.min(hold.probes, PROBE_DELAYS_MS.length - 1)]!;
      const probe = heldRows.shift();
      if (probe) await retryRow(probe);
    }
  };
  void watchAccount();

  // Account-wide slots: every row holds a lease of the account's slots workflow while its jobs run.
  let slotsId = input.accountSlotsWorkflowId;
  const granted = new Set<string>();
  setHandler(slotGrantedSignal, (leaseId) => {
    granted.add(leaseId);
  });
  // Runs started before releases were awaited send them and go on, as their histories say. A signal still in flight
  // when its sender closes is dropped by the server, so a release sent just before the batch continues as new or
  // ends would be lost.
  const awaitRelease = patched('await-slot-release');
  const release = async (leaseId: string): Promise<void> => {
    granted.delete(leaseId);
    if (!slotsId) return;
    const sent = getExternalWorkflowHandle(slotsId)
      .signal(releaseSlotSignal, leaseId)
      .catch(() => undefined);
    if (awaitRelease) await sent;
  };
  /** Waits for one of the account's slots for the row workflow `rowId`; false when the batch stops first. */
  const acquire = async (leaseId: string, rowId: string): Promise<boolean> => {
    if (!slotsId) return true;
    try {
      const { workflowId, firstExecutionRunId } = workflowInfo();
      await getExternalWorkflowHandle(slotsId).signal(acquireSlotSignal, {
        id: leaseId,
        holder: workflowId,
        holderRun: firstExecutionRunId,
        row: rowId,
      });
    } catch (err) {
      log.warn("the account slots workflow is not running; only this batch's concurrency limits it", { slotsId, error: String(err) });
      slotsId = undefined;
      return true;
    }
    await condition(() => granted.has(leaseId) || cancelled || failedEarly);
    if (granted.has(leaseId)) return true;
    await release(leaseId);
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
    if (modeMismatch(r)) counts.modeMismatches = (counts.modeMismatches ?? 0) + 1;
    if (!failedEarly && tooManyFailures()) failedEarly = true;
  };

  updateSearchAttributes(paused ? 'paused' : 'running');
  // Runs started before leases were asked for ahead take them one row at a time, as their histories say.
  const pipelinedLeases = patched('pipelined-leases');
  let startedThisRun = 0;
  let more = true;
  while (more && !cancelled && !failedEarly) {
    const page = await manifest.readManifestPage({
      ref: input.manifest.ref,
      sha256: input.manifest.sha256,
      // Only a `--delimiter` the user gave; unset, the activity finds the same one from the header.
      delimiter: input.manifest.delimiter,
      offset,
      limit: pageSize,
      outputPrefix: input.outputPrefix,
      onlyKeys: input.onlyKeys,
      // A redrive's rows as a bucket object (an argument only: the same command either way; unset before it existed).
      onlyKeysRef: input.onlyKeysRef,
    });
    counts.total = page.total;
    for (const row of page.rows) {
      await condition(() => cancelled || failedEarly || (!paused && !hold && inFlight.size < concurrency));
      if (cancelled || failedEarly) break;
      const leaseId = `${input.batchId}/${row.key}/${runs}`;
      const rowId = `${input.batchId}/${row.key}`;
      const startChild = () =>
        scope.run(() =>
          executeChild(itemWorkflow, {
            workflowId: rowId,
            args: [
              {
                batchId: input.batchId,
                outputPrefix: input.outputPrefix,
                row,
                options: input.item,
                slotLease: slotsId ? { workflowId: slotsId, leaseId } : undefined,
              },
            ],
          }),
        );
      const lost = (err: unknown): ItemResult =>
        isCancellation(err)
          ? {
              rowKey: row.key,
              line: row.line,
              status: 'CANCELLED',
              failureClass: 'cancelled',
              reason: 'the batch was cancelled',
              taskIds: [],
              images: [],
            }
          : {
              rowKey: row.key,
              line: row.line,
              status: 'FAILED',
              failureClass: 'submit',
              reason: `the row's workflow failed: ${(err as Error).message}`,
              taskIds: [],
              images: [],
            };
      if (pipelinedLeases) {
        // Ask for the row's slot and go on to the next row: many asks travel in one workflow task, and each row
        // starts when its grant arrives. A row that ends has given its slot back itself; one that failed, timed out
        // or was terminated has not, so the batch does.
        inFlight.set(
          row.key,
          (async () => {
            if (!(await acquire(leaseId, rowId))) return; // the batch stopped before a slot came: the row never started
            await startChild().then(record, async (err: unknown) => {
              await release(leaseId);
              record(lost(err));
            });
          })().finally(() => inFlight.delete(row.key)),
        );
      } else {
        if (!(await acquire(leaseId, rowId))) break;
        inFlight.set(
          row.key,
          startChild()
            .then(record, (err: unknown) => record(lost(err)))
            .finally(() => {
              void release(leaseId);
              inFlight.delete(row.key);
            }),
        );
      }
      offset++;
      startedThisRun++;
      if (startedThisRun >= rowsPerRun || workflowInfo().continueAsNewSuggested) {
        // Children do not survive continue-as-new: let the ones in flight finish, then carry the cursor over.
        await Promise.all(inFlight.values());
        // A cancel or a threshold hit while draining ends the batch here: a new run would not know of it and would
        // go on submitting. Runs before that continued as new, as their histories say.
        if ((cancelled || failedEarly) && patched('stop-at-drain')) break;
        await condition(allHandlersFinished);
        updateSearchAttributes(paused ? 'paused' : 'running');
        return continueAsNew<typeof batchWorkflow>({ ...input, carried: { offset, counts, startedAt, runs, concurrency, paused } });
      }
    }
    more = page.nextOffset !== null && offset < page.total;
  }
  await Promise.all(inFlight.values());
  const written = await report.writeReport({
    batchId: input.batchId,
    manifestRef: input.manifest.ref,
    sha256: input.manifest.sha256,
    delimiter: input.manifest.delimiter,
    outputPrefix: input.outputPrefix,
    onlyKeys: input.onlyKeys,
    onlyKeysRef: input.onlyKeysRef,
  });
  updateSearchAttributes(cancelled ? 'cancelled' : failedEarly ? 'failed' : 'finished');
  // The workflow's own counts know which rows were skipped as already done; the report's files cover every row.
  const result: BatchResult = { ...written, counts: { ...counts }, batchId: input.batchId, failedEarly, cancelled };
  if (failedEarly) {
    throw ApplicationFailure.nonRetryable(
      `${counts.failed + counts.unknownSubmit} rows failed, over the batch's threshold; the report lists them`,
      FailureType.thresholdExceeded,
      result,
    );
  }
  return result;
}
