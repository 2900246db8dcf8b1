// A worker with MJ_BATCH_METRICS_LISTEN set runs a small batch on the real stack; /metrics is then scraped as
// Prometheus would, and its counters are checked against what the simulator's ledger and S3 say happened.
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { ensureAccountPool } from '../../client/account-pool';
import { accountOf } from '../../client/account-slots';
import { waitForBatch } from '../../client/batches';
import { accountPoolWorkflowId } from '../../contracts/account-pool';
import { poolSlotsReader } from '../../metrics/slots';
import { loadRowRecord } from '../../report/row-results';
import { freePort } from '../../stack/processes';
import { byLabel, parseExposition, valueOf, type Sample } from '../metrics-text';
import { unique } from './helpers';
import { jsonl, startOnAccount, startPipeline, writeManifest, type Pipeline } from './pipeline-harness';

let p: Pipeline;
let url: string;

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}/metrics`;
  p = await startPipeline({ speed: 50, faults: { bannedWords: ['forbidden'] } }, { MJ_BATCH_METRICS_LISTEN: `127.0.0.1:${port}` });
});
afterAll(() => p?.stop());

async function scrape(): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, samples: parseExposition(text) };
}

const tag = unique('m');
const ROWS = [
  // One first job and two follow-ups (UPSCALE): three images stored.
  { id: 'picks', prompt: `a linen armchair in a sunlit room ${tag}`, mode: 'fast', actions: 'U1,U3' },
  { id: 'plain', prompt: `a walnut side table ${tag}`, mode: 'relax' },
  // The job is accepted and fails at the API: a FAILED row of class generation.
  { id: 'fails', prompt: `a glass vase ${tag} [sim:fail]`, mode: 'fast' },
  // Refused at submit (a banned word): nothing is created, a refusal is counted.
  { id: 'banned', prompt: `a forbidden lamp on a desk ${tag}` },
];
const SLOTS = 2;

describe('after a batch, /metrics counts what happened', () => {
  const output = unique('out/metrics');
  let account: string;
  let samples: Sample[];
  let text: string;

  beforeAll(async () => {
    // The worker's one account, by the name its activities give calls that name none, with shared slots.
    account = accountOf(p.config.mj);
    const manifest = writeManifest('metrics.jsonl', jsonl(ROWS));
    const input = await startOnAccount(p, manifest, { concurrency: 4, account, slots: SLOTS, outputPrefix: output });
    const { result } = await waitForBatch(p.client, input.batchId, () => undefined, 500);
    expect(result.counts).toMatchObject({ succeeded: 2, failed: 2 });
    ({ text, samples } = await scrape());
  });

  const mine = () => p.ledger().filter((j) => ROWS.some((r) => r.id === j.state));

  test('jobs submitted, by action, mode and account, are the jobs the API accepted', () => {
    const jobs = mine();
    const count = (key: (j: (typeof jobs)[number]) => string) =>
      jobs.reduce<Record<string, number>>((acc, j) => ((acc[key(j)] = (acc[key(j)] ?? 0) + 1), acc), {});
    const modeOfRow = (state: string | null | undefined) => ROWS.find((r) => r.id === state)?.mode ?? 'default';
    const name = 'mj_batch_jobs_submitted_total';
    // picks: IMAGINE + 2 UPSCALE; plain: IMAGINE; fails: IMAGINE (and any retry of it the workflow made).
    expect(byLabel(samples, name, 'action')).toEqual(count((j) => j.action));
    expect(valueOf(samples, name, { action: 'UPSCALE' })).toBe(2);
    expect(byLabel(samples, name, 'mode')).toEqual(count((j) => modeOfRow(j.state)));
    expect(byLabel(samples, name, 'account')).toEqual({ [account]: jobs.length });
  });

  test('rows finished, by status and failure class', () => {
    const name = 'mj_batch_rows_finished_total';
    expect(valueOf(samples, name, { status: 'SUCCESS', failure_class: 'none' })).toBe(2);
    expect(valueOf(samples, name, { status: 'FAILED', failure_class: 'generation' })).toBe(1);
    expect(valueOf(samples, name, { status: 'FAILED', failure_class: 'banned' })).toBe(1);
    expect(valueOf(samples, name)).toBe(ROWS.length);
  });

  test('submit refusals, by reason: the banned prompt, as often as the simulator refused it', () => {
    const refused = p.sim.engine.stats().refused.bannedRefusals;
    expect(refused).toBeGreaterThan(0);
    expect(byLabel(samples, 'mj_batch_submit_refusals_total', 'reason')).toEqual({ 'banned-prompt': refused });
    expect(valueOf(samples, 'mj_batch_submit_refusals_total', { account })).toBe(refused);
  });

  test("media: one timed storeImage per stored image, and the bytes are the images' as stored in S3", async () => {
    const images = (await Promise.all(['picks', 'plain'].map((id) => loadRowRecord(p.s3, p.config.s3.bucket, output, id)))).flatMap(
      (r) => r!.result.images,
    );
    expect(images.map((i) => i.role).sort()).toEqual(['U1', 'U3', 'grid', 'grid']);
    expect(valueOf(samples, 'mj_batch_media_seconds_count', { activity: 'storeImage', outcome: 'ok' })).toBe(images.length);
    expect(valueOf(samples, 'mj_batch_media_seconds_sum', { activity: 'storeImage' })).toBeGreaterThan(0);
    expect(valueOf(samples, 'mj_batch_media_bytes_total', { direction: 'download' })).toBe(images.reduce((n, i) => n + i.bytes, 0));
    // Uploaded: every original and thumbnail (a fresh output prefix: nothing was there to skip).
    const thumbBytes = await Promise.all(
      images
        .flatMap((i) => i.thumbnails)
        .map(async (t) => (await p.s3.send(new HeadObjectCommand({ Bucket: p.config.s3.bucket, Key: t.key }))).ContentLength!),
    );
    expect(thumbBytes).toHaveLength(images.length * 2);
    const uploaded = images.reduce((n, i) => n + i.bytes, 0) + thumbBytes.reduce((n, b) => n + b, 0);
    expect(valueOf(samples, 'mj_batch_media_bytes_total', { direction: 'upload' })).toBe(uploaded);
  });

  test("the account's slots: its effective slots, and none in use once the batch has ended", async () => {
    expect(valueOf(samples, 'mj_batch_effective_slots', { account })).toBe(SLOTS);
    // The last lease is given back by a signal the slots workflow handles on its own time: scrape until it has.
    let inUse = valueOf(samples, 'mj_batch_slots_in_use', { account });
    for (let i = 0; i < 40 && inUse !== 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      inUse = valueOf((await scrape()).samples, 'mj_batch_slots_in_use', { account });
    }
    expect(inUse).toBe(0);
    expect(samples.some((s) => s.name === 'mj_batch_slots_in_use' && s.labels.account === account)).toBe(true);
  });

  test("the Temporal runtime's own metrics are in the same scrape", () => {
    const temporal = new Set(samples.filter((s) => s.name.startsWith('temporal_')).map((s) => s.name));
    expect(temporal.size).toBeGreaterThan(5);
    expect([...temporal]).toEqual(expect.arrayContaining(['temporal_workflow_completed', 'temporal_activity_execution_latency_count']));
    expect(text).toMatch(/^# TYPE temporal_\w+ /m);
    // The worker's task queue names its series; no prompt reaches any label.
    expect(samples.some((s) => s.name.startsWith('temporal_') && s.labels.task_queue === p.taskQueue)).toBe(true);
    expect(text).not.toContain(tag);
  });
});

test("with an accounts file, the slots are the pool's: each account's effective slots and leases in use", async () => {
  // The task queue's pool workflow, on the pipeline's worker, as a batch over an accounts file starts it.
  const specs = [
    { name: 'pool-a', baseUrl: p.sim.url, apiKeyEnv: 'MJ_TEST_KEY_A', slots: 3 },
    { name: 'pool-b', baseUrl: p.sim.url, apiKeyEnv: 'MJ_TEST_KEY_B', slots: 5, queueAhead: 1 },
  ];
  await ensureAccountPool(p.client, p.taskQueue, specs);
  try {
    await expect(poolSlotsReader(p.client, p.taskQueue)()).resolves.toEqual([
      { account: 'pool-a', inUse: 0, effectiveSlots: 3 },
      { account: 'pool-b', inUse: 0, effectiveSlots: 5 },
    ]);
  } finally {
    await p.client.workflow.getHandle(accountPoolWorkflowId(p.taskQueue)).terminate('test finished');
  }
  // No pool on a task queue: no readings (and no error).
  await expect(poolSlotsReader(p.client, unique('no-pool'))()).resolves.toEqual([]);
});
