/**
 * Records real workflow histories from the local stack into test/fixtures/histories/, for the replay tests
 * that guard determinism. Run after changing workflow code on purpose: `npm run build && npm run record-histories`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { loadConfig } from '../config/config';
import { connectClient, connectWorker } from '../config/temporal';
import { defaultStackDir } from '../stack/paths';
import { stackUp } from '../stack/stack';
import { createS3Client } from '../storage/s3-client';
import * as os from 'node:os';
import { prepareBatch, startBatch, waitForBatch } from '../cli/batches';
import { startSimulator } from '../simulator/server';
import { startWorkers } from '../worker/run-worker';
import { createWorker } from '../worker/worker';
import { smokeWorkflow } from '../workflows';

const OUT_DIR = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'histories');

async function main(): Promise<void> {
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
    fs.mkdirSync(OUT_DIR, { recursive: true });
    const save = async (name: string, id: string, runId?: string) => {
      const history = await client.workflow.getHandle(id, runId).fetchHistory();
      const file = path.join(OUT_DIR, name);
      fs.writeFileSync(file, JSON.stringify(JSON.parse(historyToJSON(history)), null, 2) + '\n');
      process.stdout.write(`wrote ${file} (${history.events?.length} events)\n`);
    };
    await save('smoke-workflow.json', workflowId);

    // A small batch on a simulator of its own: an imagine row with a follow-up (callbacks on) and a shorten row.
    const sim = await startSimulator({ speed: 200 });
    const batchQueue = `${taskQueue}-batch`;
    const workers = await startWorkers({ ...config, mj: { ...config.mj, baseUrl: sim.url, apiKey: sim.options.apiKey } }, { taskQueue: batchQueue });
    try {
      const manifest = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'record-')), 'record.jsonl');
      fs.writeFileSync(manifest, [
        { id: 'picked', prompt: 'a recorded oak chair', actions: 'U2' },
        { id: 'short', kind: 'shorten', prompt: 'a long recorded prompt about a walnut table in soft light' },
      ].map((r) => JSON.stringify(r)).join('\n'));
      const { input } = await prepareBatch(manifest, s3, config.s3.bucket, batchQueue, {
        batchId: `record-batch-${Date.now()}`, outputPrefix: `record/${Date.now()}`, concurrency: 2, submitPolicy: 'at-most-once', callbacks: true, pollMinMs: 1000, pollMaxMs: 2000, accountSlots: 2, account: 'record',
      });
      await workers.runUntil(async () => {
        await startBatch(client, s3, config.s3.bucket, batchQueue, manifest, input, { account: 'record', slots: 2 });
        await waitForBatch(client, input.batchId, () => undefined, 500);
      });
      await save('batch-workflow.json', input.batchId);
      await save('item-workflow.json', `${input.batchId}/picked`);
      await save('account-slots-workflow.json', input.accountSlotsWorkflowId!);
      await client.workflow.getHandle(input.accountSlotsWorkflowId!).terminate('recorded');
    } finally {
      await sim.close();
    }
  } finally {
    s3.destroy();
    await connection.close();
    await client.connection.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
