// batchWorkflow and itemWorkflow as they are, on a local dev server, with stub activities: counting, the failure
// threshold, pause/resume and cancel, checked against what the stubs were asked to do.
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import {
  batchInput,
  cancelBatchSignal,
  childrenStarted,
  pauseUpdate,
  progressUntil,
  resumeUpdate,
  setConcurrencyUpdate,
  startBatch,
  Stubs,
  submitRetryDelays,
  unique,
  withWorkers,
  useWorkflowTestEnv,
  type BatchHandle,
  type BatchResult,
  type StubRow,
} from './harness';

const env = useWorkflowTestEnv();

const ok = (key: string, extra: Partial<StubRow> = {}): StubRow => ({ key, script: { kind: 'ok' }, ...extra });
const keysOf = (rows: StubRow[]) => rows.map((r) => r.key);
const statusOf = (stubs: Stubs, key: string) => stubs.stored.get(key)?.status;

test('counts every outcome: successes, classified failures, an ambiguous submit, skipped rows; the report follows every row', async () => {
  const rows: StubRow[] = [
    ok('ok-1'),
    ok('ok-2'),
    ok('ok-3'),
    ok('ok-4', { script: { kind: 'ok', polls: 3 } }),
    ok('mode-mismatch', { mode: 'relax', script: { kind: 'ok', modeRan: 'fast' } }),
    { key: 'refused', script: { kind: 'refused-then-ok', refusals: 1 } },
    { key: 'banned-1', script: { kind: 'submit-fails', type: 'Mj.banned-prompt' } },
    { key: 'banned-2', script: { kind: 'submit-fails', type: 'Mj.banned-prompt' } },
    { key: 'invalid', script: { kind: 'submit-fails', type: 'Mj.validation' } },
    { key: 'gen-failed', script: { kind: 'task-fails', reason: 'the upstream job failed' } },
    { key: 'no-download', script: { kind: 'media-fails', type: 'Media.download' } },
    // At most once: the API cannot say whether the earlier attempt created the job, so the row is not paid for again.
    { key: 'ambiguous', script: { kind: 'submit-fails', type: 'Mj.ambiguous', details: ['previous-attempt-unknown'] } },
    { key: 'done-1', script: { kind: 'done' } },
    { key: 'done-2', script: { kind: 'done' } },
  ];
  const batchId = unique('count');
  const taskQueue = unique('tq-count');
  const stubs = new Stubs(batchId, rows);
  const input = batchInput(stubs, taskQueue, { concurrency: 3, pageSize: 4 });

  const result = await withWorkers(env.current, taskQueue, stubs, async () => (await startBatch(env.current, taskQueue, input)).result());

  expect(result).toMatchObject({ batchId, failedEarly: false, cancelled: false });
  expect(result.counts).toEqual({ total: 14, succeeded: 6, failed: 5, unknownSubmit: 1, skipped: 2, cancelled: 0, modeMismatches: 1 });

  // The manifest is read page by page.
  expect(stubs.pages.map((p) => [p.offset, p.limit])).toEqual([
    [0, 4],
    [4, 4],
    [8, 4],
    [12, 4],
  ]);
  // Every row looks up its stored result once; done rows are never submitted, the others once (the refused one twice).
  expect([...stubs.loads].sort()).toEqual(keysOf(rows).sort());
  const submitted = stubs.submittedKeys();
  expect(submitted).not.toContain('done-1');
  expect(submitted).not.toContain('done-2');
  for (const key of keysOf(rows).filter((k) => !k.startsWith('done-')))
    expect([key, submitted.filter((k) => k === key).length]).toEqual([key, key === 'refused' ? 2 : 1]);
  expect(stubs.submits.every((s) => s.input.op === 'new' && s.input.policy === 'at-most-once')).toBe(true);
  // Images are stored for the jobs that succeeded, on the media task queue's worker.
  expect(stubs.images.map((i) => i.rowKey).sort()).toEqual(['mode-mismatch', 'no-download', 'ok-1', 'ok-2', 'ok-3', 'ok-4', 'refused']);

  // Each row's result was saved with the class the item workflow gives its failure; skipped rows keep their result.
  const saved = (key: string) => stubs.saves.filter((s) => s.rowKey === key);
  expect(saved('done-1')).toHaveLength(0);
  expect(saved('done-2')).toHaveLength(0);
  const outcome = (key: string) => {
    const [r, ...more] = saved(key);
    expect(more).toHaveLength(0);
    return { status: r?.status, failureClass: r?.failureClass };
  };
  for (const key of ['ok-1', 'ok-2', 'ok-3', 'ok-4', 'mode-mismatch', 'refused'])
    expect([key, outcome(key)]).toEqual([key, { status: 'SUCCESS', failureClass: undefined }]);
  expect(outcome('banned-1')).toEqual({ status: 'FAILED', failureClass: 'banned' });
  expect(outcome('banned-2')).toEqual({ status: 'FAILED', failureClass: 'banned' });
  expect(outcome('invalid')).toEqual({ status: 'FAILED', failureClass: 'validation' });
  expect(outcome('gen-failed')).toEqual({ status: 'FAILED', failureClass: 'generation' });
  expect(saved('gen-failed')[0]!.reason).toBe('the upstream job failed');
  expect(outcome('no-download')).toEqual({ status: 'FAILED', failureClass: 'download' });
  expect(outcome('ambiguous')).toEqual({ status: 'UNKNOWN_SUBMIT', failureClass: 'ambiguous' });
  expect(saved('mode-mismatch')[0]).toMatchObject({ modeRequested: 'relax', modeRan: 'fast' });
  expect(saved('ok-1')[0]!.images).toHaveLength(1);
  // A job still running is polled again until it ends.
  expect(stubs.fetches.filter((id) => id.startsWith('task-ok-4-'))).toHaveLength(3);
  expect(stubs.fetches.filter((id) => id.startsWith('task-ok-1-'))).toHaveLength(1);

  // The report is written once, after every row's result is in, and what it saw matches the batch's counts.
  expect(stubs.reports).toHaveLength(1);
  const [call] = stubs.reports;
  // Merged from the report's shards (a single one here), all written under the batch's one run tag.
  expect(call!.input).toEqual({
    batchId,
    manifestRef: stubs.manifestRef,
    sha256: stubs.sha256,
    outputPrefix: stubs.outputPrefix,
    shards: 1,
    runTag: stubs.shardWrites[0]!.runTag,
  });
  expect(stubs.shardWrites.map((w) => w.shard)).toEqual([{ index: 0, offset: 0, limit: 1000 }]);
  const seen = Object.values(call!.statusesAtCall);
  const c = result.counts;
  expect(seen.filter((s) => s === 'SUCCESS')).toHaveLength(c.succeeded + c.skipped); // skipped rows' stored results say SUCCESS
  expect(seen.filter((s) => s === 'FAILED')).toHaveLength(c.failed);
  expect(seen.filter((s) => s === 'UNKNOWN_SUBMIT')).toHaveLength(c.unknownSubmit);
  expect(seen.filter((s) => s === 'MISSING' || s === 'CANCELLED')).toHaveLength(0);
  expect(result).toMatchObject({ rows: 14, reportRows: 14, resultsCsv: `mem://${stubs.outputPrefix}/results.csv` });
});

describe.each([
  { threshold: 'maxFailed: 2', over: { maxFailed: 2 } },
  { threshold: 'maxFailedPercent: 20', over: { maxFailedPercent: 20 } },
])('over the failure threshold ($threshold)', ({ over }) => {
  test('the batch stops with FailureThresholdExceeded; later rows are never submitted; the report is written', async () => {
    // One row at a time: the third failure (row 5 of 10: 3 > 2, and 30% > 20%) stops the batch before row 6.
    const rows: StubRow[] = [
      ok('r0'),
      { key: 'r1', script: { kind: 'submit-fails', type: 'Mj.banned-prompt' } },
      ok('r2'),
      { key: 'r3', script: { kind: 'task-fails', reason: 'failed upstream' } },
      { key: 'r4', script: { kind: 'submit-fails', type: 'Mj.validation' } },
      ok('r5'),
      ok('r6'),
      ok('r7'),
      ok('r8'),
      ok('r9'),
    ];
    const batchId = unique('threshold');
    const taskQueue = unique('tq-threshold');
    const stubs = new Stubs(batchId, rows);
    const input = batchInput(stubs, taskQueue, { concurrency: 1, ...over });

    const { error, started } = await withWorkers(env.current, taskQueue, stubs, async () => {
      const handle = await startBatch(env.current, taskQueue, input);
      const err = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      return { error: err, started: await childrenStarted(handle) };
    });

    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    const failure = cause as ApplicationFailure;
    expect(failure.type).toBe('FailureThresholdExceeded');
    expect(failure.nonRetryable).toBe(true);
    const result = failure.details?.[0] as BatchResult;
    expect(result).toMatchObject({ batchId, failedEarly: true, cancelled: false });
    expect(result.counts).toEqual({ total: 10, succeeded: 2, failed: 3, unknownSubmit: 0, skipped: 0, cancelled: 0 });

    // Rows after the threshold were never started, let alone submitted.
    expect(stubs.submittedKeys()).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    expect(stubs.loads).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    expect(started).toEqual(['r0', 'r1', 'r2', 'r3', 'r4'].map((k) => `${batchId}/${k}`));

    // The report was still written, once, after the five rows' results were saved.
    expect(stubs.reports).toHaveLength(1);
    expect(stubs.reports[0]!.statusesAtCall).toEqual({
      r0: 'SUCCESS',
      r1: 'FAILED',
      r2: 'SUCCESS',
      r3: 'FAILED',
      r4: 'FAILED',
      r5: 'MISSING',
      r6: 'MISSING',
      r7: 'MISSING',
      r8: 'MISSING',
      r9: 'MISSING',
    });
  });
});

test('pause: rows in flight finish, no new row starts while paused; resume finishes every row', async () => {
  const rows = Array.from({ length: 6 }, (_, i) => ok(`p${i}`, { gated: true }));
  const batchId = unique('pause');
  const taskQueue = unique('tq-pause');
  const stubs = new Stubs(batchId, rows);
  const input = batchInput(stubs, taskQueue, { concurrency: 2 });

  const { result, handle } = await withWorkers(env.current, taskQueue, stubs, async () => {
    const handle = await startBatch(env.current, taskQueue, input);
    // The first two rows are in flight, their submits held by the gate.
    await stubs.until('two submits', () => stubs.submits.length === 2);
    await handle.executeUpdate(pauseUpdate);
    const paused = await progressUntil(handle, 'the pause', (p) => p.state === 'paused');
    expect(paused.inFlight).toBe(2);

    // Let the two rows finish: the batch counts them, and starts nothing else.
    stubs.openGate();
    await stubs.until('the two rows to be saved', () => stubs.saves.length === 2);
    const drained = await progressUntil(handle, 'the two rows to be counted', (p) => p.counts.succeeded === 2);
    expect(drained).toMatchObject({ state: 'paused', inFlight: 0, queued: 4 });
    // Another workflow task while paused (a resize): the batch looks at its rows again and still holds them.
    expect(await handle.executeUpdate(setConcurrencyUpdate, { args: [3] })).toBe(3);
    const resized = await progressUntil(handle, 'the resize', (p) => p.concurrency === 3);
    expect(resized).toMatchObject({ state: 'paused', inFlight: 0 });
    expect([...stubs.submittedKeys()].sort()).toEqual(['p0', 'p1']);
    expect(await childrenStarted(handle)).toEqual([`${batchId}/p0`, `${batchId}/p1`]);

    await handle.executeUpdate(resumeUpdate);
    return { result: await handle.result(), handle };
  });

  expect(result).toMatchObject({ batchId, failedEarly: false, cancelled: false });
  expect(result.counts).toEqual({ total: 6, succeeded: 6, failed: 0, unknownSubmit: 0, skipped: 0, cancelled: 0 });
  expect([...stubs.submittedKeys()].sort()).toEqual(keysOf(rows));
  expect(stubs.saves.map((s) => s.status)).toEqual(Array(6).fill('SUCCESS'));
  expect(stubs.reports).toHaveLength(1);
  expect((await childrenStarted(handle)).sort()).toEqual(keysOf(rows).map((k) => `${batchId}/${k}`));
});

test('cancel: rows in flight end CANCELLED, rows not started are never submitted, the report is written', async () => {
  // Row c0 goes through; every other row's submit waits at the gate, so c1 and c2 are in flight when the cancel comes.
  const rows = Array.from({ length: 8 }, (_, i) => ok(`c${i}`, { gated: i > 0 }));
  const batchId = unique('cancel');
  const taskQueue = unique('tq-cancel');
  const stubs = new Stubs(batchId, rows);
  const input = batchInput(stubs, taskQueue, { concurrency: 2 });

  const { result, started } = await withWorkers(env.current, taskQueue, stubs, async () => {
    const handle = await startBatch(env.current, taskQueue, input);
    await stubs.until('c0 saved and c1, c2 submitted', () => statusOf(stubs, 'c0') === 'SUCCESS' && stubs.submits.length === 3);
    await progressUntil(handle, 'c0 to be counted', (p) => p.counts.succeeded === 1);
    await handle.signal(cancelBatchSignal);
    return { result: await handle.result(), started: await childrenStarted(handle) };
  });

  expect(result).toMatchObject({ batchId, cancelled: true, failedEarly: false });
  expect(result.counts).toEqual({ total: 8, succeeded: 1, failed: 0, unknownSubmit: 0, skipped: 0, cancelled: 2 });
  // Rows in flight together start in either order.
  expect([...stubs.submittedKeys()].sort()).toEqual(['c0', 'c1', 'c2']);
  expect(started).toEqual(['c0', 'c1', 'c2'].map((k) => `${batchId}/${k}`));
  // The cancelled rows recorded why; the rows never started have no result.
  for (const key of ['c1', 'c2'])
    expect(stubs.saves.filter((s) => s.rowKey === key).map((s) => [s.status, s.failureClass])).toEqual([['CANCELLED', 'cancelled']]);
  expect(stubs.reports).toHaveLength(1);
  expect(stubs.reports[0]!.statusesAtCall).toEqual({
    c0: 'SUCCESS',
    c1: 'CANCELLED',
    c2: 'CANCELLED',
    c3: 'MISSING',
    c4: 'MISSING',
    c5: 'MISSING',
    c6: 'MISSING',
    c7: 'MISSING',
  });
  expect(result.rows).toBe(8);
});

/** The id of the batch's latest run: the first one unless the batch continued as new. */
const latestRun = async (handle: BatchHandle) => (await env.current.env.client.workflow.getHandle(handle.workflowId).describe()).runId;

describe('a stop while rows run across a run boundary', () => {
  test('a cancel reaches the rows an earlier run started: no later row is submitted, the report is written', async () => {
    // Two rows per run: the first run continues as new while g0 and g1 wait at the gate (they outlive it), and the
    // second run, with both slots of its concurrency taken, is cancelled.
    const rows = Array.from({ length: 6 }, (_, i) => ok(`g${i}`, { gated: true }));
    const batchId = unique('cancel-drain');
    const taskQueue = unique('tq-cancel-drain');
    const stubs = new Stubs(batchId, rows);
    const input = batchInput(stubs, taskQueue, { concurrency: 2, rowsPerRun: 2 });

    const { result, handle } = await withWorkers(env.current, taskQueue, stubs, async () => {
      const handle = await startBatch(env.current, taskQueue, input);
      await stubs.until('two submits', () => stubs.submits.length === 2);
      await handle.signal(cancelBatchSignal);
      await stubs.until('g0 and g1 to be saved', () => statusOf(stubs, 'g0') === 'CANCELLED' && statusOf(stubs, 'g1') === 'CANCELLED');
      // A run that went on anyway would have its rows pass the gate now, and the test would see them.
      stubs.openGate();
      return { result: await handle.result(), handle };
    });

    expect(result).toMatchObject({ batchId, cancelled: true, failedEarly: false });
    expect(result.counts).toEqual({ total: 6, succeeded: 0, failed: 0, unknownSubmit: 0, skipped: 0, cancelled: 2 });
    expect([...stubs.submittedKeys()].sort()).toEqual(['g0', 'g1']);
    expect(await latestRun(handle)).not.toBe(handle.firstExecutionRunId);
    expect(stubs.reports).toHaveLength(1);
    expect(stubs.reports[0]!.statusesAtCall).toEqual({
      g0: 'CANCELLED',
      g1: 'CANCELLED',
      g2: 'MISSING',
      g3: 'MISSING',
      g4: 'MISSING',
      g5: 'MISSING',
    });
  });

  test('a failure threshold hit ends the batch there with FailureThresholdExceeded; no later row is submitted', async () => {
    // r1 is refused after the first run continued as new with r0 (waiting at the gate) and r1 in flight: one failure
    // is over maxFailed 0, and the slot r1 leaves is not given to r2.
    const rows: StubRow[] = Array.from({ length: 8 }, (_, i) =>
      i === 1 ? { key: 'r1', script: { kind: 'submit-fails', type: 'Mj.banned-prompt' } } : ok(`r${i}`, { gated: i === 0 }),
    );
    const batchId = unique('threshold-drain');
    const taskQueue = unique('tq-threshold-drain');
    const stubs = new Stubs(batchId, rows);
    const input = batchInput(stubs, taskQueue, { concurrency: 2, rowsPerRun: 2, maxFailed: 0 });

    const { error, handle } = await withWorkers(env.current, taskQueue, stubs, async () => {
      const handle = await startBatch(env.current, taskQueue, input);
      await stubs.until('r1 to be saved', () => statusOf(stubs, 'r1') === 'FAILED');
      await progressUntil(handle, 'the threshold to stop the batch', (p) => p.counts.failed === 1);
      stubs.openGate();
      return {
        error: await handle.result().then(
          () => undefined,
          (e: unknown) => e,
        ),
        handle,
      };
    });

    expect(error).toBeInstanceOf(WorkflowFailedError);
    const failure = (error as WorkflowFailedError).cause as ApplicationFailure;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe('FailureThresholdExceeded');
    const result = failure.details?.[0] as BatchResult;
    expect(result).toMatchObject({ batchId, failedEarly: true, cancelled: false });
    expect(result.counts).toEqual({ total: 8, succeeded: 1, failed: 1, unknownSubmit: 0, skipped: 0, cancelled: 0 });
    expect([...stubs.submittedKeys()].sort()).toEqual(['r0', 'r1']);
    expect(await latestRun(handle)).not.toBe(handle.firstExecutionRunId);
    expect(stubs.reports).toHaveLength(1);
    expect(stubs.reports[0]!.statusesAtCall).toMatchObject({ r0: 'SUCCESS', r1: 'FAILED', r2: 'MISSING', r7: 'MISSING' });
  });
});

test('a submit refused with Retry-After is tried again after the time the API asked for, not the backoff', async () => {
  // The stub refuses twice with Retry-After 10 ms; the backoff alone would wait 2 s, then 4 s.
  const rows: StubRow[] = [{ key: 'limited', script: { kind: 'refused-then-ok', refusals: 2 } }];
  const batchId = unique('retry-after');
  const taskQueue = unique('tq-retry-after');
  const stubs = new Stubs(batchId, rows);
  const input = batchInput(stubs, taskQueue, { concurrency: 1 });

  const result = await withWorkers(env.current, taskQueue, stubs, async () => (await startBatch(env.current, taskQueue, input)).result());

  expect(result.counts).toMatchObject({ total: 1, succeeded: 1, failed: 0 });
  expect(stubs.submittedKeys()).toEqual(['limited', 'limited', 'limited']);
  expect(await submitRetryDelays(env.current, `${batchId}/limited`)).toEqual([10, 10]);
});
