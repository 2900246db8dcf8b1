import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import type { S3Client } from '@aws-sdk/client-s3';
import { prepareBatch, startBatch, waitForBatch } from '../client/batches';
import { concurrencyOf } from '../client/options';
import { mapLimit } from '../report/map-limit';
import { startSimulator } from '../simulator/server';
import { accountSlotsWorkflowId } from '../contracts/account-slots';
import { slotsQuery } from '../contracts/handlers';
import type { OwnStack } from './own-stack';
import { WorkerProcess } from './worker-process';

export interface SlotUtilisationOptions {
  rows: number;
  slots: number;
  jobMs: number;
  queueAhead: number;
  /** The most queue-ahead slow refills may ask for (`run --max-queue-ahead`; at or below `queueAhead`: fixed). */
  maxQueueAhead: number;
  /** Rows per batch run in the run across boundaries (the others keep the default, more than `rows`). */
  rowsPerRun: number;
  log?: (line: string) => void;
}

export interface UtilisationRun {
  callbacks: boolean;
  rows: number;
  /** Rows per batch run, when the run crossed continue-as-new boundaries; how many runs the batch took. */
  rowsPerRun?: number;
  batchRuns: number;
  /** Busy slot-seconds / (slots × seconds from the first submit to the last job's end), from the simulator's ledger. */
  utilisation: number;
  busySlotSeconds: number;
  wallSeconds: number;
  /** From `run` to the batch's end (includes the last row's media and the report). */
  batchSeconds: number;
  /** Task finished (simulator) → the row's workflow knew (the history event that brought the terminal state). */
  noticeDelayMs: { median: number; p90: number; max: number };
  /**
   * Per lease, the time it was held with no job in the API (grant → child → submit, and the job's end → the row
   * noticing → the release): what a slot would idle through without queue-ahead. From the slots workflow's history.
   */
  refillMs: { median: number; p90: number; leases: number };
  /** The slots workflow's queue-ahead at the end of the run (sized from the refills within its range). */
  queueAheadAtEnd: number;
}

export interface SlotUtilisationResult {
  slots: number;
  jobMs: number;
  queueAhead: number;
  maxQueueAhead: number;
  polling: UtilisationRun;
  callbacks: UtilisationRun;
  /** As `callbacks`, with `rowsPerRun` rows per batch run: the batch continues as new many times. */
  acrossRuns: UtilisationRun;
}

interface Event {
  eventTime?: { seconds?: unknown; nanos?: number | null } | null;
  signalExternalWorkflowExecutionInitiatedEventAttributes?: {
    signalName?: string | null;
    input?: { payloads?: { data?: Uint8Array | null }[] | null } | null;
  } | null;
  activityTaskCompletedEventAttributes?: { result?: { payloads?: { data?: Uint8Array | null }[] | null } | null } | null;
  workflowExecutionSignaledEventAttributes?: {
    signalName?: string | null;
    input?: { payloads?: { data?: Uint8Array | null }[] | null } | null;
  } | null;
}

const TERMINAL = new Set(['SUCCESS', 'FAILURE', 'CANCEL']);
// Seconds arrive as a protobuf Long: through its string form to a number.
const ms = (t: Event['eventTime']) => Number(String(t?.seconds ?? 0)) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
const payload = (p: { payloads?: { data?: Uint8Array | null }[] | null } | null | undefined): unknown => {
  const data = p?.payloads?.[0]?.data;
  try {
    return data ? JSON.parse(Buffer.from(data).toString('utf8')) : undefined;
  } catch {
    return undefined;
  }
};
const decode = (p: Parameters<typeof payload>[0]) => payload(p) as { taskId?: string; status?: string } | undefined;

/** When each task's terminal state first reached the row's workflow: a fetch's result or a callback's signal. */
export function noticeTimes(events: Event[]): Map<string, number> {
  const noticed = new Map<string, number>();
  for (const e of events) {
    const snap = e.activityTaskCompletedEventAttributes
      ? decode(e.activityTaskCompletedEventAttributes.result)
      : e.workflowExecutionSignaledEventAttributes?.signalName === 'taskUpdate'
        ? decode(e.workflowExecutionSignaledEventAttributes.input)
        : undefined;
    if (snap?.taskId && snap.status && TERMINAL.has(snap.status) && !noticed.has(snap.taskId)) noticed.set(snap.taskId, ms(e.eventTime));
  }
  return noticed;
}

/**
 * From an account slots workflow's history: per lease released with its job times, the time it was held with no
 * job in the API: release − grant − time queued − time ran (the lease's last grant; releases without times skipped).
 */
export function leaseOverheads(events: Event[]): number[] {
  const grantedAt = new Map<string, number>();
  const out: number[] = [];
  for (const e of events) {
    const granted = e.signalExternalWorkflowExecutionInitiatedEventAttributes;
    if (granted?.signalName === 'slotGranted') {
      const id = payload(granted.input);
      if (typeof id === 'string') grantedAt.set(id, ms(e.eventTime));
      continue;
    }
    const signal = e.workflowExecutionSignaledEventAttributes;
    if (signal?.signalName !== 'releaseSlot') continue;
    const release = payload(signal.input) as { leaseId?: string; queuedMs?: number; ranMs?: number } | string | undefined;
    if (!release || typeof release === 'string' || !release.leaseId || !release.ranMs) continue;
    const at = grantedAt.get(release.leaseId);
    if (at === undefined) continue;
    out.push(Math.max(0, ms(e.eventTime) - at - release.ranMs - (release.queuedMs ?? 0)));
  }
  return out;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};

/**
 * 1. Slot utilisation: `rows` imagine rows on an account of `slots` slots whose jobs all take `jobMs`, once polling only
 * and once with callbacks, with `mj-batch run`'s defaults otherwise (queue-ahead included).
 */
export async function benchSlotUtilisation(
  stack: OwnStack,
  client: Client,
  s3: S3Client,
  opts: SlotUtilisationOptions,
): Promise<SlotUtilisationResult> {
  const log = opts.log ?? (() => undefined);
  const sim = await startSimulator({ concurrency: opts.slots, queueSize: 10, jobMs: opts.jobMs, seed: 'bench-slots' });
  const taskQueue = `bench-slots-${Date.now().toString(36)}`;
  const worker = new WorkerProcess(
    { ...stack.env, MJ_BASE_URL: sim.url, MJ_API_KEY: sim.options.apiKey, MJ_BATCH_TASK_QUEUE: taskQueue },
    path.join(stack.dir, 'logs', `${taskQueue}.log`),
  );
  try {
    await worker.start();
    const run = async (callbacks: boolean, rowsPerRun?: number): Promise<UtilisationRun> => {
      const tag = rowsPerRun ? 'runs' : callbacks ? 'cb' : 'poll';
      const rows = Array.from({ length: opts.rows }, (_, i) =>
        JSON.stringify({ id: `${tag}-${i + 1}`, prompt: `slot bench ${tag} ${i + 1}` }),
      );
      const file = path.join(stack.dir, `${taskQueue}-${tag}.jsonl`);
      fs.writeFileSync(file, `${rows.join('\n')}\n`);
      const account = `${taskQueue}-${tag}`;
      const { input } = await prepareBatch(file, s3, stack.config.s3.bucket, taskQueue, {
        batchId: `${taskQueue}-${tag}`,
        outputPrefix: `bench/${taskQueue}/${tag}`,
        concurrency: concurrencyOf({ accountSlots: opts.slots, queueAhead: opts.queueAhead, maxQueueAhead: opts.maxQueueAhead }),
        accountSlots: opts.slots,
        account,
        submitPolicy: 'at-most-once',
        callbacks,
        // The fastest polling Temporal's timers allow (1 s), backing off to 2 s: a 2 s job's scale.
        pollMinMs: 1000,
        pollMaxMs: 2000,
        rowsPerRun,
      });
      const t0 = Date.now();
      await startBatch(client, s3, stack.config.s3.bucket, taskQueue, file, input, {
        account,
        slots: opts.slots,
        queueAhead: opts.queueAhead,
        maxQueueAhead: opts.maxQueueAhead,
      });
      let batchRuns = 1;
      const { result } = await waitForBatch(client, input.batchId, (p) => (batchRuns = Math.max(batchRuns, p.runs)));
      const batchSeconds = (Date.now() - t0) / 1000;
      const slotsHandle = client.workflow.getHandle(accountSlotsWorkflowId(taskQueue, account));
      const queueAheadAtEnd = (await slotsHandle.query(slotsQuery)).queueAhead;
      await slotsHandle.terminate('bench run finished').catch(() => undefined);
      const overheads = leaseOverheads(((await slotsHandle.fetchHistory()).events ?? []) as Event[]);
      if (result.counts.succeeded !== opts.rows)
        throw new Error(`slot bench (${tag}): ${result.counts.succeeded} of ${opts.rows} rows succeeded`);

      const jobs = sim.engine.ledger().filter((j) => j.state?.startsWith(`${tag}-`));
      const busyMs = jobs.reduce((s, j) => s + ((j.finishTime ?? 0) - (j.slotStart ?? j.finishTime ?? 0)), 0);
      const first = Math.min(...jobs.map((j) => j.submitTime));
      const last = Math.max(...jobs.map((j) => j.finishTime ?? 0));
      const finishedAt = new Map(jobs.map((j) => [j.id, j.finishTime ?? 0]));
      const delays: number[] = [];
      await mapLimit(
        jobs.map((j) => j.state!),
        8,
        async (key) => {
          const history = await client.workflow.getHandle(`${input.batchId}/${key}`).fetchHistory();
          for (const [taskId, at] of noticeTimes((history.events ?? []) as Event[])) {
            const finished = finishedAt.get(taskId);
            if (finished) delays.push(Math.max(0, at - finished));
          }
        },
      );
      const out: UtilisationRun = {
        callbacks,
        rows: opts.rows,
        rowsPerRun,
        batchRuns,
        utilisation: Math.round((busyMs / (opts.slots * (last - first))) * 1000) / 1000,
        busySlotSeconds: Math.round(busyMs / 100) / 10,
        wallSeconds: Math.round((last - first) / 100) / 10,
        batchSeconds: Math.round(batchSeconds * 10) / 10,
        noticeDelayMs: { median: quantile(delays, 0.5), p90: quantile(delays, 0.9), max: Math.max(...delays) },
        refillMs: { median: quantile(overheads, 0.5), p90: quantile(overheads, 0.9), leases: overheads.length },
        queueAheadAtEnd,
      };
      const what = rowsPerRun ? `callbacks, ${rowsPerRun} rows per run` : callbacks ? 'callbacks' : 'polling only';
      log(
        `slot utilisation (${what}): ${out.utilisation} over ${out.wallSeconds} s; notice delay median ${out.noticeDelayMs.median} ms; refill median ${out.refillMs.median} ms, p90 ${out.refillMs.p90} ms; queue-ahead at the end ${queueAheadAtEnd}`,
      );
      return out;
    };
    const polling = await run(false);
    const callbacks = await run(true);
    const acrossRuns = await run(true, opts.rowsPerRun);
    return {
      slots: opts.slots,
      jobMs: opts.jobMs,
      queueAhead: opts.queueAhead,
      maxQueueAhead: opts.maxQueueAhead,
      polling,
      callbacks,
      acrossRuns,
    };
  } finally {
    await worker.stop();
    await sim.close();
  }
}
