import {
  ApplicationFailure,
  CancellationScope,
  type ChildWorkflowHandle,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  ParentClosePolicy,
  startChild as startRowWorkflow,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createManifestActivities } from '../activities/manifest';
import type { createReportActivities } from '../activities/report';
import type { createRowLivenessActivities } from '../activities/row-liveness';
import { acquireSlotSignal, poolAcquireSignal, poolGrantedSignal, releaseSlotSignal, slotGrantedSignal } from '../contracts/handlers';
import type { PoolGrant } from '../contracts/account-pool';
import { itemWorkflow } from './item';
import { reprocessRowWorkflow } from './reprocess-row';
import { BatchIdKey, BatchStateKey, ItemsDoneKey, ItemsFailedKey, ItemsTotalKey } from '../contracts/search-attributes';
import {
  accountConditionSignal,
  accountRecoveredSignal,
  accountRetrySignal,
  cancelBatchSignal,
  pauseUpdate,
  progressQuery,
  resumeUpdate,
  rowFinishedSignal,
  setConcurrencyUpdate,
} from '../contracts/handlers';
import { modeMismatch, type ItemInput, type ItemResult, type RowRef } from '../contracts/rows';
import {
  CARRIED_ROWS_CHECK_MS,
  REPORT_SHARD_ROWS,
  reportShardCount,
  reportShardRange,
  type AccountHold,
  type BatchCounts,
  type BatchProgress,
  type RowFinished,
} from '../contracts/batch';
import { rowWorkflowId } from '../contracts/naming';
import { FailureType } from '../contracts/failures';
import type { BatchInput, BatchResult } from '../contracts/batch';

const manifest = proxyActivities<ReturnType<typeof createManifestActivities>>({
  startToCloseTimeout: '5m',
  retry: { initialInterval: '2s', maximumInterval: '60s', maximumAttempts: 10 },
});
const report = proxyActivities<ReturnType<typeof createReportActivities>>({
  startToCloseTimeout: '15m',
  heartbeatTimeout: undefined,
  retry: { initialInterval: '2s', maximumInterval: '60s', maximumAttempts: 10 },
});

const liveness = proxyActivities<ReturnType<typeof createRowLivenessActivities>>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '2s', maximumInterval: '30s', maximumAttempts: 5 },
});

/** Report shards written at once at the batch's end. */
const SHARD_WRITES = 4;

/** The paid jobs a row plans (as manifest/forecast.ts counts them), charged to its account's day at the grant. */
const plannedJobs = (row: RowRef) => (row.taskId || row.imageUrl ? 0 : 1 + row.plan.reduce((n, chain) => n + chain.length, 0));
/** What a pool's grant adds to the row's lease: the account its jobs run on. */
const leaseAccount = (grant?: PoolGrant) => (grant ? { account: grant.account, ...(grant.probe ? { probe: true } : {}) } : {});

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
  // Rows that outlive runs (see `outliveRuns`): every row asked for and not yet counted, with its lease; those
  // carried over from an earlier run; those whose slot or start is still pending (a run ends only once there are none).
  const open = new Map<string, { leaseId: string; offset?: number }>(
    (carried?.open ?? []).map((r) => [r.key, { leaseId: r.leaseId, offset: r.offset }]),
  );
  const carriedKeys = new Set(open.keys());
  const starting = new Set<string>();
  const rowsInFlight = () => inFlight.size + open.size;
  const scope = new CancellationScope();
  const pageSize = input.pageSize ?? 50;
  // A reprocess's rows make new thumbnails from the stored originals; every other batch runs the rows' jobs.
  const rowWorkflow: typeof itemWorkflow = input.item.reprocess ? reprocessRowWorkflow : itemWorkflow;
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
      inFlight: rowsInFlight(),
      concurrency,
      queued: Math.max(0, counts.total - done - rowsInFlight()),
      startedAt,
      ratePerMinute: Math.round(rate * 10) / 10,
      etaSeconds: rate > 0 ? Math.round(((counts.total - done) / rate) * 60) : null,
      runs,
      ...(poolId ? { accountPoolWorkflowId: poolId } : { accountSlotsWorkflowId: slotsId }),
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
    // Rows an earlier run started are not this run's children: the scope cannot reach them.
    for (const key of carriedKeys)
      if (open.has(key))
        getExternalWorkflowHandle(rowWorkflowId(input.batchId, key))
          .cancel()
          .catch(() => undefined);
  });

  // Account conditions (quota spent, key invalid, account banned) stop the account, not the rows: rows that meet
  // one wait, no new row starts, and one held row at a time tries again with backoff; once it is accepted, every
  // held row goes on.
  let hold: Omit<AccountHold, 'rowsHeld'> | undefined = carried?.hold;
  const heldRows: string[] = [...(carried?.heldRows ?? [])];
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

  // Account-wide slots: every row holds a lease of the account's slots workflow while its jobs run. With an
  // accounts file, of the task queue's pool: the grant names the account the row's jobs run on.
  const poolId = input.accountPoolWorkflowId;
  let slotsId = poolId ?? input.accountSlotsWorkflowId;
  const granted = new Set<string>();
  const grants = new Map<string, PoolGrant>();
  setHandler(slotGrantedSignal, (leaseId) => {
    granted.add(leaseId);
  });
  setHandler(poolGrantedSignal, (grant) => {
    granted.add(grant.leaseId);
    grants.set(grant.leaseId, grant);
  });
  // Runs started before releases were awaited send them and go on, as their histories say. A signal still in flight
  // when its sender closes is dropped by the server, so a release sent just before the batch continues as new or
  // ends would be lost.
  const awaitRelease = patched('await-slot-release');
  const release = async (leaseId: string): Promise<void> => {
    granted.delete(leaseId);
    grants.delete(leaseId);
    if (!slotsId) return;
    const sent = getExternalWorkflowHandle(slotsId)
      .signal(releaseSlotSignal, leaseId)
      .catch(() => undefined);
    if (awaitRelease) await sent;
  };
  /** Waits for one of the account's slots for the row workflow `rowId`; false when the batch stops first. */
  const acquire = async (leaseId: string, rowId: string, row: RowRef): Promise<boolean> => {
    if (!slotsId) return true;
    try {
      const { workflowId, firstExecutionRunId } = workflowInfo();
      const lease = { id: leaseId, holder: workflowId, holderRun: firstExecutionRunId, row: rowId };
      if (poolId) await getExternalWorkflowHandle(poolId).signal(poolAcquireSignal, { ...lease, mode: row.mode, jobs: plannedJobs(row) });
      else await getExternalWorkflowHandle(slotsId).signal(acquireSlotSignal, lease);
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

  const count = (status: ItemResult['status'], mismatch: boolean) => {
    if (status === 'SUCCESS') counts.succeeded++;
    else if (status === 'SKIPPED') counts.skipped++;
    else if (status === 'UNKNOWN_SUBMIT') counts.unknownSubmit++;
    else if (status === 'CANCELLED') counts.cancelled++;
    else counts.failed++;
    if (mismatch) counts.modeMismatches = (counts.modeMismatches ?? 0) + 1;
    if (!failedEarly && tooManyFailures()) failedEarly = true;
  };
  const record = (r: ItemResult) => count(r.status, modeMismatch(r));
  /** Counts an open row once, from whichever comes first: its signal, its child's end, or the check for closed rows. */
  const finished = (f: RowFinished) => {
    if (open.delete(f.rowKey)) count(f.status, !!f.modeMismatch);
  };
  setHandler(rowFinishedSignal, finished);

  /**
   * Rows carried over from an earlier run tell this one by signal; one terminated (or lost) never will. Every few
   * minutes while some are open, the ones closed are counted from their own result or as lost, and their slots given back.
   */
  const watchCarriedRows = async () => {
    const left = () => [...carriedKeys].filter((key) => open.has(key));
    for (;;) {
      await condition(() => left().length === 0, input.carriedRowsCheckMs ?? CARRIED_ROWS_CHECK_MS);
      const rows = left();
      if (rows.length === 0) return;
      let closed;
      try {
        closed = await liveness.findClosedRows(rows.map((rowKey) => ({ rowKey, workflowId: rowWorkflowId(input.batchId, rowKey) })));
      } catch {
        continue; // Temporal busy or no worker: the next round looks again
      }
      for (const c of closed) {
        const row = open.get(c.rowKey);
        if (!row) continue;
        if (!c.finished) await release(row.leaseId);
        finished(c.finished ?? { rowKey: c.rowKey, status: c.closedAs === 'CANCELLED' ? 'CANCELLED' : 'FAILED' });
      }
    }
  };
  if (carriedKeys.size > 0) void watchCarriedRows();

  // The report, incrementally: once every row of a range of REPORT_SHARD_ROWS manifest positions has ended, one
  // activity writes that range's result lines as a shard, and the end merges the shards instead of reading every
  // row's result in one activity. Only for rows that outlive runs (the open rows' positions say what has ended).
  const redrive = !!(input.onlyKeys || input.onlyKeysRef);
  let manifestRows = redrive ? undefined : carried?.manifestRows;
  let shardsWritten = carried?.shardsWritten ?? 0;
  let writingShard = false;
  /** Set when the run ends (continues as new, or writes the report): no new shard starts. */
  let shardsStopped = false;
  const reportInput = {
    batchId: input.batchId,
    manifestRef: input.manifest.ref,
    sha256: input.manifest.sha256,
    delimiter: input.manifest.delimiter,
    outputPrefix: input.outputPrefix,
    onlyKeys: input.onlyKeys,
    onlyKeysRef: input.onlyKeysRef,
  };
  const writeShard = (index: number) =>
    report.writeReportShard({ ...reportInput, runTag: String(startedAt), shard: reportShardRange(index) });
  /** Every manifest position below this has ended (or was never this batch's to run). */
  const endedBelow = () => Math.min(offset, ...[...open.values()].map((r) => r.offset ?? 0));
  const writeShardsAsRowsEnd = async () => {
    for (;;) {
      await condition(() => cancelled || shardsStopped || (shardsWritten + 1) * REPORT_SHARD_ROWS <= endedBelow());
      if (cancelled || shardsStopped) return; // the end (or the next run) writes what is left
      writingShard = true;
      try {
        await writeShard(shardsWritten);
        shardsWritten++;
      } catch {
        return; // the end writes it, and the ones after it
      } finally {
        writingShard = false;
      }
    }
  };

  updateSearchAttributes(paused ? 'paused' : hold ? 'held' : 'running');
  // Runs started before leases were asked for ahead take them one row at a time, as their histories say.
  const pipelinedLeases = patched('pipelined-leases');
  // Rows outlive the run that started them (abandoned children that report back by signal), so continue-as-new no
  // longer waits for the rows in flight and the account's slots stay busy across runs. Runs started before that
  // drained at every run boundary, as their histories say.
  const outliveRuns = pipelinedLeases && patched('rows-outlive-runs');
  const shardReports = outliveRuns && patched('report-shards');
  if (shardReports && !redrive) void writeShardsAsRowsEnd();
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
    if (!redrive) manifestRows = page.total;
    for (const row of page.rows) {
      await condition(() => cancelled || failedEarly || (!paused && !hold && rowsInFlight() < concurrency));
      if (cancelled || failedEarly) break;
      const leaseId = `${input.batchId}/${row.key}/${runs}`;
      const rowId = `${input.batchId}/${row.key}`;
      /** The row's input; `reportTo` for a row that outlives this run. */
      const rowInput = (reportTo?: string): ItemInput => ({
        batchId: input.batchId,
        outputPrefix: input.outputPrefix,
        row,
        options: input.item,
        // One account's slots size their queue-ahead from the rows' job times; a pool's leases do not ask for them.
        slotLease: slotsId
          ? { workflowId: slotsId, leaseId, ...(poolId ? leaseAccount(grants.get(leaseId)) : { reportUsage: true }) }
          : undefined,
        ...(reportTo ? { reportTo } : {}),
      });
      const startChild = () => scope.run(() => executeChild(rowWorkflow, { workflowId: rowId, args: [rowInput()] }));
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
      if (outliveRuns) {
        const rowFailed = (err: unknown): RowFinished => ({ rowKey: row.key, status: lost(err).status });
        open.set(row.key, { leaseId, offset });
        starting.add(row.key);
        void (async () => {
          let child: ChildWorkflowHandle<typeof itemWorkflow>;
          try {
            const slot = await acquire(leaseId, rowId, row);
            if (!slot) return void open.delete(row.key); // the batch stopped before a slot came: the row never started
            child = await scope.run(() =>
              startRowWorkflow(rowWorkflow, {
                workflowId: rowId,
                parentClosePolicy: ParentClosePolicy.ABANDON,
                args: [rowInput(workflowInfo().workflowId)],
              }),
            );
          } catch (err) {
            // Not started (cancelled while starting, or the id is taken): the slot was never used.
            if (open.has(row.key)) await release(leaseId);
            return void finished(rowFailed(err));
          } finally {
            starting.delete(row.key);
          }
          // While this run lasts it hears the child end too: the row's signal was lost, or the row failed or was
          // terminated and will never send it.
          await child.result().then(
            (r) => finished({ rowKey: row.key, status: r.status, modeMismatch: modeMismatch(r) || undefined }),
            async (err: unknown) => {
              if (open.has(row.key)) await release(leaseId);
              finished(rowFailed(err));
            },
          );
        })();
      } else if (pipelinedLeases) {
        // Ask for the row's slot and go on to the next row: many asks travel in one workflow task, and each row
        // starts when its grant arrives. A row that ends has given its slot back itself; one that failed, timed out
        // or was terminated has not, so the batch does.
        inFlight.set(
          row.key,
          (async () => {
            if (!(await acquire(leaseId, rowId, row))) return; // the batch stopped before a slot came: the row never started
            await startChild().then(record, async (err: unknown) => {
              await release(leaseId);
              record(lost(err));
            });
          })().finally(() => inFlight.delete(row.key)),
        );
      } else {
        if (!(await acquire(leaseId, rowId, row))) break;
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
        if (outliveRuns) {
          // The last row asked for: this run waits for the open rows itself.
          if (offset >= page.total) break;
          // Rows keep running across the boundary: wait only until every row asked for has its slot and has started.
          await condition(() => starting.size === 0);
          if (cancelled || failedEarly) break;
          await condition(allHandlersFinished);
          updateSearchAttributes(paused ? 'paused' : hold ? 'held' : 'running');
          shardsStopped = true;
          await condition(() => !writingShard);
          const stillOpen = [...open].map(([key, r]) => ({ key, leaseId: r.leaseId, offset: r.offset }));
          return continueAsNew<typeof batchWorkflow>({
            ...input,
            carried: { offset, counts, startedAt, runs, concurrency, paused, open: stillOpen, hold, heldRows, shardsWritten, manifestRows },
          });
        }
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
  await condition(() => open.size === 0);
  if (shardReports) {
    // The shards not written yet (all of a redrive's: its rows' positions are not the manifest's), a few at a time.
    shardsStopped = true;
    await condition(() => !writingShard);
    if (manifestRows === undefined) manifestRows = (await writeShard(shardsWritten++)).manifestRows;
    const left = Array.from({ length: Math.max(0, reportShardCount(manifestRows) - shardsWritten) }, (_, i) => shardsWritten + i);
    for (let i = 0; i < left.length; i += SHARD_WRITES) await Promise.all(left.slice(i, i + SHARD_WRITES).map(writeShard));
    shardsWritten += left.length;
  }
  const written = await report.writeReport({
    ...reportInput,
    // Merged from the shards of this batch's runs (one tag for all of them); unset in runs from before shards, which
    // read every row's result here.
    ...(shardReports ? { shards: reportShardCount(manifestRows ?? 0), runTag: String(startedAt) } : {}),
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
