// Rows outlive the batch run that started them: continue-as-new no longer waits for the rows in flight, and each
// row is counted exactly once, whichever run hears of it (real workflow code on a dev server, stub activities).
import { batchInput, startBatch, Stubs, unique, withWorkers, useWorkflowTestEnv, type BatchHandle, type StubRow } from './harness';

const env = useWorkflowTestEnv();

const ok = (key: string, extra: Partial<StubRow> = {}): StubRow => ({ key, script: { kind: 'ok' }, ...extra });
const statusOf = (stubs: Stubs, key: string) => stubs.stored.get(key)?.status;

/** The runs of a batch so far, oldest first, from the server's visibility. */
async function runsOf(handle: BatchHandle): Promise<string[]> {
  const runs: { runId: string; start: number }[] = [];
  for await (const wf of env.current.env.client.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` }))
    runs.push({ runId: wf.runId, start: wf.startTime.getTime() });
  return runs.sort((a, b) => a.start - b.start).map((r) => r.runId);
}

test('rows started by one run keep running while the next runs start and finish others; every row is counted once', async () => {
  // One row per run: g0 and g1 wait at the gate from the first two runs while later runs start, and finish, the rest.
  const rows = [ok('g0', { gated: true }), ok('g1', { gated: true }), ...Array.from({ length: 6 }, (_, i) => ok(`r${i}`))];
  const batchId = unique('outlive');
  const taskQueue = unique('tq-outlive');
  const stubs = new Stubs(batchId, rows);
  const input = batchInput(stubs, taskQueue, { concurrency: 3, rowsPerRun: 1 });

  const { result, handle, doneBeforeGate } = await withWorkers(env.current, taskQueue, stubs, async () => {
    const handle = await startBatch(env.current, taskQueue, input);
    // With drains, no row after g0 could start before g0 ended: here all of r0..r5 end while g0 and g1 wait.
    await stubs.until('r0..r5 to be saved', () => rows.slice(2).every((r) => statusOf(stubs, r.key) === 'SUCCESS'), 60_000);
    const doneBeforeGate = [...stubs.stored.keys()].sort();
    stubs.openGate();
    return { result: await handle.result(), handle, doneBeforeGate };
  });

  expect(doneBeforeGate).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
  expect(result.counts).toEqual({ total: 8, succeeded: 8, failed: 0, unknownSubmit: 0, skipped: 0, cancelled: 0 });
  expect([...stubs.submittedKeys()].sort()).toEqual(['g0', 'g1', 'r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
  // A run per row, and the rows of the first runs were counted by a later one.
  expect((await runsOf(handle)).length).toBe(8);
  expect(stubs.reports).toHaveLength(1);
  expect(Object.values(stubs.reports[0]!.statusesAtCall).every((s) => s === 'SUCCESS')).toBe(true);
});

test('a row carried over from an earlier run that is terminated is counted as failed; the batch still finishes', async () => {
  const rows = [ok('stuck', { gated: true }), ok('next')];
  const batchId = unique('outlive-terminated');
  const taskQueue = unique('tq-outlive-terminated');
  const stubs = new Stubs(batchId, rows);
  const input = batchInput(stubs, taskQueue, { concurrency: 2, rowsPerRun: 1, carriedRowsCheckMs: 1_000 });

  const result = await withWorkers(env.current, taskQueue, stubs, async () => {
    const handle = await startBatch(env.current, taskQueue, input);
    await stubs.until('next to be saved', () => statusOf(stubs, 'next') === 'SUCCESS');
    // `stuck` waits at the gate in a workflow the first run started: terminated, it never tells the batch.
    await env.current.env.client.workflow.getHandle(`${batchId}/stuck`).terminate('test: a row lost for good');
    return handle.result();
  });

  expect(result.counts).toEqual({ total: 2, succeeded: 1, failed: 1, unknownSubmit: 0, skipped: 0, cancelled: 0 });
  expect(statusOf(stubs, 'stuck')).toBeUndefined(); // terminated before it stored anything
});

test('the report is written in shards as rows end: the first range is written while later rows still run, the end merges', async () => {
  // 1,000 rows done in an earlier run (skipped at once), then 5 whose submits wait at the gate.
  const rows: StubRow[] = [
    ...Array.from({ length: 1000 }, (_, i): StubRow => ({ key: `d${i}`, script: { kind: 'done' } })),
    ...Array.from({ length: 5 }, (_, i) => ok(`g${i}`, { gated: true })),
  ];
  const batchId = unique('shards');
  const taskQueue = unique('tq-shards');
  const stubs = new Stubs(batchId, rows);
  const input = batchInput(stubs, taskQueue, { concurrency: 50, rowsPerRun: 300, pageSize: 100 });

  const result = await withWorkers(env.current, taskQueue, stubs, async () => {
    const handle = await startBatch(env.current, taskQueue, input);
    await stubs.until('the first shard', () => stubs.shardWrites.length === 1, 120_000);
    // Written while the gated rows had not ended: incrementally, not at the end.
    expect(rows.slice(1000).some((r) => stubs.stored.has(r.key))).toBe(false);
    stubs.openGate();
    return handle.result();
  });

  expect(result.counts).toMatchObject({ total: 1005, succeeded: 5, skipped: 1000 });
  expect(stubs.shardWrites.map((w) => w.shard)).toEqual([
    { index: 0, offset: 0, limit: 1000 },
    { index: 1, offset: 1000, limit: 1000 },
  ]);
  // One run tag for every run of the batch, so the merge keeps shards written before a continue-as-new.
  expect(new Set(stubs.shardWrites.map((w) => w.runTag)).size).toBe(1);
  expect(stubs.reports).toHaveLength(1);
  expect(stubs.reports[0]!.input.shards).toBe(2);
  expect(stubs.reports[0]!.input.runTag).toBe(stubs.shardWrites[0]!.runTag);
}, 180_000);
