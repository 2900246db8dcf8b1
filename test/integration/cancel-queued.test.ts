// `mj-batch cancel` against a batch whose jobs sit queued at the simulator (one slot at the API, two jobs kept waiting
// ahead by the account's queue-ahead): the batch's rows stop, and the queued jobs are cancelled at the API, which the
// simulator's ledger shows (failed 取消任务 before they ever ran, not charged). The running job is left to finish.
import { waitForBatch } from '../../client/batches';
import { CANCEL_REASON } from '../../simulator/engine';
import { runCli } from './cli';
import { unique } from './helpers';
import { jsonl, startOnAccount, startPipeline, writeManifest, type LedgerJob, type Pipeline } from './pipeline-harness';

let p: Pipeline;

// Real timings (a fast job runs 30 to 60 s) and one slot: what the API has queued stays queued while the test looks.
beforeAll(async () => {
  p = await startPipeline({ speed: 1, concurrency: 1 });
});
afterAll(() => p?.stop());
// Frees the simulator's slot for the next test: nothing a test left running may hold it.
afterEach(() => {
  for (const j of p.ledger()) if (j.status !== 'SUCCESS' && j.status !== 'FAILURE') p.sim.engine.cancel(j.id);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = check();
    if (found !== undefined) return found;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** A batch of 5 rows on an account with 1 slot and 2 jobs ahead: once one job runs and two wait at the API. */
async function queuedBatch(tag: string) {
  const rows = Array.from({ length: 5 }, (_, i) => ({ id: `${tag}-${i}`, prompt: `${tag} product ${i} ${unique('p')}` }));
  const manifest = writeManifest(`${tag}.jsonl`, jsonl(rows));
  const account = unique('acct');
  const input = await startOnAccount(p, manifest, { concurrency: 5, account, slots: 1, queueAhead: 2, outputPrefix: unique(`out/${tag}`) });
  const jobs = () => p.ledger().filter((j) => j.state?.startsWith(`${tag}-`));
  const { running, queued } = await until('one job running and two queued at the simulator', () => {
    const all = jobs();
    const running = all.filter((j) => j.status === 'SUBMITTED' || j.status === 'IN_PROGRESS');
    const queued = all.filter((j) => j.status === 'NOT_START');
    return running.length === 1 && queued.length === 2 ? { running: running[0]!, queued } : undefined;
  });
  return { batchId: input.batchId, jobs, running, queued };
}

const cancel = (batchId: string, ...flags: string[]) =>
  runCli(['cancel', batchId, ...flags], { env: { ...p.cliEnv, MJ_BASE_URL: p.sim.url, MJ_API_KEY: p.sim.options.apiKey } });

const ids = (jobs: LedgerJob[]) => jobs.map((j) => j.id).sort();

test('cancel --json: the queued jobs are cancelled at the API before they run, the running one is named as not cancelled', async () => {
  const b = await queuedBatch('cq-json');
  const run = await cancel(b.batchId, '--json');
  expect(run.code).toBe(0);
  const out = JSON.parse(run.stdout);
  expect(out).toMatchObject({ batchId: b.batchId, action: 'cancel', ok: true });
  expect(out.api.cancelled.map((j: { taskId: string }) => j.taskId).sort()).toEqual(ids(b.queued));
  expect(out.api.couldNotCancel).toEqual([
    expect.objectContaining({ taskId: b.running.id, status: expect.stringMatching(/^(SUBMITTED|IN_PROGRESS)$/) }),
  ]);
  expect(out.api.couldNotCancel[0].reason).toMatch(/already running at Midjourney/);

  const { result } = await waitForBatch(p.client, b.batchId, () => undefined, 500);
  expect(result.cancelled).toBe(true);
  // The ledger: the queued jobs failed as cancelled without ever starting, and nobody pays for them.
  const after = b.jobs();
  for (const q of b.queued) {
    expect(after.find((j) => j.id === q.id)).toMatchObject({
      status: 'FAILURE',
      failReason: CANCEL_REASON,
      cancelled: 'queued',
      charged: false,
      startTime: null,
    });
  }
  expect(after.find((j) => j.id === b.running.id)).toMatchObject({ cancelled: null, charged: true });
  // No row submitted anything after the cancel: the two rows that had no slot never reached the API.
  expect(ids(after)).toEqual(ids([b.running, ...b.queued]));
  expect(p.sim.engine.stats().cancelled.queued).toBeGreaterThanOrEqual(2);
});

test('cancel without --json prints the cancelled task ids and the one it could not cancel', async () => {
  const b = await queuedBatch('cq-text');
  const run = await cancel(b.batchId);
  expect(run.code).toBe(0);
  expect(run.stdout).toContain(`batch ${b.batchId}: cancelling`);
  const line = run.stdout.split('\n').find((l) => l.includes('API: cancelled 2 queued job(s)'));
  expect(line).toBeDefined();
  for (const q of b.queued) expect(line).toContain(q.id);
  expect(run.stdout).toMatch(new RegExp(`API: could not cancel 1 job\\(s\\):\\n\\s+${b.running.id} \\(row cq-text-\\d`));
  for (const q of b.queued) expect(b.jobs().find((j) => j.id === q.id)).toMatchObject({ status: 'FAILURE', cancelled: 'queued' });
});

test('cancel --no-api-cancel only stops the batch: its queued jobs stay queued at the API', async () => {
  const b = await queuedBatch('cq-skip');
  const run = await cancel(b.batchId, '--no-api-cancel', '--json');
  expect(run.code).toBe(0);
  const out = JSON.parse(run.stdout);
  expect(out).toMatchObject({ batchId: b.batchId, action: 'cancel', ok: true });
  expect(out).not.toHaveProperty('api');
  const { result } = await waitForBatch(p.client, b.batchId, () => undefined, 500);
  expect(result.cancelled).toBe(true);
  for (const q of b.queued)
    expect(b.jobs().find((j) => j.id === q.id)).toMatchObject({ status: 'NOT_START', cancelled: null, charged: true });
});
