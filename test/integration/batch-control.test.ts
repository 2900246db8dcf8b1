import { WorkflowUpdateFailedError } from '@temporalio/client';
import { prepareBatch, startBatch, waitForBatch } from '../../client/batches';
import { cancelBatchSignal, pauseUpdate, progressQuery, resumeUpdate, setConcurrencyUpdate } from '../../contracts/handlers';
import type { BatchProgress } from '../../contracts/batch';
import { unique } from './helpers';
import { defaultOptions, jsonl, maxOutstandingJobs, startPipeline, writeManifest, type Pipeline } from './pipeline-harness';

let p: Pipeline;

beforeAll(async () => {
  p = await startPipeline({ speed: 50 });
});
afterAll(() => p?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function start(rows: number, tag: string, concurrency = 2) {
  const manifest = writeManifest(
    `${tag}.jsonl`,
    jsonl(Array.from({ length: rows }, (_, i) => ({ id: `${tag}-${i}`, prompt: `${tag} product ${i} ${unique('p')}` }))),
  );
  const { input } = await prepareBatch(
    manifest,
    p.s3,
    p.config.s3.bucket,
    p.taskQueue,
    defaultOptions({ concurrency, outputPrefix: unique(`out/${tag}`) }),
  );
  const handle = await startBatch(p.client, p.s3, p.config.s3.bucket, p.taskQueue, manifest, input);
  const progress = () => handle.query(progressQuery);
  const jobs = () => p.ledger().filter((j) => j.state?.startsWith(`${tag}-`));
  return { handle, input, progress, jobs };
}

test('pause stops new rows (the ones in flight finish), resume carries on to the end', async () => {
  const b = await start(8, 'pause');
  await until('the first row to finish', async () => (await b.progress()).counts.succeeded >= 1);
  await b.handle.executeUpdate(pauseUpdate);
  await until('the rows in flight to drain', async () => (await b.progress()).inFlight === 0);
  const paused: BatchProgress = await b.progress();
  expect(paused.state).toBe('paused');
  expect(paused.counts.succeeded).toBeLessThan(8);
  const submitted = b.jobs().length;
  await sleep(3000);
  expect(b.jobs().length).toBe(submitted);
  expect((await b.progress()).counts).toEqual(paused.counts);

  await b.handle.executeUpdate(resumeUpdate);
  const { result } = await waitForBatch(p.client, b.input.batchId, () => undefined, 500);
  expect(result.counts).toMatchObject({ total: 8, succeeded: 8, failed: 0 });
  expect(b.jobs()).toHaveLength(8);
});

test('cancel stops the batch: rows in flight end CANCELLED, unstarted rows are never submitted, the report is written', async () => {
  const b = await start(10, 'cancel');
  await until('the first row to finish', async () => (await b.progress()).counts.succeeded >= 1);
  await b.handle.signal(cancelBatchSignal);
  const { result, ok } = await waitForBatch(p.client, b.input.batchId, () => undefined, 500);
  expect(ok).toBe(false);
  expect(result.cancelled).toBe(true);
  const c = result.counts;
  expect(c.succeeded).toBeGreaterThanOrEqual(1);
  expect(c.succeeded + c.cancelled + c.failed).toBeLessThan(10);
  // Nothing is submitted after the cancel settles.
  const submitted = b.jobs().length;
  await sleep(2000);
  expect(b.jobs().length).toBe(submitted);
  expect(submitted).toBeLessThan(10);
  expect(result.rows).toBe(10);
});

test('set-concurrency changes the number of rows in flight; invalid values are refused', async () => {
  const b = await start(9, 'resize', 3);
  await expect(b.handle.executeUpdate(setConcurrencyUpdate, { args: [0] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
  const startedAt = Date.now();
  expect(await b.handle.executeUpdate(setConcurrencyUpdate, { args: [1] })).toBe(1);
  await until('in flight to fall to 1', async () => (await b.progress()).inFlight <= 1);
  const drainedAt = Date.now();
  const { result } = await waitForBatch(p.client, b.input.batchId, () => undefined, 500);
  expect(result.counts.succeeded).toBe(9);
  expect((await b.progress()).concurrency).toBe(1);
  expect(maxOutstandingJobs(b.jobs())).toBeLessThanOrEqual(3);
  expect(maxOutstandingJobs(b.jobs().filter((j) => j.submitTime > drainedAt))).toBeLessThanOrEqual(1);
  expect(drainedAt).toBeGreaterThanOrEqual(startedAt);
});
