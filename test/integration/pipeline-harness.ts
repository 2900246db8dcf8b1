import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { prepareBatch, startBatch, waitForBatch, type BatchOptions } from '../../client/batches';
import type { EffectiveConfig } from '../../config/config';
import { connectClient } from '../../config/temporal';
import { startSimulator, type RunningSimulator } from '../../simulator/server';
import type { SimulatorSettings } from '../../simulator/options';
import { createS3Client } from '../../storage/s3-client';
import { startWorkers, type RunningWorkers } from '../../worker/run-worker';
import { stackConfig, unique, workflowBundle } from './helpers';

export type LedgerJob = ReturnType<RunningSimulator['engine']['ledger']>[number];

/**
 * A real pipeline for one test file: its own simulator (so faults and ledgers do not mix with other files), the
 * stack's Temporal and S3, and the real workers on a task queue of its own.
 */
export interface Pipeline {
  sim: RunningSimulator;
  workers: RunningWorkers;
  client: Client;
  s3: S3Client;
  config: EffectiveConfig;
  taskQueue: string;
  /** Environment for CLI runs that should reach this pipeline's worker. */
  cliEnv: NodeJS.ProcessEnv;
  ledger(): LedgerJob[];
  stop(): Promise<void>;
}

export async function startPipeline(sim: SimulatorSettings, env: NodeJS.ProcessEnv = {}): Promise<Pipeline> {
  const simulator = await startSimulator({ speed: 50, ...sim });
  // Resolved with `env` too, so codec keys in it (MJ_BATCH_CODEC_*) reach the pipeline's client as well as its workers.
  const base = stackConfig({ ...process.env, ...env });
  const taskQueue = unique('pipeline');
  const config: EffectiveConfig = {
    ...base,
    taskQueue,
    mj: { ...base.mj, baseUrl: simulator.url, apiKey: simulator.options.apiKey, source: 'env' },
  };
  const workers = await startWorkers(config, {
    taskQueue,
    workflowBundle: await workflowBundle(),
    env: { ...process.env, MJ_BATCH_MEDIA_CONCURRENCY: '2', ...env },
  });
  const running = workers.run();
  const client = await connectClient(config.temporal);
  const s3 = createS3Client(config.s3);
  return {
    sim: simulator,
    workers,
    client,
    s3,
    config,
    taskQueue,
    cliEnv: { MJ_BATCH_TASK_QUEUE: taskQueue },
    ledger: () => simulator.engine.ledger(),
    async stop() {
      // The account slots workflows never end by themselves; their workers are going away.
      for await (const wf of client.workflow.list({
        query: `WorkflowType = 'accountSlotsWorkflow' AND TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
      })) {
        await client.workflow
          .getHandle(wf.workflowId)
          .terminate('test finished')
          .catch(() => undefined);
      }
      workers.shutdown();
      await running;
      s3.destroy();
      await client.connection.close();
      await simulator.close();
    },
  };
}

/** Writes a manifest file into a fresh temp folder and returns its path. */
export function writeManifest(name: string, content: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-test-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

export const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

export const defaultOptions = (over: Partial<BatchOptions> = {}): BatchOptions => ({
  concurrency: 3,
  submitPolicy: 'at-most-once',
  callbacks: true,
  pollMinMs: 500,
  pollMaxMs: 2000,
  jobDeadlineMs: 60_000,
  ...over,
});

/** prepare → start → wait, as `mj-batch run --wait` does. */
export async function runBatch(p: Pipeline, manifest: string, opts: BatchOptions) {
  const { input } = await prepareBatch(manifest, p.s3, p.config.s3.bucket, p.taskQueue, opts);
  await startBatch(p.client, p.s3, p.config.s3.bucket, p.taskQueue, manifest, input);
  const outcome = await waitForBatch(p.client, input.batchId, () => undefined);
  return { input, ...outcome };
}

/**
 * prepare → start on an account's shared slots (its slots workflow made or resized to `slots`, with `queueAhead`
 * more jobs allowed to wait at the API), as `mj-batch run --account` does; returns the batch's input.
 */
export async function startOnAccount(
  p: Pipeline,
  manifest: string,
  opts: Partial<BatchOptions> & { account: string; slots: number; queueAhead?: number; maxQueueAhead?: number },
) {
  const { account, slots, queueAhead = 0, maxQueueAhead, ...options } = opts;
  const { input } = await prepareBatch(
    manifest,
    p.s3,
    p.config.s3.bucket,
    p.taskQueue,
    defaultOptions({ ...options, accountSlots: slots, account }),
  );
  await startBatch(p.client, p.s3, p.config.s3.bucket, p.taskQueue, manifest, input, { account, slots, queueAhead, maxQueueAhead });
  return input;
}

/**
 * The most jobs the ledger shows outstanding at once (from submit to finish): above the account's slots, jobs would
 * wait in the proxy's queue, or be refused as queue full.
 */
export function maxOutstandingJobs(jobs: LedgerJob[]): number {
  const events: [number, number][] = [];
  for (const j of jobs) events.push([j.submitTime, 1], [j.finishTime ?? Number.MAX_SAFE_INTEGER, -1]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of events) max = Math.max(max, (now += d));
  return max;
}
