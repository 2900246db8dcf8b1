/**
 * The chaos run: a batch on a private embedded stack while the worker is SIGKILLed and restarted, the Temporal dev
 * server is killed and restarted, the S3 server goes away for a while and the simulator injects faults. At the end it
 * checks that no row was lost, no paid job was paid twice, every stored object matches its sidecar's sha256, and the
 * report has every manifest row. Exit 1 on any violation.
 *
 *   npm run chaos                                                   # 500 rows, 20 kills, 2 server restarts, 20 s S3 outage
 *   npm run chaos -- --rows 60 --kills 3 --server-restarts 1 --json # the short version CI runs
 *   npm run chaos -- --cluster                                      # on `stack up --cluster`: two workers, frontend and history killed
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { wholeNumber } from '../client/options';
import type { Client } from '@temporalio/client';
import { prepareBatch, startBatch, waitForBatch } from '../client/batches';
import { concurrencyOf } from '../client/options';
import { connectClient } from '../config/temporal';
import { parseS3Uri } from '../manifest/source';
import type { ResultLine } from '../report/results';
import { startSimulator } from '../simulator/server';
import { createS3Client } from '../storage/s3-client';
import { getObjectOrNull } from '../storage/objects';
import { accountSlotsWorkflowId } from '../contracts/account-slots';
import type { SubmitPolicy } from '../contracts/rows';
import { WorkflowType } from '../contracts/naming';
import { accountForRows, auditStoredImages, duplicatePaidJobs, type LedgerEntry } from './chaos-checks';
import { startOwnStack } from './own-stack';
import { startOwnCluster } from './own-cluster';
import { WorkerProcess } from './worker-process';

interface ChaosFlags {
  rows: number;
  kills: number;
  serverRestarts: number;
  s3OutageSeconds: number;
  submitPolicy: SubmitPolicy;
  speed: number;
  slots: number;
  seed: string;
  timeoutMinutes: number;
  json?: boolean;
  keep?: boolean;
  /** On a private `stack up --cluster`: server restarts SIGKILL the frontend and history services in turn. */
  cluster?: boolean;
  /** Worker processes (default 1; 2 with --cluster). */
  workers?: number;
}

/** A small seeded generator, so a run's schedule can be replayed with the same --seed. */
function random(seed: string): () => number {
  let h = 2166136261;
  for (const c of seed) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return () => {
    h += 0x6d2b79f5;
    let t = h;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type EventKind = 'kill-worker' | 'restart-temporal' | 's3-outage';
/** What a server restart became: the dev server, or on the cluster one of its services. */
type DoneKind = EventKind | 'worker-crashed' | 'restart-frontend' | 'restart-history';

/** When each event happens: at a random share of the rows finished, so every event lands while the batch runs. */
function schedule(flags: ChaosFlags, rnd: () => number): { at: number; kind: EventKind }[] {
  const at = () => Math.floor(flags.rows * (0.03 + 0.85 * rnd()));
  const events: { at: number; kind: EventKind }[] = [
    ...Array.from({ length: flags.kills }, () => ({ at: at(), kind: 'kill-worker' as const })),
    ...Array.from({ length: flags.serverRestarts }, () => ({ at: at(), kind: 'restart-temporal' as const })),
    ...(flags.s3OutageSeconds > 0 ? [{ at: at(), kind: 's3-outage' as const }] : []),
  ];
  return events.sort((a, b) => a.at - b.at);
}

/** Manifest rows: mostly grids, a quarter with an upscale pick, and one whose image comes back corrupt. */
function manifestLines(rows: number, tag: string): { keys: string[]; text: string } {
  const keys: string[] = [];
  const lines = Array.from({ length: rows }, (_, i) => {
    const id = `r${String(i + 1).padStart(4, '0')}`;
    keys.push(id);
    const corrupt = i === Math.floor(rows / 2) ? ' [sim:corrupt]' : '';
    return JSON.stringify({ id, prompt: `chaos ${tag} product shot ${i + 1}${corrupt}`, ...(i % 4 === 1 ? { actions: 'U1' } : {}) });
  });
  return { keys, text: `${lines.join('\n')}\n` };
}

async function finishedRows(client: Client, batchId: string): Promise<number | null> {
  try {
    const { count } = await client.workflow.count(
      `WorkflowType = '${WorkflowType.item}' AND BatchId = '${batchId}' AND ExecutionStatus = 'Completed'`,
    );
    return count;
  } catch {
    return null; // the server is restarting
  }
}

async function batchClosed(client: Client, batchId: string): Promise<boolean> {
  try {
    const d = await client.workflow.getHandle(batchId).describe();
    return d.status.name !== 'RUNNING';
  } catch {
    return false;
  }
}

async function postFaults(url: string, faults: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${url}/_sim/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
  });
  if (!res.ok) throw new Error(`simulator refused the faults: ${res.status} ${await res.text()}`);
}

export async function runChaos(flags: ChaosFlags, log: (line: string) => void, interrupted: AbortSignal = new AbortController().signal) {
  const rnd = random(flags.seed);
  const tag = `${Date.now().toString(36)}`;
  const taskQueue = `chaos-${tag}`;
  const sim = await startSimulator({
    speed: flags.speed,
    concurrency: flags.slots,
    queueSize: 10,
    seed: flags.seed,
    faults: { http5xx: 0.05, queueFull: 0.02, stall: 0.02, failure: 0.02 },
  });
  const own = { name: 'chaos', simUrl: sim.url, simApiKey: sim.options.apiKey, taskQueue, log };
  // A stack that fails to start must not leave the simulator's server holding the process open.
  const closeSimOnFailure = <T>(starting: Promise<T>) =>
    starting.catch(async (err: unknown) => {
      await sim.close();
      throw err;
    });
  const cluster = flags.cluster ? await closeSimOnFailure(startOwnCluster(own)) : undefined;
  const devStack = cluster ? undefined : await closeSimOnFailure(startOwnStack(own));
  const stack = cluster ?? devStack!;
  // The cluster's services take turns: frontend, history, frontend...
  let serviceRestarts = 0;
  const restartTemporal = async (): Promise<DoneKind> => {
    if (devStack) {
      await devStack.restartTemporal();
      return 'restart-temporal';
    }
    const service = serviceRestarts++ % 2 === 0 ? 'frontend' : 'history';
    await cluster!.restartService(service);
    return `restart-${service}`;
  };
  const logDir = path.join(stack.dir, 'logs');
  const workers = Array.from(
    { length: flags.workers ?? (flags.cluster ? 2 : 1) },
    (_, i) => new WorkerProcess({ ...stack.env, MJ_BATCH_MEDIA_CONCURRENCY: '2' }, path.join(logDir, `worker-${i}.log`)),
  );
  const client = await connectClient(stack.config.temporal);
  const s3 = createS3Client(stack.config.s3);
  const done: { kind: DoneKind; atRows: number; ms: number }[] = [];
  const started = Date.now();
  let bursts: NodeJS.Timeout | undefined;
  const restartIfCrashed = async (finished: number) => {
    for (const worker of workers) {
      if (!worker.crashed) continue;
      log(`a worker exited on its own (rows finished: ${finished}); restarting it`);
      const t0 = Date.now();
      await worker.start();
      done.push({ kind: 'worker-crashed', atRows: finished, ms: Date.now() - t0 });
    }
  };
  try {
    await Promise.all(workers.map((w) => w.start()));
    const manifest = manifestLines(flags.rows, tag);
    const file = path.join(stack.dir, `chaos-${tag}.jsonl`);
    fs.writeFileSync(file, manifest.text);
    const { input } = await prepareBatch(file, s3, stack.config.s3.bucket, taskQueue, {
      batchId: `chaos-${tag}`,
      outputPrefix: `chaos/${tag}`,
      concurrency: concurrencyOf({ accountSlots: flags.slots, queueAhead: 2 }),
      accountSlots: flags.slots,
      account: 'chaos',
      submitPolicy: flags.submitPolicy,
      callbacks: true,
      pollMinMs: 1000,
      pollMaxMs: 3000,
      jobDeadlineMs: 120_000,
    });
    await startBatch(client, s3, stack.config.s3.bucket, taskQueue, file, input, { account: 'chaos', slots: flags.slots, queueAhead: 2 });
    log(`batch ${input.batchId}: ${flags.rows} rows, ${workers.length} worker(s); ${cluster ? 'cluster' : 'stack'} in ${stack.dir}`);
    // 429 bursts on top of the steady faults: every 30 s the next 6 API calls are refused.
    bursts = setInterval(() => void postFaults(sim.url, { burst429: 6 }).catch(() => undefined), 30_000);

    const events = schedule(flags, rnd);
    const deadline = started + flags.timeoutMinutes * 60_000;
    let finished = 0;
    while (!(await batchClosed(client, input.batchId))) {
      if (interrupted.aborted) throw new Error('interrupted');
      if (Date.now() > deadline) throw new Error(`the batch did not finish within ${flags.timeoutMinutes} minutes`);
      finished = (await finishedRows(client, input.batchId)) ?? finished;
      await restartIfCrashed(finished);
      while (events.length > 0 && events[0]!.at <= finished) {
        const { kind } = events.shift()!;
        const t0 = Date.now();
        let doneKind: DoneKind = kind;
        if (kind === 'kill-worker') {
          const worker = workers[Math.floor(rnd() * workers.length)]!;
          log(`${kind} ${workers.indexOf(worker)} at ${finished}/${flags.rows} rows`);
          await worker.kill();
          await new Promise((r) => setTimeout(r, rnd() * 2000));
          await worker.start();
        } else if (kind === 'restart-temporal') {
          doneKind = await restartTemporal();
          log(`${doneKind} at ${finished}/${flags.rows} rows`);
        } else {
          log(`${kind} at ${finished}/${flags.rows} rows`);
          await stack.s3Outage(flags.s3OutageSeconds * 1000);
        }
        done.push({ kind: doneKind, atRows: finished, ms: Date.now() - t0 });
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    clearInterval(bursts);
    const { result } = await waitForBatch(client, input.batchId, () => undefined);
    const wallMs = Date.now() - started;

    const reportRef = parseS3Uri(result.resultsJsonl)!;
    const reportBody = await getObjectOrNull(s3, reportRef.bucket, reportRef.key);
    const report: ResultLine[] = reportBody
      ? reportBody
          .toString('utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as ResultLine)
      : [];
    const rows = accountForRows(manifest.keys, report);
    const ledger = sim.engine.ledger() as LedgerEntry[];
    const duplicates = duplicatePaidJobs(ledger);
    const audit = await auditStoredImages(s3, stack.config.s3.bucket, input.outputPrefix);
    const corruptKey = manifest.keys[Math.floor(flags.rows / 2)]!;
    const corruptLine = report.find((l) => l.key === corruptKey);
    const stats = (await (await fetch(`${sim.url}/_sim/stats`)).json()) as {
      requests: { injected: Record<string, number> };
      refused: Record<string, number>;
      acceptedPaidJobs: number;
    };

    // Resuming is re-running: the same manifest into the same prefix, faults off, must finish and pay for nothing
    // that already succeeded (rows that failed may be tried again).
    await fetch(`${sim.url}/_sim/faults`, { method: 'DELETE' });
    const paidBefore = sim.engine.ledger().length;
    const rerunInput = { ...input, batchId: `${input.batchId}-rerun` };
    await startBatch(client, s3, stack.config.s3.bucket, taskQueue, file, rerunInput, {
      account: 'chaos',
      slots: flags.slots,
      queueAhead: 2,
    });
    const rerunStarted = Date.now();
    const rerunDeadline = Math.max(rerunStarted + 60_000, deadline);
    while (!(await batchClosed(client, rerunInput.batchId)) && Date.now() < rerunDeadline && !interrupted.aborted) {
      await restartIfCrashed(flags.rows);
      await new Promise((r) => setTimeout(r, 500));
    }
    const rerun = (await batchClosed(client, rerunInput.batchId))
      ? (await waitForBatch(client, rerunInput.batchId, () => undefined)).result
      : null;
    const succeeded = new Set(report.filter((l) => l.status === 'SUCCESS' || l.status === 'SKIPPED').map((l) => l.key));
    const rerunJobs = sim.engine.ledger().slice(paidBefore) as LedgerEntry[];
    const rerunSummary = {
      finished: rerun !== null,
      seconds: Math.round((Date.now() - rerunStarted) / 100) / 10,
      skipped: rerun?.counts.skipped ?? 0,
      paidForDoneRows: rerunJobs.filter((j) => j.charged && succeeded.has(j.state ?? '')).length,
      paidJobs: rerunJobs.filter((j) => j.charged).length,
      duplicatePaidJobs: duplicatePaidJobs(sim.engine.ledger() as LedgerEntry[]).count,
    };

    const count = (k: DoneKind) => done.filter((e) => e.kind === k).length;
    const summary = {
      rows: flags.rows,
      cluster: !!cluster,
      workers: workers.length,
      submitPolicy: flags.submitPolicy,
      lost: rows.lost.length,
      duplicatePaidJobs: duplicates.count,
      shaMismatches: audit.mismatches.length,
      reportRows: report.length,
      manifestRows: manifest.keys.length,
      byStatus: rows.byStatus,
      byFailureClass: rows.byFailureClass,
      corruptImageRow: corruptLine
        ? `${corruptLine.status}${corruptLine.failureClass ? `/${corruptLine.failureClass}` : ''}`
        : 'NOT_IN_REPORT',
      workerKills: count('kill-worker'),
      workerCrashes: count('worker-crashed'),
      temporalRestarts: count('restart-temporal') + count('restart-frontend') + count('restart-history'),
      frontendRestarts: count('restart-frontend'),
      historyRestarts: count('restart-history'),
      s3Outages: count('s3-outage'),
      s3OutageSeconds: flags.s3OutageSeconds,
      injected: { ...stats.requests.injected, ...stats.refused },
      paidJobs: stats.acceptedPaidJobs,
      objectsChecked: audit.objectsChecked,
      imagesWithoutSidecar: audit.imagesWithoutSidecar.length,
      wallSeconds: Math.round(wallMs / 100) / 10,
      rerun: rerunSummary,
      examples: { lost: rows.lost.slice(0, 5), duplicates: duplicates.examples, shaMismatches: audit.mismatches.slice(0, 5) },
      stackDir: flags.keep ? stack.dir : undefined,
    };
    const violations = [
      summary.lost > 0 && `${summary.lost} row(s) lost`,
      flags.submitPolicy === 'at-most-once' &&
        summary.duplicatePaidJobs > 0 &&
        `${summary.duplicatePaidJobs} duplicate paid job(s) under at-most-once`,
      summary.shaMismatches > 0 && `${summary.shaMismatches} stored object(s) differ from their sidecar`,
      summary.reportRows !== summary.manifestRows && `the report has ${summary.reportRows} rows, the manifest ${summary.manifestRows}`,
      summary.workerKills < flags.kills && `only ${summary.workerKills} of ${flags.kills} worker kills happened before the batch ended`,
      summary.temporalRestarts < flags.serverRestarts &&
        `only ${summary.temporalRestarts} of ${flags.serverRestarts} server restarts happened`,
      !rerunSummary.finished && 'the re-run of the manifest did not finish',
      rerunSummary.paidForDoneRows > 0 && `the re-run paid ${rerunSummary.paidForDoneRows} job(s) for rows already done`,
      flags.submitPolicy === 'at-most-once' &&
        rerunSummary.duplicatePaidJobs > 0 &&
        `${rerunSummary.duplicatePaidJobs} duplicate paid job(s) after the re-run`,
    ].filter((v): v is string => typeof v === 'string');
    return { ...summary, violations, ok: violations.length === 0 };
  } finally {
    clearInterval(bursts);
    await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
    await client.workflow
      .getHandle(accountSlotsWorkflowId(taskQueue, 'chaos'))
      .terminate('chaos run finished')
      .catch(() => undefined);
    s3.destroy();
    await client.connection.close().catch(() => undefined);
    await stack.stop(flags.keep);
    await sim.close();
  }
}

function printTable(s: Awaited<ReturnType<typeof runChaos>>): void {
  const rows: [string, string | number][] = [
    ['rows (manifest / report)', `${s.manifestRows} / ${s.reportRows}`],
    ['lost rows', s.lost],
    [`duplicate paid jobs (${s.submitPolicy})`, s.duplicatePaidJobs],
    ['stored objects checked / sha256 mismatches', `${s.objectsChecked} / ${s.shaMismatches}`],
    [
      'outcomes',
      Object.entries(s.byStatus)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    ],
    [
      'failure classes',
      Object.entries(s.byFailureClass)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || '-',
    ],
    ['corrupt-image row', s.corruptImageRow],
    ['worker kills / crashes', `${s.workerKills} / ${s.workerCrashes} (${s.workers} worker process(es))`],
    [
      s.cluster ? 'cluster restarts (frontend, history) / S3 outages' : 'Temporal restarts / S3 outages',
      `${s.cluster ? `${s.frontendRestarts}, ${s.historyRestarts}` : s.temporalRestarts} / ${s.s3Outages} × ${s.s3OutageSeconds} s`,
    ],
    [
      'faults injected',
      Object.entries(s.injected)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    ],
    ['paid jobs', s.paidJobs],
    [
      're-run: finished / skipped / paid (for done rows)',
      `${s.rerun.finished ? `yes, ${s.rerun.seconds} s` : 'NO'} / ${s.rerun.skipped} / ${s.rerun.paidJobs} (${s.rerun.paidForDoneRows})`,
    ],
    ['wall time', `${s.wallSeconds} s`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
  process.stdout.write(s.ok ? 'chaos: no violations\n' : `chaos: VIOLATIONS\n${s.violations.map((v) => `  - ${v}\n`).join('')}`);
}

async function main(): Promise<void> {
  const program = new Command('chaos')
    .description('a batch under worker kills, server restarts, an S3 outage and API faults; checks nothing is lost or paid twice')
    .option('--rows <n>', 'manifest rows', wholeNumber(1), 500)
    .option('--kills <n>', 'worker SIGKILLs (each followed by a restart)', wholeNumber(0), 20)
    .option('--server-restarts <n>', 'Temporal server kills and restarts (with --cluster: frontend and history in turn)', wholeNumber(0), 2)
    .option('--s3-outage-seconds <n>', 'one S3 outage of this long (0: none)', wholeNumber(0), 20)
    .addOption(
      new Option('--submit-policy <policy>', 'at-most-once (duplicates are a violation) or at-least-once (duplicates are counted)')
        .choices(['at-most-once', 'at-least-once'])
        .default('at-most-once'),
    )
    .option('--speed <n>', 'simulator speed factor', wholeNumber(1), 50)
    .option('--slots <n>', "the simulated account's job slots", wholeNumber(1), 8)
    .option('--seed <s>', 'seed for the schedule and the simulator', 'chaos')
    .option('--timeout-minutes <n>', 'give up (a violation) after this long', wholeNumber(1), 40)
    .option('--keep', "keep the private stack's folder (logs, data) for a look afterwards")
    .option('--cluster', 'run on a private `stack up --cluster` (Temporal server on PostgreSQL) instead of the dev server')
    .option('--workers <n>', 'worker processes (default 1, or 2 with --cluster)', wholeNumber(1))
    .option('--json', 'print one JSON object');
  program.parse(process.argv);
  const flags = program.opts<ChaosFlags>();
  const log = (line: string) => process.stderr.write(`[chaos] ${line}\n`);
  // Ctrl-C stops the run but still stops the private servers and the worker.
  const interrupt = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => interrupt.abort());
  const summary = await runChaos(flags, log, interrupt.signal);
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else printTable(summary);
  process.exitCode = summary.ok ? 0 : 1;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 2;
  });
}
