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
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { prepareBatch, startBatch, waitForBatch } from '../cli/batches';
import { loadConfig, type EffectiveConfig } from '../config/config';
import { connectClient, connectWorker } from '../config/temporal';
import { startSimulator } from '../simulator/server';
import { defaultStackDir } from '../stack/paths';
import { stackUp } from '../stack/stack';
import { createS3Client } from '../storage/s3-client';
import { startWorkers } from '../worker/run-worker';
import { createWorker } from '../worker/worker';
import { smokeWorkflow } from '../workflows';
import { progressQuery, resumeUpdate } from '../workflows/shared';

const HISTORIES = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'histories');

async function save(client: Client, dir: string, name: string, id: string): Promise<void> {
  const history = await client.workflow.getHandle(id).fetchHistory();
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
  const config = loadConfig();
  const taskQueue = `record-histories-${process.pid}`;
  const [client, connection] = await Promise.all([connectClient(config.temporal), connectWorker(config.temporal)]);
  const s3 = createS3Client(config.s3);
  try {
    const worker = await createWorker({ connection, namespace: config.temporal.namespace, taskQueue, deps: { s3, bucket: config.s3.bucket } });
    const workflowId = `record-smoke-${Date.now()}`;
    await worker.runUntil(client.workflow.execute(smokeWorkflow, { taskQueue, workflowId, args: [{ key: `record/${workflowId}.txt`, text: 'recorded\n' }] }));
    await save(client, dir, 'smoke-workflow.json', workflowId);

    // A small batch on a simulator of its own (callbacks on): an imagine row with a follow-up, a shorten row, a row
    // whose job fails, and a media-only row; then the same batch again, which skips the rows already done.
    const sim = await startSimulator({ speed: 200 });
    const batchQueue = `${taskQueue}-batch`;
    const workers = await startWorkers({ ...config, mj: { ...config.mj, baseUrl: sim.url, apiKey: sim.options.apiKey } }, { taskQueue: batchQueue });
    try {
      const seed = sim.engine.submitNew('IMAGINE', { prompt: 'a recorded seed image', image: { kind: 'grid', key: 'a recorded seed image', aspect: '1:1' } });
      const manifestFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'record-')), 'record.jsonl');
      fs.writeFileSync(manifestFile, [
        { id: 'picked', prompt: 'a recorded oak chair', actions: 'U2' },
        { id: 'short', kind: 'shorten', prompt: 'a long recorded prompt about a walnut table in soft light' },
        { id: 'failing', prompt: 'a recorded lamp [sim:fail]' },
        { id: 'media', taskId: seed.result },
      ].map((r) => JSON.stringify(r)).join('\n'));
      const stamp = Date.now();
      const account = `record-${stamp}`;
      const run = async (batchId: string) => {
        const { input } = await prepareBatch(manifestFile, s3, config.s3.bucket, batchQueue, {
          batchId, outputPrefix: `record/${stamp}`, concurrency: 2, submitPolicy: 'at-most-once', callbacks: true, pollMinMs: 1000, pollMaxMs: 2000, accountSlots: 2, account,
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
        for (const row of ['picked', 'short', 'failing', 'media']) await save(client, dir, `item-${row}-workflow.json`, `${first.batchId}/${row}`);
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
      batchId: `record-gateway-${stamp}`, outputPrefix: `record/gw-${stamp}`, concurrency: 3, submitPolicy: 'at-most-once', callbacks: true, pollMinMs: 1000, pollMaxMs: 2000,
    });
    await workers.runUntil(async () => {
      await startBatch(client, s3, config.s3.bucket, taskQueue, file, input);
      const batch = client.workflow.getHandle(input.batchId);
      while ((await batch.query(progressQuery).catch(() => undefined))?.state !== 'held') await sleep(200);
      await fetch(`${sim.url}/_sim/gateway`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ quota: null }) });
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
    const options = { outputPrefix: `record/rec-${stamp}`, concurrency: 4, submitPolicy: 'at-most-once' as const, callbacks: true, pollMinMs: 1000, pollMaxMs: 2000, accountSlots: 2, account };
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
      await fetch(`${sim.url}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resetAfterSubmit: 1 }) });
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

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
