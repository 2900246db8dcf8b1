import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { WorkerProcess } from '../../bench/worker-process';
import { duplicatePaidJobs, type LedgerEntry } from '../../bench/chaos-checks';
import { prepareBatch, startBatch, waitForBatch } from '../../client/batches';
import { loadConfig } from '../../config/config';
import { connectClient } from '../../config/temporal';
import { WorkflowType } from '../../contracts/naming';
import { parseS3Uri } from '../../manifest/source';
import type { ResultLine } from '../../report/results';
import { startSimulator, type RunningSimulator } from '../../simulator/server';
import { clusterUp, type ClusterEndpoints } from '../../stack/cluster';
import { defaultStackDir } from '../../stack/paths';
import { delay, isPortFree, isRunning, waitUntil } from '../../stack/processes';
import { stackDown, stackStatus } from '../../stack/stack';
import { readStackState } from '../../stack/state';
import { createS3Client } from '../../storage/s3-client';
import { getObjectOrNull } from '../../storage/objects';
import { unique } from './helpers';
import { defaultOptions, jsonl } from './pipeline-harness';

// `stack up --cluster` beside the tests' dev stack (same folder: S3 is shared), a simulator of this file's own (its
// ledger is this batch's alone), and two `mj-batch worker` processes on the cluster. Only the cluster is stopped
// afterwards: the dev stack belongs to the other test files.
const dir = defaultStackDir();
const ROWS = 10;
let cluster: ClusterEndpoints;
let sim: RunningSimulator;
let client: Client;
let s3: S3Client;
let workers: WorkerProcess[] = [];
let workerEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  // The first run builds temporal-server (minutes, then cached) and initialises PostgreSQL.
  cluster = await clusterUp({ dir, simSpeed: 50, log: (line) => process.stderr.write(`[cluster] ${line}\n`), healthTimeoutMs: 180_000 });
  sim = await startSimulator({ speed: 50, concurrency: 4 });
  workerEnv = {
    ...process.env,
    MJ_BATCH_STACK_DIR: dir,
    TEMPORAL_ADDRESS: cluster.cluster.address,
    MJ_BASE_URL: sim.url,
    MJ_API_KEY: sim.options.apiKey,
    MJ_BATCH_TASK_QUEUE: unique('cluster'),
    MJ_BATCH_MEDIA_CONCURRENCY: '2',
  };
  const config = loadConfig(workerEnv);
  client = await connectClient(config.temporal);
  s3 = createS3Client(config.s3);
}, 15 * 60_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
  s3?.destroy();
  await client?.connection.close().catch(() => undefined);
  await sim?.close();
  if (process.env.MJ_BATCH_KEEP_STACK !== '1') await stackDown({ dir, only: ['cluster'] });
}, 120_000);

test('stack status lists every service of the cluster with its pid, beside the dev stack', async () => {
  expect(cluster.cluster.address).not.toBe(cluster.temporalAddress);
  const services = await stackStatus({ dir });
  const byName = Object.fromEntries(services.map((s) => [s.name, s]));
  for (const name of ['postgres', 'frontend', 'history', 'matching', 'worker', 's3', 'simulator']) {
    expect(byName[name]).toMatchObject({ state: 'running', healthy: true, pid: expect.any(Number) });
  }
  expect(new Set(['postgres', 'frontend', 'history', 'matching', 'worker'].map((n) => byName[n]!.pid)).size).toBe(5);
});

async function completedRows(batchId: string): Promise<number> {
  try {
    const query = `WorkflowType = '${WorkflowType.item}' AND BatchId = '${batchId}' AND ExecutionStatus = 'Completed'`;
    return (await client.workflow.count(query)).count;
  } catch {
    return 0; // the frontend is restarting
  }
}

test(
  'a batch on the cluster survives a SIGKILLed worker and a frontend restart: every row SUCCESS, each job paid once',
  async () => {
    const logs = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-cluster-'));
    workers = [0, 1].map((i) => new WorkerProcess(workerEnv, path.join(logs, `worker-${i}.log`)));
    await Promise.all(workers.map((w) => w.start()));

    const tag = unique('cl');
    const file = path.join(logs, 'manifest.jsonl');
    fs.writeFileSync(file, jsonl(Array.from({ length: ROWS }, (_, i) => ({ id: `${tag}-${i}`, prompt: `${tag} enamel teapot ${i}` }))));
    const taskQueue = workerEnv.MJ_BATCH_TASK_QUEUE!;
    const bucket = loadConfig(workerEnv).s3.bucket;
    const { input } = await prepareBatch(file, s3, bucket, taskQueue, defaultOptions({ outputPrefix: unique('out/cluster') }));
    await startBatch(client, s3, bucket, taskQueue, file, input);

    // Mid-batch: one worker dies without draining, then the frontend dies and `stack up --cluster` brings it back.
    await waitUntil(
      'two finished rows',
      async () => {
        if ((await completedRows(input.batchId)) < 2) throw new Error('not yet');
      },
      180_000,
    );
    await workers[0]!.kill();
    const frontend = readStackState(dir)!.cluster!.services.frontend!;
    process.kill(frontend.pid, 'SIGKILL');
    while (isRunning(frontend)) await delay(50);
    await waitUntil(
      'the frontend port to be released',
      async () => {
        if (!(await isPortFree(readStackState(dir)!.cluster!.port))) throw new Error('still in use');
      },
      30_000,
    );
    expect(await completedRows(input.batchId)).toBeLessThan(ROWS);
    const again = await clusterUp({ dir, healthTimeoutMs: 120_000 });
    expect(again.cluster.started).toEqual(['frontend']);
    expect(readStackState(dir)!.cluster!.services.frontend!.pid).not.toBe(frontend.pid);

    const { result } = await waitForBatch(client, input.batchId, () => undefined);
    expect(result.counts).toMatchObject({ total: ROWS, succeeded: ROWS });
    const ref = parseS3Uri(result.resultsJsonl)!;
    const report = (await getObjectOrNull(s3, ref.bucket, ref.key))!
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ResultLine);
    expect(report).toHaveLength(ROWS);
    expect(report.every((l) => l.status === 'SUCCESS')).toBe(true);

    const ledger = sim.engine.ledger() as LedgerEntry[];
    expect(duplicatePaidJobs(ledger).count).toBe(0);
    const paid = ledger.filter((j) => j.charged && j.status !== 'FAILURE');
    expect(new Set(paid.map((j) => j.state))).toEqual(new Set(report.map((l) => l.key)));
    expect(paid).toHaveLength(ROWS);
  },
  10 * 60_000,
);
