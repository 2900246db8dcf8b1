import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import type { S3Client } from '@aws-sdk/client-s3';
import { accountPoolState, ensureAccountPool, type PoolTimings } from '../client/account-pool';
import { prepareBatch, startBatch, waitForBatch } from '../client/batches';
import { accountPoolWorkflowId, type AccountPoolState } from '../contracts/account-pool';
import type { AccountSpec } from '../contracts/accounts';
import { startSimulator, type RunningSimulator } from '../simulator/server';
import { readStackState } from '../stack/state';
import type { OwnStack } from './own-stack';
import { cpuMsOf, WorkerProcess } from './worker-process';

export interface PoolUtilisationOptions {
  /** How long the batch should run with every account healthy two thirds of the time: the rows follow from it. */
  expectedWallMs: number;
  /** Accounts in the pool (the second one is the one parked), each of `slots` slots with `queueAhead`. */
  accounts: number;
  slots: number;
  queueAhead: number;
  jobMs: number;
  timings: Required<PoolTimings>;
  log?: (line: string) => void;
}

/** One account's figures over the batch. */
export interface PoolAccountFigures {
  name: string;
  jobs: number;
  busySlotSeconds: number;
  /** Submits it refused (queue full), from its simulator's counters. */
  refusals: number;
  /** The least and most effective slots the pool gave it while the batch ran (its state read once a second). */
  effectiveSlots: { min: number; max: number };
}

export interface PoolUtilisationResult {
  rows: number;
  slots: number;
  queueAhead: number;
  jobMs: number;
  expectedWallSeconds: number;
  concurrency: number;
  timings: Required<PoolTimings>;
  /** Busy slot-seconds of the healthy accounts / (their slots × `wallSeconds`). */
  utilisation: number;
  /** From the first submit to the last job's end in the healthy accounts' ledgers. */
  wallSeconds: number;
  /** From starting the batch to its result (includes the last rows' media and the report). */
  batchSeconds: number;
  healthyBusySlotSeconds: number;
  /**
   * The same ratio up to the batch's last submit (while rows were left to give): the batch's end, where slots empty
   * one by one whatever the pool does, left out.
   */
  utilisationWhileRowsLeft: number;
  /** The healthy accounts' utilisation before the refusals start, while they last, and after they stop. */
  phases: { before: number; refusing: number; after: number };
  /**
   * Where the healthy accounts' slots sat idle, slot-seconds: `ramp` before each account first ran all its slots,
   * `tail` after the batch's last submit (no row left to give them), `gaps` in between (a slot freed and its next
   * job not there yet: the refill path outlasted the queue-ahead).
   */
  idleSlotSeconds: { ramp: number; gaps: number; tail: number };
  parked: {
    name: string;
    /** When its simulator started and stopped refusing, seconds after the first submit. */
    refuseFromS: number;
    refuseUntilS: number;
    /** When the pool first showed it parked, and first showed it active again (null: never seen so). */
    parkedAtS: number | null;
    rejoinedAtS: number | null;
    refusals: number;
    /** Probes the pool counted for it while parked (a refused probe counts one). */
    probes: number;
    /** Seen parked (first parked to first active again) / `wallSeconds`. */
    parkedShare: number | null;
    /** Its share of the busy slot-seconds of all accounts. */
    busyShare: number;
  };
  accounts: PoolAccountFigures[];
  /** Worker CPU over the batch, ms per job, from /proc. */
  workerCpuMsPerJob: number | null;
  /**
   * CPU ms per job over the batch of every process of the stack: the worker, this process (the simulators, which
   * render each job's grid, and the bench's client), the Temporal dev server and the S3 server. Their sum × jobs per
   * second is the cores the run needs; above the machine's cores, slots wait for CPU, not for the pool.
   */
  cpuMsPerJob: { worker: number; simulators: number; temporal: number; s3: number; total: number } | null;
  /** Those processes' CPU over the batch / its run time: cores the stack kept busy (the machine has `os.cpus()`). */
  coresBusy: number | null;
  /** The machine's 1-minute load average when the batch started and ended: other work on the cores shows here. */
  loadAverage: { start: number; end: number };
}

type Ledger = ReturnType<RunningSimulator['engine']['ledger']>;

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const round1 = (x: number) => Math.round(x * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Slot-ms the jobs held their slot within [from, to). */
function busyMsWithin(jobs: Ledger, from: number, to: number): number {
  let ms = 0;
  for (const j of jobs) {
    const start = j.slotStart ?? j.finishTime;
    if (start === null || j.finishTime === null) continue;
    ms += Math.max(0, Math.min(j.finishTime, to) - Math.max(start, from));
  }
  return ms;
}

type CpuSample = Record<'worker' | 'simulators' | 'temporal' | 's3', number | null>;

function cpuPerJob(start: CpuSample, end: CpuSample, jobs: number): PoolUtilisationResult['cpuMsPerJob'] {
  const keys = ['worker', 'simulators', 'temporal', 's3'] as const;
  if (jobs === 0 || keys.some((k) => start[k] === null || end[k] === null)) return null;
  const per = Object.fromEntries(keys.map((k) => [k, Math.round((end[k]! - start[k]!) / jobs)])) as Record<(typeof keys)[number], number>;
  return { ...per, total: keys.reduce((s, k) => s + per[k], 0) };
}

/** Idle slot-ms of one account's `slots` in [from, to), split at its first moment with every slot running and at `tailFrom`. */
function idleOf(jobs: Ledger, slots: number, from: number, to: number, tailFrom: number): { ramp: number; gaps: number; tail: number } {
  const edges: [number, number][] = [];
  for (const j of jobs) {
    const start = j.slotStart ?? j.finishTime;
    if (start !== null && j.finishTime !== null) edges.push([start, 1], [j.finishTime, -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const idle = { ramp: 0, gaps: 0, tail: 0 };
  let running = 0;
  let at = from;
  let full = false;
  const add = (until: number) => {
    const a = Math.max(at, from);
    const b = Math.min(until, to);
    if (b <= a) return;
    const free = Math.max(0, slots - running);
    // The tail part of [a, b), then the rest as ramp (before the account first ran full) or gaps.
    const tailPart = Math.max(0, b - Math.max(a, tailFrom));
    idle.tail += free * tailPart;
    idle[full ? 'gaps' : 'ramp'] += free * (b - a - tailPart);
  };
  for (const [t, d] of edges) {
    add(t);
    at = Math.max(at, t);
    running += d;
    if (running >= slots) full = true;
  }
  add(to);
  return idle;
}

async function queueFullRefusals(sim: RunningSimulator): Promise<number> {
  const stats = (await (await fetch(`${sim.url}/_sim/stats`)).json()) as { refused: { queueFullRefusals: number } };
  return stats.refused.queueFullRefusals;
}

/** The simulator's queue-full fault: 1 refuses every submit (nothing is made, nothing paid), DELETE restores it. */
async function setRefusing(sim: RunningSimulator, refusing: boolean): Promise<void> {
  const res = await fetch(
    `${sim.url}/_sim/faults`,
    refusing ? { method: 'POST', body: JSON.stringify({ queueFull: 1 }) } : { method: 'DELETE' },
  );
  if (!res.ok) throw new Error(`simulator ${sim.url}: /_sim/faults answered ${res.status}`);
}

/**
 * Pool utilisation: one batch of imagine rows (enough for `expectedWallMs`) over a pool of `accounts` accounts (one simulator each, every
 * job holding its slot exactly `jobMs`), read from an accounts file by a worker process, as `mj-batch worker` with
 * MJ_ACCOUNTS_FILE runs. The second account refuses every submit from a third of the expected wall time to two
 * thirds: the pool parks it, its rows go to the others, and a probe brings it back. The figure is how busy the
 * healthy accounts stayed.
 */
export async function benchPoolUtilisation(
  stack: OwnStack,
  client: Client,
  s3: S3Client,
  opts: PoolUtilisationOptions,
): Promise<PoolUtilisationResult> {
  const log = opts.log ?? (() => undefined);
  const taskQueue = `bench-pool-${Date.now().toString(36)}`;
  const names = Array.from({ length: opts.accounts }, (_, i) => String.fromCharCode(65 + i));
  const parkedName = names[1]!;
  const sims = new Map<string, RunningSimulator>();
  const env: NodeJS.ProcessEnv = { ...stack.env, MJ_BATCH_TASK_QUEUE: taskQueue };
  // The accounts file alone says where the API is.
  delete env.MJ_BASE_URL;
  delete env.MJ_API_KEY;
  const specs: AccountSpec[] = [];
  let worker: WorkerProcess | undefined;
  try {
    for (const name of names) {
      const apiKey = `sk-bench-pool-${name}`;
      // queueSize 10, as the slot benchmark: the API's own queue holds more than any queue-ahead asked of it.
      const sim = await startSimulator({ concurrency: opts.slots, queueSize: 10, jobMs: opts.jobMs, seed: `bench-pool-${name}`, apiKey });
      sims.set(name, sim);
      const apiKeyEnv = `MJ_BENCH_POOL_KEY_${name}`;
      env[apiKeyEnv] = apiKey;
      specs.push({ name, baseUrl: sim.url, apiKeyEnv, slots: opts.slots, queueAhead: opts.queueAhead });
    }
    const accountsFile = path.join(stack.dir, `${taskQueue}-accounts.json`);
    fs.writeFileSync(accountsFile, `${JSON.stringify(specs, null, 2)}\n`);
    env.MJ_ACCOUNTS_FILE = accountsFile;
    worker = new WorkerProcess(env, path.join(stack.dir, 'logs', `${taskQueue}.log`));
    await worker.start();

    // A pool takes its probe timings from the input it is started with (later calls only set the accounts): it is
    // started here, before the batch, with probes short enough for a run of minutes (default 30 s doubling to 10 min).
    await ensureAccountPool(client, taskQueue, specs, opts.timings);

    // Jobs per ms with every account for two thirds of the run and one fewer for the middle third.
    const rate = (opts.slots * (opts.accounts * 2 + (opts.accounts - 1))) / 3 / opts.jobMs;
    const rowCount = Math.ceil(opts.expectedWallMs * rate);
    const rows = Array.from({ length: rowCount }, (_, i) => JSON.stringify({ id: `pool-${i + 1}`, prompt: `pool bench ${i + 1}` }));
    const file = path.join(stack.dir, `${taskQueue}.jsonl`);
    fs.writeFileSync(file, `${rows.join('\n')}\n`);
    // `concurrencyOf`'s rule over the pool: twice the pool's slots and queue-ahead (half the rows in flight may be
    // storing images, off their slot). A user sets it with --concurrency; the single-account default would be too low.
    const concurrency = 2 * opts.accounts * (opts.slots + opts.queueAhead);
    const { input } = await prepareBatch(file, s3, stack.config.s3.bucket, taskQueue, {
      batchId: taskQueue,
      outputPrefix: `bench/${taskQueue}`,
      concurrency,
      submitPolicy: 'at-most-once',
      // `run`'s defaults: callbacks bring each job's end; polling (5 s backing off to 30 s) is only the safety net.
      callbacks: true,
    });

    const parkedSim = sims.get(parkedName)!;
    const refusalsBefore = new Map<string, number>();
    for (const [name, sim] of sims) refusalsBefore.set(name, await queueFullRefusals(sim));
    const pids = {
      worker: worker.pid,
      temporal: readStackState(stack.dir)?.temporal.process?.pid,
      s3: readStackState(stack.dir)?.s3.process?.pid,
    };
    const cpuNow = () => {
      const of = (pid: number | undefined) => (pid === undefined ? null : cpuMsOf(pid));
      const own = process.cpuUsage();
      return { worker: of(pids.worker), simulators: (own.user + own.system) / 1000, temporal: of(pids.temporal), s3: of(pids.s3) };
    };
    const cpuBefore = worker.usage()?.cpuMs ?? null;
    const cpuAtStart = cpuNow();
    const loadAtStart = os.loadavg()[0]!;
    const t0 = Date.now();
    await startBatch(client, s3, stack.config.s3.bucket, taskQueue, file, input, undefined, { accounts: specs, timings: opts.timings });
    const done = waitForBatch(client, input.batchId, () => undefined);
    let over = false;
    void done.finally(() => (over = true)).catch(() => undefined);

    const expectedMs = opts.expectedWallMs;
    const ledgerOf = (name: string) =>
      sims
        .get(name)!
        .engine.ledger()
        .filter((j) => j.state?.startsWith('pool-'));
    let firstSubmit: number | undefined;
    let refuseFrom: number | undefined;
    let refuseUntil: number | undefined;
    const seen: { at: number; state: AccountPoolState }[] = [];
    while (!over) {
      const now = Date.now();
      if (firstSubmit === undefined) {
        const submits = names.flatMap((n) => ledgerOf(n).map((j) => j.submitTime));
        if (submits.length > 0) firstSubmit = Math.min(...submits);
      }
      if (firstSubmit !== undefined && refuseFrom === undefined && now >= firstSubmit + expectedMs / 3) {
        await setRefusing(parkedSim, true);
        refuseFrom = Date.now();
        log(`pool: ${parkedName} refuses every submit from ${round1((refuseFrom - firstSubmit) / 1000)} s`);
      }
      if (refuseFrom !== undefined && refuseUntil === undefined && now >= firstSubmit! + (2 * expectedMs) / 3) {
        await setRefusing(parkedSim, false);
        refuseUntil = Date.now();
        log(`pool: ${parkedName} accepts submits again from ${round1((refuseUntil - firstSubmit!) / 1000)} s`);
      }
      const state = await accountPoolState(client, taskQueue).catch(() => null);
      if (state) seen.push({ at: Date.now(), state });
      // Once a second, as a board would: a query is a task for the pool's workflow, between its grants.
      await sleep(1000);
    }
    const { result } = await done;
    const batchSeconds = (Date.now() - t0) / 1000;
    const cpuAfter = worker.usage()?.cpuMs ?? null;
    const cpuAtEnd = cpuNow();
    const loadAtEnd = os.loadavg()[0]!;
    if (refuseUntil === undefined) {
      // The batch ended before the window closed (it ran faster than expected): the figures still hold, say so.
      await setRefusing(parkedSim, false);
      refuseUntil = Date.now();
      log('pool: the batch ended before the refusal window closed');
    }
    await client.workflow
      .getHandle(accountPoolWorkflowId(taskQueue))
      .terminate('bench run finished')
      .catch(() => undefined);
    if (result.counts.succeeded !== rowCount) throw new Error(`pool bench: ${result.counts.succeeded} of ${rowCount} rows succeeded`);

    const ledgers = new Map(names.map((n) => [n, ledgerOf(n).filter((j) => j.charged)]));
    const healthy = names.filter((n) => n !== parkedName).flatMap((n) => ledgers.get(n)!);
    // Wall time: the healthy accounts' first submit to their last job's end (their ledgers), as the slot benchmark.
    const first = Math.min(...healthy.map((j) => j.submitTime));
    const last = Math.max(...healthy.map((j) => j.finishTime ?? 0));
    const healthySlots = opts.slots * (opts.accounts - 1);
    const util = (from: number, to: number) => (to > from ? round3(busyMsWithin(healthy, from, to) / (healthySlots * (to - from))) : NaN);
    const busyOf = (jobs: Ledger) => busyMsWithin(jobs, -Infinity, Infinity);
    const lastSubmit = Math.max(...names.flatMap((n) => ledgers.get(n)!.map((j) => j.submitTime)));
    const jobCount = names.reduce((s, n) => s + ledgers.get(n)!.length, 0);
    const totalBusy = names.reduce((s, n) => s + busyOf(ledgers.get(n)!), 0);
    const accounts: PoolAccountFigures[] = [];
    for (const [name, sim] of sims) {
      const slots = seen.map((s) => s.state.accounts.find((a) => a.name === name)?.effectiveSlots).filter((x) => x !== undefined);
      accounts.push({
        name,
        jobs: ledgers.get(name)!.length,
        busySlotSeconds: round1(busyOf(ledgers.get(name)!) / 1000),
        refusals: (await queueFullRefusals(sim)) - refusalsBefore.get(name)!,
        effectiveSlots: { min: Math.min(...slots), max: Math.max(...slots) },
      });
    }
    const parkedStates = seen.map((s) => ({ at: s.at, a: s.state.accounts.find((a) => a.name === parkedName) }));
    const parkedAt = parkedStates.find((s) => s.a?.status === 'parked')?.at;
    const rejoinedAt = parkedAt === undefined ? undefined : parkedStates.find((s) => s.at > parkedAt && s.a?.status === 'active')?.at;
    const since = (t: number | undefined) => (t === undefined ? null : round1((t - first) / 1000));
    const out: PoolUtilisationResult = {
      rows: rowCount,
      slots: opts.slots,
      queueAhead: opts.queueAhead,
      jobMs: opts.jobMs,
      expectedWallSeconds: round1(opts.expectedWallMs / 1000),
      concurrency,
      timings: opts.timings,
      utilisation: util(first, last),
      utilisationWhileRowsLeft: util(first, lastSubmit),
      wallSeconds: round1((last - first) / 1000),
      batchSeconds: round1(batchSeconds),
      healthyBusySlotSeconds: round1(busyOf(healthy) / 1000),
      phases: { before: util(first, refuseFrom!), refusing: util(refuseFrom!, refuseUntil), after: util(refuseUntil, last) },
      idleSlotSeconds: (() => {
        const sum = { ramp: 0, gaps: 0, tail: 0 };
        for (const n of names.filter((x) => x !== parkedName)) {
          const idle = idleOf(ledgers.get(n)!, opts.slots, first, last, lastSubmit);
          for (const k of ['ramp', 'gaps', 'tail'] as const) sum[k] += idle[k];
        }
        return { ramp: round1(sum.ramp / 1000), gaps: round1(sum.gaps / 1000), tail: round1(sum.tail / 1000) };
      })(),
      parked: {
        name: parkedName,
        refuseFromS: since(refuseFrom)!,
        refuseUntilS: since(refuseUntil)!,
        parkedAtS: since(parkedAt),
        rejoinedAtS: since(rejoinedAt),
        refusals: accounts.find((a) => a.name === parkedName)!.refusals,
        probes: Math.max(0, ...parkedStates.map((s) => s.a?.parked?.probes ?? 0)),
        parkedShare: parkedAt !== undefined && rejoinedAt !== undefined ? round3((rejoinedAt - parkedAt) / (last - first)) : null,
        busyShare: round3(busyOf(ledgers.get(parkedName)!) / totalBusy),
      },
      accounts,
      workerCpuMsPerJob: cpuBefore !== null && cpuAfter !== null ? Math.round((cpuAfter - cpuBefore) / jobCount) : null,
      cpuMsPerJob: cpuPerJob(cpuAtStart, cpuAtEnd, jobCount),
      coresBusy: (() => {
        const per = cpuPerJob(cpuAtStart, cpuAtEnd, 1);
        return per ? Math.round((per.total / (batchSeconds * 1000)) * 100) / 100 : null;
      })(),
      loadAverage: { start: round1(loadAtStart), end: round1(loadAtEnd) },
    };
    log(
      `pool utilisation (healthy accounts): ${out.utilisation} over ${out.wallSeconds} s (before ${out.phases.before}, refusing ${out.phases.refusing}, after ${out.phases.after}); ${parkedName}: ${out.parked.refusals} refusals, parked at ${out.parked.parkedAtS} s, rejoined at ${out.parked.rejoinedAtS} s`,
    );
    return out;
  } finally {
    await worker?.stop();
    for (const sim of sims.values()) await sim.close();
  }
}
