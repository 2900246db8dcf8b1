import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import type { S3Client } from '@aws-sdk/client-s3';
import { prepareBatch, startBatch, waitForBatch } from '../client/batches';
import { concurrencyOf } from '../client/options';
import { startSimulator } from '../simulator/server';
import { accountSlotsWorkflowId } from '../contracts/account-slots';
import type { OwnStack } from './own-stack';
import { WorkerProcess } from './worker-process';

export interface ScaleOptions {
  sizes: number[];
  slots: number;
  speed: number;
  log?: (line: string) => void;
}

export interface ScaleRun {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  /** The worker process's peak resident set (VmHWM), MiB; a fresh worker per size. */
  workerPeakRssMiB: number;
  workerCpuMsPerRow: number;
  batchRuns: number;
  /** The longest and largest history among the batch's runs (continue-as-new keeps each short). */
  batchHistoryEventsMax: number;
  batchHistoryBytesMax: number;
  /** Events of one row's workflow (the middle row). */
  eventsPerItem: number;
  /** From the worker's MJ_BATCH_MEMORY_SAMPLE_MS lines: the most workflows cached and the main thread's largest heap, MiB. */
  workerCachedWorkflowsMax: number | null;
  workerHeapUsedMiBMax: number | null;
}

export interface ScaleResult {
  slots: number;
  speed: number;
  runs: ScaleRun[];
  /** Peak RSS at the largest size / at the smallest. */
  rssRatio: number | null;
  /** Lines of the Temporal server's log warning that a history passed its size or length warning limit. */
  historyWarnings: number;
}

const mib = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;

/** The largest cache size and main-thread heap among the worker's `memory:` lines (worker/run-worker.ts memorySample). */
export function memoryPeaks(logFile: string): Pick<ScaleRun, 'workerCachedWorkflowsMax' | 'workerHeapUsedMiBMax'> {
  const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
  let cached: number | null = null;
  let heap: number | null = null;
  for (const m of text.matchAll(/memory: .*heapUsedMiB=([\d.]+) .*cachedWorkflows=(\d+)/g)) {
    heap = Math.max(heap ?? 0, Number(m[1]));
    cached = Math.max(cached ?? 0, Number(m[2]));
  }
  return { workerCachedWorkflowsMax: cached, workerHeapUsedMiBMax: heap };
}

/**
 * 3. Scale: shorten rows (text jobs: the orchestration alone; the media stage has its own benchmark) at the
 * simulator's top speed on many slots, one fresh worker process per size.
 */
export async function benchScale(stack: OwnStack, client: Client, s3: S3Client, opts: ScaleOptions): Promise<ScaleResult> {
  const log = opts.log ?? (() => undefined);
  const sim = await startSimulator({ speed: opts.speed, concurrency: opts.slots, queueSize: 10, seed: 'bench-scale' });
  const runs: ScaleRun[] = [];
  try {
    for (const size of opts.sizes) {
      const taskQueue = `bench-scale-${size}-${Date.now().toString(36)}`;
      const workerLog = path.join(stack.dir, 'logs', `${taskQueue}.log`);
      const worker = new WorkerProcess(
        {
          ...stack.env,
          MJ_BASE_URL: sim.url,
          MJ_API_KEY: sim.options.apiKey,
          MJ_BATCH_TASK_QUEUE: taskQueue,
          MJ_BATCH_MEMORY_SAMPLE_MS: '5000',
        },
        workerLog,
      );
      try {
        await worker.start();
        const cpuAtStart = worker.usage()?.cpuMs ?? 0;
        const file = path.join(stack.dir, `${taskQueue}.jsonl`);
        const lines = Array.from({ length: size }, (_, i) =>
          JSON.stringify({ id: `s${i + 1}`, kind: 'shorten', prompt: `scale bench row ${i + 1} a long product description to shorten` }),
        );
        fs.writeFileSync(file, `${lines.join('\n')}\n`);
        const account = taskQueue;
        const { input } = await prepareBatch(file, s3, stack.config.s3.bucket, taskQueue, {
          batchId: taskQueue,
          outputPrefix: `bench/${taskQueue}`,
          concurrency: concurrencyOf({ accountSlots: opts.slots, queueAhead: 2 }),
          accountSlots: opts.slots,
          account,
          submitPolicy: 'at-most-once',
          callbacks: true,
          pollMinMs: 1000,
          pollMaxMs: 2000,
        });
        const t0 = Date.now();
        await startBatch(client, s3, stack.config.s3.bucket, taskQueue, file, input, { account, slots: opts.slots, queueAhead: 2 });
        const { result } = await waitForBatch(
          client,
          input.batchId,
          (p) => log(`scale ${size}: ${p.counts.succeeded + p.counts.failed}/${size} rows`),
          15_000,
        );
        const seconds = (Date.now() - t0) / 1000;
        const usage = worker.usage();
        await client.workflow
          .getHandle(accountSlotsWorkflowId(taskQueue, account))
          .terminate('bench run finished')
          .catch(() => undefined);
        if (result.counts.succeeded !== size) throw new Error(`scale bench: ${result.counts.succeeded} of ${size} rows succeeded`);

        let batchRuns = 0;
        let eventsMax = 0;
        let bytesMax = 0;
        for await (const wf of client.workflow.list({ query: `WorkflowId = '${input.batchId}'` })) {
          batchRuns++;
          eventsMax = Math.max(eventsMax, wf.historyLength);
          bytesMax = Math.max(bytesMax, wf.historySize ?? 0);
        }
        const item = await client.workflow.getHandle(`${input.batchId}/s${Math.ceil(size / 2)}`).describe();
        const run: ScaleRun = {
          rows: size,
          seconds: Math.round(seconds * 10) / 10,
          rowsPerSecond: Math.round((size / seconds) * 10) / 10,
          workerPeakRssMiB: mib(usage?.peakRssBytes ?? 0),
          workerCpuMsPerRow: Math.round((((usage?.cpuMs ?? 0) - cpuAtStart) / size) * 10) / 10,
          batchRuns,
          batchHistoryEventsMax: eventsMax,
          batchHistoryBytesMax: bytesMax,
          eventsPerItem: item.historyLength,
          ...memoryPeaks(workerLog),
        };
        log(
          `scale ${size}: ${run.rowsPerSecond} rows/s, worker peak RSS ${run.workerPeakRssMiB} MiB, ${run.workerCpuMsPerRow} CPU-ms/row, ` +
            `cached workflows max ${run.workerCachedWorkflowsMax}, main heap max ${run.workerHeapUsedMiBMax} MiB`,
        );
        runs.push(run);
      } finally {
        await worker.stop();
      }
    }
  } finally {
    await sim.close();
  }
  const temporalLog = path.join(stack.dir, 'logs', 'temporal.log');
  const historyWarnings = fs.existsSync(temporalLog)
    ? fs
        .readFileSync(temporalLog, 'utf8')
        .split('\n')
        .filter((l) => /history (size|count|length)[^"]*(exceeds|warn)/i.test(l)).length
    : 0;
  const rss = runs.map((r) => r.workerPeakRssMiB);
  return {
    slots: opts.slots,
    speed: opts.speed,
    runs,
    rssRatio: runs.length > 1 ? Math.round((rss[rss.length - 1]! / rss[0]!) * 100) / 100 : null,
    historyWarnings,
  };
}
