/**
 * Records real workflow histories from the local stack into test/fixtures/histories/<set>/, for the replay tests
 * that guard determinism. Run before and after changing workflow code on purpose, each time into a new set, so the
 * paths that running workflows took under every released version keep replaying:
 * `npm run record-histories -- <set>` (e.g. `2026-12-await-release`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { loadBatchRecord, prepareBatch, startBatch, waitForBatch } from '../client/batches';
import { ensureAccountPool } from '../client/account-pool';
import type { AccountSpec } from '../contracts/accounts';
import { startReprocess } from '../client/reprocess';
import { loadConfig, type EffectiveConfig } from '../config/config';
import { connectClient } from '../config/temporal';
import { connectWorker } from '../worker/connection';
import { startSimulator } from '../simulator/server';
import { defaultStackDir } from '../stack/paths';
import { stackUp } from '../stack/stack';
import { createS3Client } from '../storage/s3-client';
import { startWorkers } from '../worker/run-worker';
import { createSmokeActivities } from '../test/fixtures/smoke/activities';
import { smokeWorkflow } from '../test/fixtures/smoke/workflows';
import { cancelBatchSignal, progressQuery, resumeUpdate } from '../contracts/handlers';

const HISTORIES = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'histories');

/** The workflow's history: its latest run, or the run `runId`. */
async function save(client: Client, dir: string, name: string, id: string, runId?: string): Promise<void> {
  const history = await client.workflow.getHandle(id, runId).fetchHistory();
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(JSON.parse(historyToJSON(history)), null, 2) + '\n');
  process.stdout.write(`wrote ${file} (${history.events?.length} events)\n`);
}

async function main(): Promise<void> {
  const set = process.argv[2];
  if (!set || !/^[\w.-]+$/.test(set)) throw new Error('usage: npm run record-histories -- <set name>, e.g. 2026-12-await-release');
  const dir = path.join(HISTORIES, set);
  fs.mkdirSync(dir, { recursive: true });
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  Runtime.install({ logger: new DefaultLogger('WARN') });
  await stackUp({ dir: defaultStackDir(), log: (l) => process.stderr.write(`${l}\n`) });
  // Plain payloads, whatever MJ_BATCH_CODEC_KEY says: the replay suite reads these histories without keys.
  const config = loadConfig({ ...process.env, MJ_BATCH_CODEC_KEY: '', MJ_BATCH_CODEC_OLD_KEYS: '' });
  const taskQueue = `record-histories-${process.pid}`;
  const [client, connection] = await Promise.all([connectClient(config.temporal), connectWorker(config.temporal)]);
  const s3 = createS3Client(config.s3);
  try {
    // The smoke workflow is a test fixture: its own bundle, its own activities.
    const smokeBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../test/fixtures/smoke/workflows') });
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue,
      workflowBundle: smokeBundle,
      activities: createSmokeActivities({ s3, bucket: config.s3.bucket }),
    });
    const workflowId = `record-smoke-${Date.now()}`;
    await worker.runUntil(
      client.workflow.execute(smokeWorkflow, { taskQueue, workflowId, args: [{ key: `record/${workflowId}.txt`, text: 'recorded\n' }] }),
    );
    await save(client, dir, 'smoke-workflow.json', workflowId);

    // A small batch on a simulator of its own (callbacks on): an imagine row with a follow-up, a shorten row, a row
    // whose job fails, and a media-only row; then the same batch again, which skips the rows already done.
    const sim = await startSimulator({ speed: 200 });
    const batchQueue = `${taskQueue}-batch`;
    const workers = await startWorkers(
      { ...config, mj: { ...config.mj, baseUrl: sim.url, apiKey: sim.options.apiKey } },
      { taskQueue: batchQueue },
    );
    try {
      const seed = sim.engine.submitNew('IMAGINE', {
        prompt: 'a recorded seed image',
        image: { kind: 'grid', key: 'a recorded seed image', aspect: '1:1' },
      });
      const manifestFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'record-')), 'record.jsonl');
      fs.writeFileSync(
        manifestFile,
        [
          { id: 'picked', prompt: 'a recorded oak chair', actions: 'U2' },
          { id: 'short', kind: 'shorten', prompt: 'a long recorded prompt about a walnut table in soft light' },
          { id: 'failing', prompt: 'a recorded lamp [sim:fail]' },
          { id: 'media', taskId: seed.result },
        ]
          .map((r) => JSON.stringify(r))
          .join('\n'),
      );
      const stamp = Date.now();
      const account = `record-${stamp}`;
      const run = async (batchId: string) => {
        const { input } = await prepareBatch(manifestFile, s3, config.s3.bucket, batchQueue, {
          batchId,
          outputPrefix: `record/${stamp}`,
          concurrency: 2,
          submitPolicy: 'at-most-once',
          callbacks: true,
          pollMinMs: 1000,
          pollMaxMs: 2000,
          accountSlots: 2,
          account,
        });
        await startBatch(client, s3, config.s3.bucket, batchQueue, manifestFile, input, { account, slots: 2 });
        await waitForBatch(client, input.batchId, () => undefined, 500);
        return input;
      };
      await workers.runUntil(async () => {
        // Wait for the seed image so the media-only row finds it finished.
        while (sim.engine.jobs.get(seed.result!)?.status !== 'SUCCESS') await new Promise((r) => setTimeout(r, 100));
        const first = await run(`record-batch-${stamp}`);
        await save(client, dir, 'batch-workflow.json', first.batchId);
        for (const row of ['picked', 'short', 'failing', 'media'])
          await save(client, dir, `item-${row}-workflow.json`, `${first.batchId}/${row}`);
        const again = await run(`record-rerun-${stamp}`);
        await save(client, dir, 'batch-rerun-workflow.json', again.batchId);
        await save(client, dir, 'item-skipped-workflow.json', `${again.batchId}/picked`);
        await save(client, dir, 'account-slots-workflow.json', first.accountSlotsWorkflowId!);
        await client.workflow.getHandle(first.accountSlotsWorkflowId!).terminate('recorded');
      });
    } finally {
      await sim.close();
    }
    await recordGateway({ client, s3, config, dir, taskQueue: `${taskQueue}-gw` });
    await recordRecovery({ client, s3, config, dir, taskQueue: `${taskQueue}-rec` });
    await recordStops({ client, s3, config, dir, taskQueue: `${taskQueue}-stop` });
    await recordVersions({ client, s3, config, dir, taskQueue: `${taskQueue}-ver` });
    await recordPool({ client, s3, config, dir, taskQueue: `${taskQueue}-pool` });
  } finally {
    s3.destroy();
    await connection.close();
    await client.connection.close();
  }
}

interface Recording {
  client: Client;
  s3: S3Client;
  config: EffectiveConfig;
  dir: string;
  taskQueue: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function writeManifest(rows: object[]): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'record-')), 'record.jsonl');
  fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n'));
  return file;
}

/** Through the gateway profile: quota running out (rows held, then resumed), callbacks ahead of the gateway's view, a lost answer. */
async function recordGateway({ client, s3, config, dir, taskQueue }: Recording): Promise<void> {
  const sim = await startSimulator({ speed: 200, profile: 'gateway', gateway: { notifyForwarding: true, quota: 1 } });
  const workers = await startWorkers({ ...config, mj: { ...config.mj, baseUrl: sim.url, apiKey: sim.options.apiKey } }, { taskQueue });
  try {
    const stamp = Date.now();
    const file = writeManifest([
      { id: 'pick', prompt: 'a recorded gateway chair', actions: 'U1' },
      { id: 'second', prompt: 'a recorded gateway lamp' },
      { id: 'lost', prompt: 'a recorded gateway jar [sim:lost-answer]' },
    ]);
    const { input } = await prepareBatch(file, s3, config.s3.bucket, taskQueue, {
      batchId: `record-gateway-${stamp}`,
      outputPrefix: `record/gw-${stamp}`,
      concurrency: 3,
      submitPolicy: 'at-most-once',
      callbacks: true,
      pollMinMs: 1000,
      pollMaxMs: 2000,
    });
    await workers.runUntil(async () => {
      await startBatch(client, s3, config.s3.bucket, taskQueue, file, input);
      const batch = client.workflow.getHandle(input.batchId);
      while ((await batch.query(progressQuery).catch(() => undefined))?.state !== 'held') await sleep(200);
      await fetch(`${sim.url}/_sim/gateway`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ quota: null }),
      });
      await batch.executeUpdate(resumeUpdate);
      await waitForBatch(client, input.batchId, () => undefined, 500);
    });
    await save(client, dir, 'gateway-batch-workflow.json', input.batchId);
    for (const row of ['pick', 'second', 'lost']) await save(client, dir, `gateway-item-${row}-workflow.json`, `${input.batchId}/${row}`);
  } finally {
    await sim.close();
  }
}

/**
 * A batch terminated mid-way, run again under another id with every submit's answer lost: the slots workflow takes
 * the dead batch's leases back, and the rows adopt their jobs from the journal or the proxy's task list.
 */
async function recordRecovery({ client, s3, config, dir, taskQueue }: Recording): Promise<void> {
  const sim = await startSimulator({ speed: 50 });
  const workers = await startWorkers({ ...config, mj: { ...config.mj, baseUrl: sim.url, apiKey: sim.options.apiKey } }, { taskQueue });
  try {
    const stamp = Date.now();
    const account = `record-rec-${stamp}`;
    const file = writeManifest(Array.from({ length: 6 }, (_, i) => ({ id: `r${i}`, prompt: `a recorded recovery vase ${i}` })));
    const options = {
      outputPrefix: `record/rec-${stamp}`,
      concurrency: 4,
      submitPolicy: 'at-most-once' as const,
      callbacks: true,
      pollMinMs: 1000,
      pollMaxMs: 2000,
      accountSlots: 2,
      account,
    };
    const start = async (batchId: string) => {
      const { input } = await prepareBatch(file, s3, config.s3.bucket, taskQueue, { ...options, batchId });
      await startBatch(client, s3, config.s3.bucket, taskQueue, file, input, { account, slots: 2 });
      return input;
    };
    await workers.runUntil(async () => {
      const first = await start(`record-killed-${stamp}`);
      const batch = client.workflow.getHandle(first.batchId);
      while (((await batch.query(progressQuery).catch(() => undefined))?.counts.succeeded ?? 0) < 1) await sleep(200);
      await batch.terminate('recorded: killed mid-way');
      await fetch(`${sim.url}/_sim/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ resetAfterSubmit: 1 }),
      });
      const again = await start(`record-resumed-${stamp}`);
      await waitForBatch(client, again.batchId, () => undefined, 500);
      await save(client, dir, 'recovery-batch-workflow.json', again.batchId);
      for (const row of ['r2', 'r5']) await save(client, dir, `recovery-item-${row}-workflow.json`, `${again.batchId}/${row}`);
      await save(client, dir, 'recovery-account-slots-workflow.json', first.accountSlotsWorkflowId!);
      await client.workflow.getHandle(first.accountSlotsWorkflowId!).terminate('recorded');
    });
  } finally {
    await sim.close();
  }
}

/**
 * Batches that stop while they drain their rows to continue as new (two rows per run): one over its failure threshold
 * (maxFailed 0, a prompt the simulator refuses as banned), one cancelled while its rows' jobs run on a slow
 * simulator. And a row whose first submit is answered 429 with Retry-After.
 */
async function recordStops({ client, s3, config, dir, taskQueue }: Recording): Promise<void> {
  const stamp = Date.now();
  const options = {
    concurrency: 2,
    rowsPerRun: 2,
    submitPolicy: 'at-most-once' as const,
    callbacks: true,
    pollMinMs: 1000,
    pollMaxMs: 2000,
  };
  const run = async (file: string, batchId: string, extra: { maxFailed?: number } = {}) => {
    const { input } = await prepareBatch(file, s3, config.s3.bucket, taskQueue, {
      ...options,
      ...extra,
      batchId,
      outputPrefix: `record/${batchId}`,
    });
    await startBatch(client, s3, config.s3.bucket, taskQueue, file, input);
    return input;
  };

  const fast = await startSimulator({ speed: 200, faults: { bannedWords: ['forbidden'] } });
  let workers = await startWorkers({ ...config, mj: { ...config.mj, baseUrl: fast.url, apiKey: fast.options.apiKey } }, { taskQueue });
  try {
    await workers.runUntil(async () => {
      const over = await run(
        writeManifest([
          { id: 'd0', prompt: 'a recorded drained cup' },
          { id: 'd1', prompt: 'a recorded forbidden statue' },
          { id: 'd2', prompt: 'a recorded drained bowl' },
          { id: 'd3', prompt: 'a recorded drained plate' },
        ]),
        `record-drain-threshold-${stamp}`,
        { maxFailed: 0 },
      );
      await waitForBatch(client, over.batchId, () => undefined, 500);
      await save(client, dir, 'drain-threshold-batch-workflow.json', over.batchId);

      // The simulator answers the next API call, the row's first submit, with 429 and Retry-After: 1.
      await fetch(`${fast.url}/_sim/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ burst429: 1 }),
      });
      const limited = await run(
        writeManifest([{ id: 'limited', prompt: 'a recorded rate-limited kettle' }]),
        `record-retry-after-${stamp}`,
      );
      await waitForBatch(client, limited.batchId, () => undefined, 500);
      await save(client, dir, 'retry-after-item-workflow.json', `${limited.batchId}/limited`);
    });
  } finally {
    await fast.close();
  }

  // Slow jobs (30 to 60 s at speed 1, here half that): both rows of the first run are still running when the cancel comes.
  const slow = await startSimulator({ speed: 2 });
  workers = await startWorkers(
    { ...config, mj: { ...config.mj, baseUrl: slow.url, apiKey: slow.options.apiKey } },
    { taskQueue: `${taskQueue}-slow` },
  );
  try {
    await workers.runUntil(async () => {
      const file = writeManifest(Array.from({ length: 4 }, (_, i) => ({ id: `c${i}`, prompt: `a recorded cancelled mug ${i}` })));
      const { input } = await prepareBatch(file, s3, config.s3.bucket, `${taskQueue}-slow`, {
        ...options,
        batchId: `record-drain-cancel-${stamp}`,
        outputPrefix: `record/drain-cancel-${stamp}`,
      });
      await startBatch(client, s3, config.s3.bucket, `${taskQueue}-slow`, file, input);
      while (slow.engine.jobs.size < 2) await sleep(100);
      await client.workflow.getHandle(input.batchId).signal(cancelBatchSignal);
      const { result } = await waitForBatch(client, input.batchId, () => undefined, 500);
      if (!result.cancelled) throw new Error(`the batch cancelled during its drain ended ${JSON.stringify(result)}`);
      await save(client, dir, 'drain-cancel-batch-workflow.json', input.batchId);
      await save(client, dir, 'drain-cancel-item-workflow.json', `${input.batchId}/c0`);
    });
  } finally {
    await slow.close();
  }
}

/**
 * Versions and reprocessing: an id-keyed batch run across run boundaries (rows outlive the run that started them),
 * then edited (a plan gaining U4, a changed prompt) and run again (only the changed work is paid for), then
 * reprocessed with new thumbnails, and a media-only row made again from its stored original.
 */
async function recordVersions({ client, s3, config, dir, taskQueue }: Recording): Promise<void> {
  const stamp = Date.now();
  const sim = await startSimulator({ speed: 200 });
  const workers = await startWorkers({ ...config, mj: { ...config.mj, baseUrl: sim.url, apiKey: sim.options.apiKey } }, { taskQueue });
  const seed = sim.engine.submitNew('IMAGINE', {
    prompt: 'a recorded seed vase',
    image: { kind: 'grid', key: 'a recorded seed vase', aspect: '1:1' },
  });
  const outputPrefix = `record/versions-${stamp}`;
  const run = async (rows: object[], batchId: string, skipDone = true) => {
    const file = writeManifest(rows);
    const { input } = await prepareBatch(file, s3, config.s3.bucket, taskQueue, {
      batchId,
      outputPrefix,
      concurrency: 2,
      rowsPerRun: 2,
      submitPolicy: 'at-most-once',
      callbacks: true,
      pollMinMs: 1000,
      pollMaxMs: 2000,
    });
    input.item.skipDone = skipDone;
    const handle = await startBatch(client, s3, config.s3.bucket, taskQueue, file, input);
    await waitForBatch(client, batchId, () => undefined, 500);
    return handle;
  };
  try {
    await workers.runUntil(async () => {
      while (sim.engine.jobs.get(seed.result!)?.status !== 'SUCCESS') await sleep(100);
      const rows = [
        { id: 'kept', prompt: 'a recorded kept sofa', actions: 'U1' },
        { id: 'gains', prompt: 'a recorded growing shelf', actions: 'U1' },
        { id: 'edited', prompt: 'a recorded first desk' },
        { id: 'pic', taskId: seed.result },
      ];
      const first = await run(rows, `record-versions-${stamp}`);
      await save(client, dir, 'outlive-first-run-batch-workflow.json', first.workflowId, first.firstExecutionRunId);
      await save(client, dir, 'outlive-last-run-batch-workflow.json', first.workflowId);
      const edited = rows.map((r) =>
        r.id === 'gains' ? { ...r, actions: 'U1,U4' } : r.id === 'edited' ? { ...r, prompt: 'a recorded second desk' } : r,
      );
      const again = await run(edited, `record-versions-edited-${stamp}`);
      await save(client, dir, 'versions-rerun-batch-workflow.json', again.workflowId);
      for (const row of ['kept', 'gains', 'edited'])
        await save(client, dir, `versions-item-${row}-workflow.json`, `${again.workflowId}/${row}`);
      const media = await run([edited[3]!], `record-versions-media-${stamp}`, false);
      await save(client, dir, 'versions-item-media-stored-workflow.json', `${media.workflowId}/pic`);

      const record = await loadBatchRecord(s3, config.s3.bucket, again.workflowId);
      if (!record) throw new Error(`no batch record for ${again.workflowId}`);
      const reprocess = await startReprocess(client, s3, config.s3.bucket, record, {
        batchId: `record-reprocess-${stamp}`,
        thumbnails: [{ size: 128, format: 'webp' }],
        taskQueue,
      });
      await waitForBatch(client, reprocess.input.batchId, () => undefined, 500);
      await save(client, dir, 'reprocess-batch-workflow.json', reprocess.input.batchId);
      await save(client, dir, 'reprocess-row-gains-workflow.json', `${reprocess.input.batchId}/gains`);
    });
  } finally {
    await sim.close();
  }
}

/**
 * Two accounts in a pool (an accounts file, one simulator each): B refuses every submit at first, so its rows move to
 * A and B is parked; B heals and its probe is accepted. A row with a follow-up presses it on its grid's account.
 */
async function recordPool({ client, s3, config, dir, taskQueue }: Recording): Promise<void> {
  const stamp = Date.now();
  const env: NodeJS.ProcessEnv = { ...process.env };
  const sims = await Promise.all(['A', 'B'].map((name) => startSimulator({ speed: 200, apiKey: `sk-record-${name}` })));
  const accounts: AccountSpec[] = sims.map((sim, i) => {
    const name = ['A', 'B'][i]!;
    env[`MJ_RECORD_KEY_${name}`] = sim.options.apiKey;
    return { name, baseUrl: sim.url, apiKeyEnv: `MJ_RECORD_KEY_${name}`, slots: 2 };
  });
  const accountsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'record-')), 'accounts.json');
  fs.writeFileSync(accountsFile, JSON.stringify(accounts));
  const b = sims[1]!;
  await fetch(`${b.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ queueFull: 1 }) });
  const workers = await startWorkers(config, { taskQueue, env, accountsFile });
  const poolId = await ensureAccountPool(client, taskQueue, accounts, { firstProbeMs: 1_000, maxProbeMs: 2_000 });
  try {
    await workers.runUntil(async () => {
      const rows = [
        { id: 'p0', prompt: 'a recorded pooled lamp', actions: 'U1' },
        { id: 'p1', prompt: 'a recorded pooled rug' },
        { id: 'p2', prompt: 'a recorded pooled stool' },
        { id: 'p3', prompt: 'a recorded pooled vase' },
      ];
      const file = writeManifest(rows);
      const { input } = await prepareBatch(file, s3, config.s3.bucket, taskQueue, {
        batchId: `record-pool-${stamp}`,
        outputPrefix: `record/pool-${stamp}`,
        concurrency: 4,
        submitPolicy: 'at-most-once',
        callbacks: true,
        pollMinMs: 1000,
        pollMaxMs: 2000,
      });
      await startBatch(client, s3, config.s3.bucket, taskQueue, file, input, undefined, { accounts });
      await waitForBatch(client, input.batchId, () => undefined, 500);
      // B heals; a second batch's rows reach it once its probe is accepted.
      await fetch(`${b.url}/_sim/faults`, { method: 'DELETE' });
      const later = writeManifest([1, 2, 3, 4].map((i) => ({ id: `q${i}`, prompt: `a recorded healed chair ${i}` })));
      const healed = await prepareBatch(later, s3, config.s3.bucket, taskQueue, {
        batchId: `record-pool-healed-${stamp}`,
        outputPrefix: `record/pool-healed-${stamp}`,
        concurrency: 4,
        submitPolicy: 'at-most-once',
        callbacks: true,
        pollMinMs: 1000,
        pollMaxMs: 2000,
      });
      await sleep(2_500);
      await startBatch(client, s3, config.s3.bucket, taskQueue, later, healed.input, undefined, { accounts });
      await waitForBatch(client, healed.input.batchId, () => undefined, 500);
      await save(client, dir, 'pool-batch-workflow.json', input.batchId);
      for (const row of rows) await save(client, dir, `pool-item-${row.id}-workflow.json`, `${input.batchId}/${row.id}`);
      await save(client, dir, 'pool-healed-batch-workflow.json', healed.input.batchId);
      await save(client, dir, 'account-pool-workflow.json', poolId);
    });
  } finally {
    await client.workflow
      .getHandle(poolId)
      .terminate('recorded')
      .catch(() => undefined);
    for (const sim of sims) await sim.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
