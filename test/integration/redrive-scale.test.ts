import { createHash } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { prepareBatch, saveBatchRecord } from '../../client/batches';
import type { BatchInput, BatchProgress, BatchResult } from '../../contracts/batch';
import { progressQuery } from '../../contracts/handlers';
import { validateManifestBytes } from '../../manifest/validate';
import { readManifestBytes } from '../../manifest/source';
import { toRowRef } from '../../activities/manifest';
import { mapLimit } from '../../report/map-limit';
import { saveRowRecord } from '../../report/row-results';
import { runCli } from './cli';
import { unique } from './helpers';
import { defaultOptions, jsonl, startPipeline, writeManifest, type Pipeline } from './pipeline-harness';

// Issue 14, "Redrive at scale": the rows of a redrive travel as an object in the bucket, and the batch input carries
// only its reference. Done when a redrive of 20,000 failed rows starts and pages (the list itself, ~21 bytes a key,
// would pass Temporal's 2 MB payload limit near 12,000 rows, and be recorded again at every continue-as-new).

const ROWS = 20_000;
/** Every 101st row of the manifest succeeded: 20,200 rows, 20,000 failed. The redrive must take the failed ones only. */
const DONE_EVERY = 101;
const MANIFEST_ROWS = ROWS + ROWS / (DONE_EVERY - 1);
const succeeded = (i: number) => i % DONE_EVERY === DONE_EVERY - 1;
let p: Pipeline;

// A fast simulator: the rows that start should finish quickly, and the test cancels the batch long before the end.
beforeAll(async () => {
  p = await startPipeline({ speed: 1000, concurrency: 20, queueSize: 20 }, { MJ_CALLBACKS: '0' });
});
afterAll(() => p?.stop());

const bucket = () => p.config.s3.bucket;
const elapsed = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err; // between runs, or before the first workflow task, a query can fail
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test(`a redrive of ${ROWS.toLocaleString('en')} failed rows starts with a small input, and pages`, async () => {
  const timings: Record<string, string> = {};
  const tag = unique('scale');
  // Shorten rows: the cheapest valid row (no images, one job, no media stage).
  const rows = Array.from({ length: MANIFEST_ROWS }, (_, i) => ({
    id: `${tag}-${i}`,
    kind: 'shorten',
    prompt: `catalog item ${i}, soft light`,
  }));
  const manifest = writeManifest('redrive-scale.jsonl', jsonl(rows));

  // The earlier batch, as `run` leaves it: the manifest copied, the batch recorded; its rows recorded (failed, and a
  // few succeeded) without running them.
  let t = Date.now();
  const { input } = await prepareBatch(
    manifest,
    p.s3,
    bucket(),
    p.taskQueue,
    defaultOptions({ outputPrefix: unique('out/redrive-scale') }),
  );
  await saveBatchRecord(p.s3, bucket(), {
    batchId: input.batchId,
    manifest,
    input,
    startedAt: new Date().toISOString(),
    taskQueue: p.taskQueue,
  });
  const { bytes, sha256 } = await readManifestBytes(input.manifest.ref, p.s3);
  const validated = validateManifestBytes(input.manifest.ref, bytes, sha256);
  expect(validated.rows).toHaveLength(MANIFEST_ROWS);
  const failedKeys = validated.rows.filter((_, i) => !succeeded(i)).map((r) => r.key);
  const doneKeys = new Set(validated.rows.filter((_, i) => succeeded(i)).map((r) => r.key));
  expect(failedKeys).toHaveLength(ROWS);
  await mapLimit(validated.rows, 32, (row) =>
    saveRowRecord(p.s3, bucket(), input.outputPrefix, {
      batchId: input.batchId,
      row: toRowRef(input.outputPrefix, row),
      result: {
        rowKey: row.key,
        line: row.line,
        ...(doneKeys.has(row.key)
          ? { status: 'SUCCESS' as const }
          : { status: 'FAILED' as const, failureClass: 'generation' as const, reason: 'recorded by the test' }),
        taskIds: [],
        images: [],
      },
      finishedAt: new Date().toISOString(),
    }),
  );
  timings.recordFailures = elapsed(t);

  // The redrive, as a user starts it (without --wait).
  t = Date.now();
  const before = p.ledger().length;
  const redrive = await runCli(['redrive', input.batchId, '--json', '--concurrency', '20', '--account-slots', '0'], { env: p.cliEnv });
  timings.redriveCommand = elapsed(t);
  expect(redrive.stderr).not.toMatch(/Error/);
  expect(redrive.code).toBe(0);
  const started = JSON.parse(redrive.stdout) as { batchId: string; runId: string; outputPrefix: string };
  expect(started.batchId).toMatch(new RegExp(`^${input.batchId}-redrive-`));
  expect(started.outputPrefix).toBe(input.outputPrefix);
  const handle = p.client.workflow.getHandle(started.batchId);

  try {
    // The workflow input, as recorded in history, is small, and names the rows by reference only.
    const history = await p.client.workflow.getHandle(started.batchId, started.runId).fetchHistory();
    const payload = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    expect(payload.data!.length).toBeLessThan(10_000);
    const recorded = JSON.parse(Buffer.from(payload.data!).toString('utf8')) as BatchInput;
    expect(recorded.onlyKeys).toBeUndefined();
    expect(recorded.onlyKeysRef).toMatchObject({ count: ROWS, key: expect.stringMatching(new RegExp(`^_redrives/${started.batchId}/`)) });

    // The keys object: every failed row, matching the reference.
    const ref = recorded.onlyKeysRef!;
    const res = await p.s3.send(new GetObjectCommand({ Bucket: bucket(), Key: ref.key }));
    const body = Buffer.from(await res.Body!.transformToByteArray());
    expect(createHash('sha256').update(body).digest('hex')).toBe(ref.sha256);
    const listed = (JSON.parse(body.toString('utf8')) as { keys: string[] }).keys;
    expect(listed).toHaveLength(ROWS);
    expect(listed).toEqual(failedKeys);

    // The batch pages: the activity read the object (the total is its 20,000 rows, not the manifest's 20,200) and
    // rows start.
    t = Date.now();
    const progress = await until<BatchProgress>(
      'the redrive to start rows',
      async () => {
        const q = await handle.query(progressQuery);
        const done = q.counts.succeeded + q.counts.failed + q.counts.skipped + q.counts.cancelled + q.counts.unknownSubmit;
        // Past the first page of 50: the batch read a second page through the same object.
        return q.counts.total === ROWS && done + q.inFlight > 50 ? q : undefined;
      },
      60_000,
    );
    timings.firstRows = elapsed(t);
    expect(progress.counts.total).toBe(ROWS);
    const submitted = await until(
      'jobs in the ledger',
      async () => {
        const mine = p
          .ledger()
          .slice(before)
          .filter((j) => j.state?.startsWith(`${tag}-`));
        return mine.length > 0 ? mine : undefined;
      },
      30_000,
    );
    expect(submitted[0]!.action).toBe('SHORTEN');

    // The first run read several pages, and every page's activity input is as small as the workflow's.
    const firstRun = await p.client.workflow.getHandle(started.batchId, started.runId).fetchHistory();
    const scheduled = firstRun.events!.filter((e) => e.activityTaskScheduledEventAttributes);
    expect(
      scheduled.filter((e) => e.activityTaskScheduledEventAttributes!.activityType!.name === 'readManifestPage').length,
    ).toBeGreaterThanOrEqual(2);
    for (const e of scheduled) {
      const attrs = e.activityTaskScheduledEventAttributes!;
      expect([attrs.activityType!.name, attrs.input!.payloads![0]!.data!.length < 10_000]).toEqual([attrs.activityType!.name, true]);
    }
  } finally {
    // Stop it rather than run 20,000 jobs; the report is written for the whole manifest.
    t = Date.now();
    const cancel = await runCli(['cancel', started.batchId, '--json'], { env: p.cliEnv });
    expect(cancel.code).toBe(0);
  }
  const result = (await handle.result()) as BatchResult;
  timings.cancelAndReport = elapsed(t);
  expect(result.cancelled).toBe(true);
  expect(result.counts.total).toBe(ROWS);
  // The report activity read the same object: this batch's rows are the 20,000, the files cover the whole manifest.
  expect(result.rows).toBe(ROWS);
  expect(result.reportRows).toBe(MANIFEST_ROWS);
  const ran = p
    .ledger()
    .slice(before)
    .filter((j) => j.state?.startsWith(`${tag}-`));
  expect(ran.length).toBeGreaterThan(0);
  expect(ran.length).toBeLessThan(ROWS / 10);
  expect(ran.filter((j) => doneKeys.has(j.state!))).toEqual([]);
  console.log(`redrive-scale timings: ${JSON.stringify(timings)}`);
}, 720_000);
