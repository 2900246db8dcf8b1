import * as os from 'node:os';
import * as path from 'node:path';
import { WorkerProcess } from '../../bench/worker-process';
import { accountSlotsWorkflowId } from '../../contracts/account-slots';
import { progressQuery, slotsQuery } from '../../contracts/handlers';
import { findStaleLeases } from '../../client/stale-leases';
import { duplicatePaidJobs } from '../../bench/chaos-checks';
import { runCli } from './cli';
import { unique } from './helpers';
import { jsonl, startPipeline, writeManifest, type LedgerJob, type Pipeline } from './pipeline-harness';

// Resuming is re-running: the same manifest, the same command, on an account whose slots are shared.
let p: Pipeline;

beforeAll(async () => {
  p = await startPipeline({ speed: 50 });
});
afterAll(() => p?.stop());

const rowsOf = (tag: string, n: number, extra: object = {}) =>
  Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, prompt: `${tag} ceramic mug ${i} ${unique('p')}`, ...extra }));
const jobsOf = (tag: string): LedgerJob[] => p.ledger().filter((j) => j.state?.startsWith(`${tag}-`));
const slotsOf = (account: string, taskQueue = p.taskQueue) =>
  p.client.workflow.getHandle(accountSlotsWorkflowId(taskQueue, account)).query(slotsQuery);

test('a finished 20-row manifest run again skips every row, pays nothing, gives every slot back and ends', async () => {
  const account = unique('acct');
  const env = { ...p.cliEnv, MJ_ACCOUNT: account };
  const manifest = writeManifest('twice.jsonl', jsonl(rowsOf('twice', 20)));
  const output = unique('out/twice');
  const args = ['run', manifest, '--wait', '--json', '--output', output, '--account-slots', '3', '--queue-ahead', '2'];
  const first = await runCli(args, { env });
  expect(first.code).toBe(0);
  expect(JSON.parse(first.stdout)).toMatchObject({ rows: 20, succeeded: 20 });
  const paid = jobsOf('twice').length;
  expect(paid).toBe(20);

  // More skipped rows than slots + queue-ahead: every one of them must give its lease back.
  const again = await runCli(args, { env });
  expect(again.code).toBe(0);
  expect(JSON.parse(again.stdout)).toMatchObject({ rows: 20, succeeded: 20, skipped: 20, failed: 0 });
  expect(jobsOf('twice')).toHaveLength(paid);
  expect(await slotsOf(account)).toMatchObject({ held: [], waiting: 0 });
}, 300_000);

test('two batches on one account: one re-running finished rows does not starve the other', async () => {
  const account = unique('acct');
  const env = { ...p.cliEnv, MJ_ACCOUNT: account };
  const slots = ['--account-slots', '2', '--queue-ahead', '0'];
  const doneManifest = writeManifest('done.jsonl', jsonl(rowsOf('done', 8)));
  const doneOutput = unique('out/done');
  expect((await runCli(['run', doneManifest, '--wait', '--json', '--output', doneOutput, ...slots], { env })).code).toBe(0);

  const fresh = writeManifest('fresh.jsonl', jsonl(rowsOf('fresh', 4)));
  const [rerun, other] = await Promise.all([
    runCli(['run', doneManifest, '--wait', '--json', '--output', doneOutput, ...slots], { env }),
    runCli(['run', fresh, '--wait', '--json', '--output', unique('out/fresh'), ...slots], { env }),
  ]);
  expect(rerun.code).toBe(0);
  expect(JSON.parse(rerun.stdout)).toMatchObject({ skipped: 8 });
  expect(other.code).toBe(0);
  expect(JSON.parse(other.stdout)).toMatchObject({ rows: 4, succeeded: 4 });
  expect(jobsOf('done')).toHaveLength(8);
  expect(jobsOf('fresh')).toHaveLength(4);
  expect(await slotsOf(account)).toMatchObject({ held: [], waiting: 0 });
}, 300_000);

test('a batch killed mid-way (worker SIGKILLed, batch terminated) and run again: finished rows skipped, the rest adopted or run, each job paid once', async () => {
  const account = unique('acct');
  const taskQueue = unique('resume-kill');
  const env = { MJ_BATCH_TASK_QUEUE: taskQueue, MJ_ACCOUNT: account };
  const workerEnv = { ...process.env, ...env, MJ_BASE_URL: p.sim.url, MJ_API_KEY: p.sim.options.apiKey, MJ_BATCH_MEDIA_CONCURRENCY: '2' };
  const log = path.join(os.tmpdir(), `${taskQueue}.log`);
  const worker = new WorkerProcess(workerEnv, log);
  await worker.start();
  try {
    // Upscale picks, so some rows are killed between their grid and their follow-up.
    const manifest = writeManifest('killed.jsonl', jsonl(rowsOf('killed', 12, { actions: 'U1' })));
    const output = unique('out/killed');
    const args = [
      'run',
      manifest,
      '--json',
      '--output',
      output,
      '--account-slots',
      '3',
      '--queue-ahead',
      '1',
      // Fixed: a queue-ahead grown from the refills could submit every job before three rows are stored.
      '--max-queue-ahead',
      '1',
      '--submit-policy',
      'at-most-once',
    ];
    const started = await runCli(args, { env });
    expect(started.code).toBe(0);
    const { batchId } = JSON.parse(started.stdout) as { batchId: string };

    // Kill once a few rows are done and others hold slots with jobs at the API.
    const deadline = Date.now() + 120_000;
    const batch = p.client.workflow.getHandle(batchId);
    while ((await batch.query(progressQuery)).counts.succeeded < 3 || !jobsOf('killed').some((j) => j.status !== 'SUCCESS')) {
      if (Date.now() > deadline) throw new Error('the batch did not get going');
      await new Promise((r) => setTimeout(r, 100));
    }
    await worker.kill();
    await batch.terminate('killed by the test');
    expect(jobsOf('killed').length).toBeGreaterThan(3);
    await worker.start();
    // The killed batch's rows still hold leases: nobody will give them back. Each one is seen as held by a closed batch.
    const deadLeases = (await slotsOf(account, taskQueue)).held;
    expect(deadLeases.length).toBeGreaterThan(0);
    const stale = await findStaleLeases(p.client, deadLeases);
    expect(stale.map((l) => l.id).sort()).toEqual(deadLeases.map((l) => l.id).sort());
    expect(new Set(stale.map((l) => l.reason))).toEqual(new Set(['batch-closed']));

    // Under another batch id (a redrive, a new run): the killed batch's leases are nobody's, and must be taken back.
    // Starting it asks the slots workflow to check its holders at once; `status` shows them held by closed rows until
    // then, or already taken back.
    const rerunId = `${batchId}-again`;
    expect((await runCli([...args, '--batch-id', rerunId], { env })).code).toBe(0);
    let said: { heldByClosedRows: unknown[]; reclaimed: number } | undefined;
    for (;;) {
      const status = JSON.parse((await runCli(['status', rerunId, '--json'], { env })).stdout);
      if (status.status !== 'RUNNING') break;
      if (status.accountSlots?.heldByClosedRows.length > 0 || status.accountSlots?.reclaimed > 0) {
        said = status.accountSlots;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(said).toBeDefined();
    const rerun = await runCli(['watch', rerunId, '--json'], { env });
    expect(rerun.stderr).not.toMatch(/Error:/);
    expect(rerun.code).toBe(0);
    const summary = JSON.parse(rerun.stdout);
    expect(summary).toMatchObject({ rows: 12, succeeded: 12, failed: 0, unknownSubmit: 0 });
    expect(summary.skipped).toBeGreaterThan(0);

    const jobs = jobsOf('killed');
    expect(duplicatePaidJobs(jobs).examples).toEqual([]);
    // Every row has its grid and its U1, once.
    expect(jobs.filter((j) => j.action === 'IMAGINE')).toHaveLength(12);
    expect(jobs.filter((j) => j.action === 'UPSCALE')).toHaveLength(12);
    const slots = await slotsOf(account, taskQueue);
    expect(slots).toMatchObject({ held: [], waiting: 0 });
    // The leases of the killed rows were taken back, not left to their 6 h time to live.
    expect(slots.reclaimed).toBeGreaterThan(0);
  } finally {
    await p.client.workflow
      .getHandle(accountSlotsWorkflowId(taskQueue, account))
      .terminate('test finished')
      .catch(() => undefined);
    await worker.kill();
  }
}, 600_000);

test('a Plus proxy says which mode each job ran in: the results record the mode asked for and the mode it ran in', async () => {
  const manifest = writeManifest(
    'modes.jsonl',
    jsonl([{ id: 'mode-relax', prompt: `a rattan chair ${unique('m')}`, mode: 'relax', actions: 'U1' }]),
  );
  const run = await runCli(['run', manifest, '--wait', '--json', '--output', unique('out/modes'), '--account-slots', '0'], {
    env: p.cliEnv,
  });
  expect(run.code).toBe(0);
  const summary = JSON.parse(run.stdout);
  expect(summary).toMatchObject({ succeeded: 1, modeMismatches: 0 });
  const report = await runCli(['report', summary.batchId, '--format', 'jsonl'], { env: p.cliEnv });
  expect(JSON.parse(report.stdout.trim())).toMatchObject({ key: 'mode-relax', modeRequested: 'relax', modeRan: 'relax' });
  expect(
    p
      .ledger()
      .filter((j) => j.state === 'mode-relax')
      .map((j) => j.mode),
  ).toEqual(['RELAX', 'RELAX']);
});
