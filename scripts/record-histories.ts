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
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    fs.mkdirSync(OUT_DIR, { recursive: true });
    const file = path.join(OUT_DIR, 'smoke-workflow.json');
    fs.writeFileSync(file, JSON.stringify(JSON.parse(historyToJSON(history)), null, 2) + '\n');
    process.stdout.write(`wrote ${file} (${history.events?.length} events)\n`);
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
