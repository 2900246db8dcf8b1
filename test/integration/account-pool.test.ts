// Several accounts in one batch, against real workers, Temporal and S3, and one simulator per account (each its own
// API with its own key and ledger): rows spread over the pool, a refusing account is parked after a few probes and
// its rows finish elsewhere, 429 bursts shrink an account's effective slots until clean rows grow them back, an
// account outside its hours takes nothing until its window opens, and follow-ups go to their parent's account.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { accountPoolState, ensureAccountPool, type PoolTimings } from '../../client/account-pool';
import { rowResultKey } from '../../contracts/bucket-layout';
import type { RowRecord } from '../../report/row-results';
import { getObjectOrNull } from '../../storage/objects';
import { prepareBatch, startBatch, waitForBatch } from '../../client/batches';
import type { AccountSpec } from '../../contracts/accounts';
import { accountPoolWorkflowId, PARK_AFTER_REFUSALS, type AccountPoolState } from '../../contracts/account-pool';
import type { EffectiveConfig } from '../../config/config';
import { connectClient } from '../../config/temporal';
import { startSimulator, type RunningSimulator } from '../../simulator/server';
import { createS3Client } from '../../storage/s3-client';
import { startWorkers } from '../../worker/run-worker';
import { stackConfig, unique, workflowBundle } from './helpers';
import { defaultOptions, jsonl, maxOutstandingJobs, writeManifest } from './pipeline-harness';

interface PoolPipeline {
  sims: Map<string, RunningSimulator>;
  client: Client;
  s3: S3Client;
  config: EffectiveConfig;
  taskQueue: string;
  accounts: AccountSpec[];
  stop(): Promise<void>;
}

/** One simulator per account (its own key), workers reading an accounts file that lists them, on a task queue of its own. */
async function startPool(
  accounts: (Omit<AccountSpec, 'baseUrl' | 'apiKeyEnv'> & { sim?: object })[],
  timings: PoolTimings = {},
): Promise<PoolPipeline> {
  const sims = new Map<string, RunningSimulator>();
  const env: NodeJS.ProcessEnv = { ...process.env, MJ_BATCH_MEDIA_CONCURRENCY: '2' };
  const specs: AccountSpec[] = [];
  for (const { sim, ...a } of accounts) {
    const key = `sk-${a.name}-${unique('k')}`;
    const s = await startSimulator({ speed: 50, apiKey: key, ...sim });
    sims.set(a.name, s);
    const apiKeyEnv = `MJ_TEST_KEY_${a.name.toUpperCase()}`;
    env[apiKeyEnv] = key;
    specs.push({ ...a, baseUrl: s.url, apiKeyEnv });
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-pool-'));
  const accountsFile = path.join(dir, 'accounts.json');
  fs.writeFileSync(accountsFile, JSON.stringify(specs, null, 2));
  const taskQueue = unique('pool');
  const config: EffectiveConfig = { ...stackConfig(), taskQueue };
  const workers = await startWorkers(config, { taskQueue, workflowBundle: await workflowBundle(), env, accountsFile });
  const running = workers.run();
  const client = await connectClient(config.temporal);
  const s3 = createS3Client(config.s3);
  // The pool is started here, so its probe timings are the test's (a batch's start only gives it the accounts).
  await ensureAccountPool(client, taskQueue, specs, timings);
  return {
    sims,
    client,
    s3,
    config,
    taskQueue,
    accounts: specs,
    async stop() {
      await client.workflow
        .getHandle(accountPoolWorkflowId(taskQueue))
        .terminate('test finished')
        .catch(() => undefined);
      workers.shutdown();
      await running;
      s3.destroy();
      await client.connection.close();
      for (const s of sims.values()) await s.close();
    },
  };
}

async function startPooledBatch(p: PoolPipeline, tag: string, rows: object[]) {
  const manifest = writeManifest(`${tag}.jsonl`, jsonl(rows));
  const { input } = await prepareBatch(
    manifest,
    p.s3,
    p.config.s3.bucket,
    p.taskQueue,
    defaultOptions({ concurrency: 12, outputPrefix: unique(`out/${tag}`) }),
  );
  const handle = await startBatch(p.client, p.s3, p.config.s3.bucket, p.taskQueue, manifest, input, undefined, {
    accounts: p.accounts,
  });
  return { input, handle };
}

type Ledger = ReturnType<RunningSimulator['engine']['ledger']>;
const ledgerOf = (p: PoolPipeline, name: string): Ledger => p.sims.get(name)!.engine.ledger();
const charged = (jobs: Ledger) => jobs.filter((j) => j.charged);

/** Polls the pool until `done` says so, collecting every state seen. */
async function watchPool(p: PoolPipeline, until: Promise<unknown>): Promise<AccountPoolState[]> {
  const seen: AccountPoolState[] = [];
  let over = false;
  void until.finally(() => (over = true));
  while (!over) {
    const s = await accountPoolState(p.client, p.taskQueue).catch(() => null);
    if (s) seen.push(s);
    await new Promise((r) => setTimeout(r, 150));
  }
  return seen;
}

const rowsOf = (tag: string, n: number, more: (i: number) => object = () => ({})) =>
  Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, prompt: `${tag} chair ${i} ${unique('p')}`, ...more(i) }));

describe('three accounts', () => {
  let p: PoolPipeline;
  beforeAll(async () => {
    p = await startPool(
      [
        { name: 'A', slots: 3 },
        { name: 'B', slots: 3 },
        { name: 'C', slots: 3 },
      ],
      { firstProbeMs: 3_000, maxProbeMs: 20_000 },
    );
  });
  afterAll(() => p?.stop());

  test('36 rows spread over all three; every follow-up goes to its parent account; each job paid once', async () => {
    // Every third row asks for an upscale: its U1 must be pressed on the account that made its grid.
    const rows = rowsOf('spread', 36, (i) => (i % 3 === 0 ? { actions: 'U1' } : {}));
    const { input } = await startPooledBatch(p, 'spread', rows);
    const { result } = await waitForBatch(p.client, input.batchId, () => undefined, 500);
    expect(result.counts).toMatchObject({ total: 36, succeeded: 36, failed: 0 });

    const byAccount = new Map(['A', 'B', 'C'].map((n) => [n, charged(ledgerOf(p, n)).filter((j) => j.state?.startsWith('spread-'))]));
    for (const [name, jobs] of byAccount) {
      expect({ name, jobs: jobs.length > 4 }).toEqual({ name, jobs: true });
      // Never more outstanding than the account's slots: the pool keeps each account's own limit.
      expect(maxOutstandingJobs(jobs)).toBeLessThanOrEqual(3);
      // A follow-up's parent is in the same account's ledger.
      const ids = new Set(jobs.map((j) => j.id));
      for (const j of jobs.filter((x) => x.action !== 'IMAGINE')) expect(ids.has(j.parentId!)).toBe(true);
    }
    const all = [...byAccount.values()].flat();
    expect(all.filter((j) => j.action === 'IMAGINE')).toHaveLength(36);
    expect(all).toHaveLength(36 + 12);
    // One paid IMAGINE per row, in whichever account.
    expect(new Set(all.filter((j) => j.action === 'IMAGINE').map((j) => j.state)).size).toBe(36);

    // Each row's result names the account whose ledger has its grid.
    for (const row of rows.slice(0, 6)) {
      const body = await getObjectOrNull(p.s3, p.config.s3.bucket, rowResultKey(input.outputPrefix, row.id));
      const stored = (JSON.parse(body!.toString('utf8')) as RowRecord).result;
      const grid = all.find((j) => j.action === 'IMAGINE' && j.state === row.id)!;
      const owner = [...byAccount].find(([, jobs]) => jobs.includes(grid))![0];
      expect(stored?.account).toBe(owner);
    }
    const state = await accountPoolState(p.client, p.taskQueue);
    expect(state?.accounts.map((a) => [a.name, a.status, a.inUse])).toEqual([
      ['A', 'active', 0],
      ['B', 'active', 0],
      ['C', 'active', 0],
    ]);
  });

  test('an account that starts refusing every submit is parked after a few refusals; its rows finish on the other two', async () => {
    const b = p.sims.get('B')!;
    const refusalsBefore = (await (await fetch(`${b.url}/_sim/stats`)).json()).refused.queueFullRefusals as number;
    const rows = rowsOf('park', 36);
    const { input } = await startPooledBatch(p, 'park', rows);
    // Mid-run: once B has taken a few of this batch's jobs, it refuses every submit as queue full.
    while (charged(ledgerOf(p, 'B')).filter((j) => j.state?.startsWith('park-')).length < 2) await new Promise((r) => setTimeout(r, 100));
    await fetch(`${b.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ queueFull: 1 }) });
    const done = waitForBatch(p.client, input.batchId, () => undefined, 500);
    const seen = await watchPool(p, done);
    const { result } = await done;
    expect(result.counts).toMatchObject({ total: 36, succeeded: 36, failed: 0 });

    const stats = await (await fetch(`${b.url}/_sim/stats`)).json();
    const refusals = stats.refused.queueFullRefusals - refusalsBefore;
    expect(refusals).toBeGreaterThanOrEqual(PARK_AFTER_REFUSALS);
    expect(refusals).toBeLessThan(12);
    expect(seen.some((s) => s.accounts.find((a) => a.name === 'B')?.status === 'parked')).toBe(true);
    const parked = seen.map((s) => s.accounts.find((a) => a.name === 'B')!).find((a) => a.parked);
    expect(parked?.parked).toMatchObject({ reason: 'throttled' });

    // Every row paid once, in one of the three ledgers; B's refusals made nothing.
    const imagines = ['A', 'B', 'C'].flatMap((n) => charged(ledgerOf(p, n)).filter((j) => j.state?.startsWith('park-')));
    expect(imagines).toHaveLength(36);
    expect(new Set(imagines.map((j) => j.state)).size).toBe(36);

    // B heals: the next probe is accepted and it rejoins.
    await fetch(`${b.url}/_sim/faults`, { method: 'DELETE' });
    const healed = await startPooledBatch(p, 'healed', rowsOf('healed', 12));
    await waitForBatch(p.client, healed.input.batchId, () => undefined, 500);
    const after = await accountPoolState(p.client, p.taskQueue);
    expect(after?.accounts.find((a) => a.name === 'B')?.status).toBe('active');
  });

  test('429 bursts: the account runs with fewer effective slots, then grows back to its slots on clean rows', async () => {
    const c = p.sims.get('C')!;
    const { input } = await startPooledBatch(p, 'burst', rowsOf('burst', 36));
    while (charged(ledgerOf(p, 'C')).filter((j) => j.state?.startsWith('burst-')).length < 1) await new Promise((r) => setTimeout(r, 50));
    await fetch(`${c.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ burst429: PARK_AFTER_REFUSALS - 1 }) });
    const done = waitForBatch(p.client, input.batchId, () => undefined, 500);
    const seen = await watchPool(p, done);
    const { result } = await done;
    expect(result.counts).toMatchObject({ total: 36, succeeded: 36 });
    const cSlots = seen.map((s) => s.accounts.find((a) => a.name === 'C')!.effectiveSlots);
    expect(Math.min(...cSlots)).toBeLessThan(3);
    // Grew back: a later state has more effective slots than the lowest seen.
    const low = cSlots.indexOf(Math.min(...cSlots));
    expect(Math.max(...cSlots.slice(low))).toBeGreaterThan(cSlots[low]!);
    const imagines = ['A', 'B', 'C'].flatMap((n) => charged(ledgerOf(p, n)).filter((j) => j.state?.startsWith('burst-')));
    expect(new Set(imagines.map((j) => j.state)).size).toBe(36);
    expect(imagines).toHaveLength(36);
  });
});

test('an account outside its hours takes nothing until its window opens', async () => {
  // R alone serves relax, and its window opens at the next minute (UTC): relax rows wait for it, fast rows do not.
  const now = new Date();
  const opens = new Date(now);
  opens.setUTCSeconds(0, 0);
  opens.setUTCMinutes(opens.getUTCMinutes() + (opens.getTime() + 60_000 - now.getTime() < 20_000 ? 2 : 1));
  const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  const closes = new Date(opens.getTime() + 60 * 60_000);
  const p = await startPool([
    { name: 'F', slots: 3, modes: ['fast'] },
    { name: 'R', slots: 3, modes: ['relax'], hours: `${hhmm(opens)}-${hhmm(closes)}`, timezone: 'UTC' },
  ]);
  try {
    const rows = [...rowsOf('fastrow', 3, () => ({ mode: 'fast' })), ...rowsOf('relaxrow', 3, () => ({ mode: 'relax' }))];
    const { input } = await startPooledBatch(p, 'hours', rows);
    // While the window is closed the pool says why relax rows wait, and until when.
    let stalledSeen: AccountPoolState | undefined;
    while (Date.now() < opens.getTime() - 2_000 && !stalledSeen) {
      const s = await accountPoolState(p.client, p.taskQueue);
      if (s?.accounts.find((a) => a.name === 'R')?.status === 'outside-hours' && s.waiting > 0) stalledSeen = s;
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(stalledSeen?.accounts.find((a) => a.name === 'R')?.opensAt).toBe(opens.toISOString());
    const { result } = await waitForBatch(p.client, input.batchId, () => undefined, 500);
    expect(result.counts).toMatchObject({ total: 6, succeeded: 6 });
    const relax = charged(ledgerOf(p, 'R'));
    expect(relax.map((j) => j.state).sort()).toEqual(['relaxrow-0', 'relaxrow-1', 'relaxrow-2']);
    for (const j of relax) expect(j.submitTime).toBeGreaterThanOrEqual(opens.getTime());
    expect(
      charged(ledgerOf(p, 'F'))
        .map((j) => j.state)
        .sort(),
    ).toEqual(['fastrow-0', 'fastrow-1', 'fastrow-2']);
    // The fast rows did not wait for the window.
    for (const j of charged(ledgerOf(p, 'F'))) expect(j.submitTime).toBeLessThan(opens.getTime());
  } finally {
    await p.stop();
  }
}, 180_000);

test('an account out of quota is parked at once (no retries on it); the rest of its rows run on the other account', async () => {
  // Q is a gateway (new-api) whose user can pay for 3 jobs; then every submit answers quota_not_enough.
  const p = await startPool([
    { name: 'A', slots: 3 },
    { name: 'Q', slots: 3, sim: { profile: 'gateway', gateway: { quota: 3 } } },
  ]);
  try {
    const { input } = await startPooledBatch(p, 'quota', rowsOf('quota', 18));
    const { result } = await waitForBatch(p.client, input.batchId, () => undefined, 500);
    expect(result.counts).toMatchObject({ total: 18, succeeded: 18, failed: 0 });
    const onQ = charged(ledgerOf(p, 'Q'));
    expect(onQ.length).toBeLessThanOrEqual(3);
    const all = [...charged(ledgerOf(p, 'A')), ...onQ];
    expect(all).toHaveLength(18);
    expect(new Set(all.map((j) => j.state)).size).toBe(18);
    const q = (await accountPoolState(p.client, p.taskQueue))?.accounts.find((a) => a.name === 'Q');
    expect(q).toMatchObject({ status: 'parked', parked: { reason: 'quota' } });
    // Parked on the first refusal: only rows already granted on Q (3 slots) and a probe or two met it, not the 15
    // rows left: no refusal per row.
    const stats = await (await fetch(`${p.sims.get('Q')!.url}/_sim/stats`)).json();
    expect(stats.gateway.quotaRefusals).toBeGreaterThanOrEqual(1);
    expect(stats.gateway.quotaRefusals).toBeLessThanOrEqual(5);
  } finally {
    await p.stop();
  }
}, 180_000);
