import { ensureAccountSlots } from '../../client/account-slots';
import { waitForBatch } from '../../client/batches';
import { accountSlotsWorkflowId, USAGE_MIN_SAMPLES } from '../../contracts/account-slots';
import { slotsQuery } from '../../contracts/handlers';
import { unique } from './helpers';
import { jsonl, maxOutstandingJobs, startOnAccount, startPipeline, writeManifest, type Pipeline } from './pipeline-harness';

let p: Pipeline;

beforeAll(async () => {
  p = await startPipeline({ speed: 50 });
});
afterAll(() => p?.stop());

async function startOne(tag: string, account: string, slots: number, queueAhead = 0) {
  const rows = Array.from({ length: 6 }, (_, i) => ({ id: `${tag}-${i}`, prompt: `${tag} lamp ${i} ${unique('x')}` }));
  const manifest = writeManifest(`${tag}.jsonl`, jsonl(rows));
  const input = await startOnAccount(p, manifest, { concurrency: 6, account, slots, queueAhead, outputPrefix: unique(`out/${tag}`) });
  return input.batchId;
}

test('two batches on one account share its slots: never more jobs outstanding than the account has', async () => {
  const account = unique('acct');
  const [a, b] = await Promise.all([startOne('share-a', account, 3), startOne('share-b', account, 3)]);
  const [ra, rb] = await Promise.all([waitForBatch(p.client, a, () => undefined, 500), waitForBatch(p.client, b, () => undefined, 500)]);
  expect(ra.result.counts.succeeded).toBe(6);
  expect(rb.result.counts.succeeded).toBe(6);

  const jobs = p.ledger().filter((j) => /^share-[ab]-/.test(j.state ?? ''));
  expect(jobs).toHaveLength(12);
  expect(maxOutstandingJobs(jobs)).toBeLessThanOrEqual(3);
  // Both batches really ran at the same time (otherwise the limit above proves nothing).
  const spans = ['share-a-', 'share-b-'].map((t) => {
    const mine = jobs.filter((j) => j.state!.startsWith(t));
    return [Math.min(...mine.map((j) => j.submitTime)), Math.max(...mine.map((j) => j.finishTime ?? 0))] as const;
  });
  expect(spans[0]![0] < spans[1]![1] && spans[1]![0] < spans[0]![1]).toBe(true);

  // Every lease was given back.
  const state = await p.client.workflow.getHandle(accountSlotsWorkflowId(p.taskQueue, account)).query(slotsQuery);
  expect(state).toMatchObject({ slots: 3, held: [], waiting: 0 });
});

test("changing the account's slots takes effect for the next batch", async () => {
  const account = unique('acct');
  await ensureAccountSlots(p.client, p.taskQueue, account, 2);
  await ensureAccountSlots(p.client, p.taskQueue, account, 1);
  const id = await startOne('resized', account, 1);
  const { result } = await waitForBatch(p.client, id, () => undefined, 500);
  expect(result.counts.succeeded).toBe(6);
  expect(maxOutstandingJobs(p.ledger().filter((j) => j.state?.startsWith('resized-')))).toBe(1);
});

test("queue-ahead lets that many more jobs wait in the API's queue, and no more", async () => {
  const account = unique('acct');
  const id = await startOne('ahead', account, 1, 2);
  const { result } = await waitForBatch(p.client, id, () => undefined, 500);
  expect(result.counts.succeeded).toBe(6);
  const jobs = p.ledger().filter((j) => j.state?.startsWith('ahead-'));
  // One slot plus two queued: three outstanding at the busiest moment, never four.
  expect(maxOutstandingJobs(jobs)).toBe(3);
  const state = await p.client.workflow.getHandle(accountSlotsWorkflowId(p.taskQueue, account)).query(slotsQuery);
  expect(state).toMatchObject({ slots: 1, queueAhead: 2, held: [], waiting: 0 });
});

test("with a range, the queue-ahead grows from the rows' measured refills once enough leases report, within the most", async () => {
  const account = unique('acct');
  const rows = Array.from({ length: 14 }, (_, i) => ({ id: `adapt-${i}`, prompt: `adapt lamp ${i} ${unique('x')}` }));
  const manifest = writeManifest('adapt.jsonl', jsonl(rows));
  const input = await startOnAccount(p, manifest, {
    concurrency: 8,
    account,
    slots: 1,
    queueAhead: 0,
    maxQueueAhead: 3,
    outputPrefix: unique('out/adapt'),
  });
  const { result } = await waitForBatch(p.client, input.batchId, () => undefined, 500);
  expect(result.counts.succeeded).toBe(14);

  const jobs = p
    .ledger()
    .filter((j) => j.state?.startsWith('adapt-'))
    .sort((a, b) => a.submitTime - b.submitTime);
  expect(jobs).toHaveLength(14);
  // The least (none waiting) until enough leases reported: the first jobs ran one after another ...
  expect(maxOutstandingJobs(jobs.slice(0, USAGE_MIN_SAMPLES + 1))).toBe(1);
  // ... then refills, which always take some time, asked for jobs waiting in the API's queue: never more than the most.
  const most = maxOutstandingJobs(jobs);
  expect(most).toBeGreaterThanOrEqual(2);
  expect(most).toBeLessThanOrEqual(1 + 3);

  // Sized from what the API said the jobs took: the median of the simulator's own job times.
  const state = await p.client.workflow.getHandle(accountSlotsWorkflowId(p.taskQueue, account)).query(slotsQuery);
  const ran = jobs.map((j) => j.finishTime! - j.startTime!).sort((a, b) => a - b);
  expect(state).toMatchObject({ slots: 1, queueAheadRange: { least: 0, most: 3 }, held: [], waiting: 0 });
  expect(state.refill).toMatchObject({ samples: 14, ranMsMedian: ran[Math.floor((ran.length - 1) / 2)] });
  expect(state.refill!.overheadMsP90).toBeGreaterThan(0);
});
