import { Command, InvalidArgumentError } from 'commander';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { createAccountClients } from '../client/account-clients';
import { accountOf, accountSlotsStatus } from '../client/account-slots';
import { cancelApiJobs, runningRows, type ApiCancelReport } from '../client/api-cancel';
import { loadBatchRecord } from '../client/batches';
import { batchOutcome, cancelBatch, listBatches, pauseBatch, resumeBatch, setBatchConcurrency } from '../client/control';
import { wholeNumber } from '../client/options';
import { rowStages } from '../client/progress';
import { batchUiUrl, summaryOf } from '../client/summary';
import { failingWorkflowTask } from '../client/failing-task';
import { progressQuery } from '../contracts/handlers';
import { accountPoolStateById } from '../client/account-pool';
import { WorkflowType } from '../contracts/naming';
import { loadAccounts, type Accounts } from '../config/accounts';
import { ConfigError, loadConfig, type EffectiveConfig } from '../config/config';
import { connectClient } from '../config/temporal';
import { createS3Client } from '../storage/s3-client';
import { accountPoolIdOf, holdLine, poolLines, slotsLine, stageCounts } from './board';
import { EXIT } from './exit-codes';
import { followBatch } from './follow';
import { printJson, printLines } from './output';

class BatchCommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Runs `fn` with a client; turns "no such batch" and "not running" into messages and exit codes. */
async function withBatch(
  batchId: string,
  json: boolean | undefined,
  fn: (client: Client, handle: WorkflowHandle, config: EffectiveConfig) => Promise<void>,
): Promise<void> {
  const config = loadConfig();
  const client = await connectClient(config.temporal);
  try {
    const handle = client.workflow.getHandle(batchId);
    await fn(client, handle, config);
  } catch (err) {
    const known =
      err instanceof BatchCommandError
        ? err
        : err instanceof WorkflowNotFoundError
          ? new BatchCommandError(
              `no batch ${batchId} on ${config.temporal.address} (namespace ${config.temporal.namespace})`,
              EXIT.notFound,
            )
          : undefined;
    if (!known) throw err;
    if (json) printJson({ batchId, error: known.message });
    else process.stderr.write(`mj-batch: ${known.message}\n`);
    process.exitCode = known.exitCode;
  } finally {
    await client.connection.close();
  }
}

async function requireRunning(handle: WorkflowHandle): Promise<void> {
  const d = await handle.describe();
  if (d.type !== WorkflowType.batch) throw new BatchCommandError(`${handle.workflowId} is a ${d.type}, not a batch`, EXIT.notFound);
  if (d.status.name !== 'RUNNING')
    throw new BatchCommandError(`batch ${handle.workflowId} is not running (${d.status.name.toLowerCase()})`, EXIT.notRunning);
}

function watchCommand(): Command {
  return new Command('watch')
    .description('follow a batch to its end: a live board on a terminal, plain lines otherwise')
    .argument('<batchId>')
    .option('--json', 'print one JSON object when the batch ends (progress lines go to stderr)')
    .action(async (batchId: string, flags: { json?: boolean }) =>
      withBatch(batchId, flags.json, async (client, handle, config) => {
        await handle.describe();
        await followBatch(client, config, batchId, flags);
      }),
    );
}

function statusCommand(): Command {
  return new Command('status')
    .description('where a batch stands: counts by stage, rate, ETA; its result once it has ended')
    .argument('<batchId>')
    .option('--json', 'print one JSON object')
    .action(async (batchId: string, flags: { json?: boolean }) =>
      withBatch(batchId, flags.json, async (client, handle, config) => {
        const d = await handle.describe();
        if (d.type !== WorkflowType.batch) throw new BatchCommandError(`${batchId} is a ${d.type}, not a batch`, EXIT.notFound);
        const status = d.status.name;
        const base = { batchId, status, temporalUiUrl: batchUiUrl(config, batchId) };
        if (status === 'RUNNING') {
          // A task that keeps failing (e.g. a worker without the codec key) cannot answer the query: say why instead of timing out.
          const failing = await failingWorkflowTask(client, d);
          if (failing) {
            if (flags.json) return printJson({ ...base, failingWorkflowTask: failing });
            return printLines([
              `batch ${batchId}: running, but its workflow task has failed ${failing.failures} time(s) and is retried until a worker can run it:`,
              `  ${failing.message}`,
              ...(base.temporalUiUrl ? [`  Web UI ${base.temporalUiUrl}`] : []),
            ]);
          }
          const p = await handle.query(progressQuery);
          const stages = stageCounts(p, await rowStages(client, batchId).catch(() => ({})));
          const slots = p.accountSlotsWorkflowId
            ? await accountSlotsStatus(client, p.accountSlotsWorkflowId).catch(() => undefined)
            : undefined;
          const poolId = accountPoolIdOf(p);
          const pool = poolId ? ((await accountPoolStateById(client, poolId).catch(() => null)) ?? undefined) : undefined;
          if (flags.json) {
            return printJson({
              ...base,
              state: p.state,
              counts: p.counts,
              stages,
              inFlight: p.inFlight,
              concurrency: p.concurrency,
              ratePerMinute: p.ratePerMinute,
              etaSeconds: p.etaSeconds,
              runs: p.runs,
              ...(p.accountHold ? { accountHold: p.accountHold } : {}),
              ...(slots ? { accountSlots: slots } : {}),
              ...(pool ? { accountPool: pool } : {}),
            });
          }
          return printLines([
            `batch ${batchId}: ${p.state}, ${stages.done + stages.failed}/${p.counts.total} rows finished`,
            `  ${Object.entries(stages)
              .map(([s, n]) => `${s} ${n}`)
              .join(', ')}`,
            `  rate ${p.ratePerMinute}/min, ETA ${p.etaSeconds ?? '-'} s, slots in use ${p.inFlight}/${p.concurrency}`,
            ...(p.accountHold ? [`  ${holdLine(p)}`] : []),
            ...(p.counts.modeMismatches ? [`  WARNING: ${p.counts.modeMismatches} row(s) ran in another speed mode than asked`] : []),
            ...(slots ? [`  ${slotsLine(slots)}`] : []),
            ...(pool ? poolLines(pool).map((l) => `  ${l}`) : []),
            ...(base.temporalUiUrl ? [`  Web UI ${base.temporalUiUrl}`] : []),
          ]);
        }
        const { result, error } = await batchOutcome(handle);
        const summary = result ? summaryOf(config, result) : undefined;
        if (flags.json) return printJson({ ...base, ...(summary ?? {}), ...(error ? { error } : {}) });
        printLines([
          `batch ${batchId}: ${status.toLowerCase()}${error ? ` (${error})` : ''}`,
          ...(summary
            ? [
                `  rows ${summary.rows}: ${summary.succeeded} succeeded, ${summary.failed} failed, ${summary.unknownSubmit} unknown submit, ${summary.cancelled} cancelled`,
                `  results ${summary.resultsCsv}`,
                `  sheet   ${summary.contactSheet}`,
              ]
            : []),
          ...(summary?.modeMismatches ? [`  WARNING: ${summary.modeMismatches} row(s) ran in another speed mode than asked`] : []),
        ]);
      }),
    );
}

function controlCommand(name: string, description: string, act: (handle: WorkflowHandle) => Promise<unknown>, done: string): Command {
  return new Command(name)
    .description(description)
    .argument('<batchId>')
    .option('--json', 'print one JSON object')
    .action(async (batchId: string, flags: { json?: boolean }) =>
      withBatch(batchId, flags.json, async (_client, handle) => {
        await requireRunning(handle);
        await act(handle);
        const p = await handle.query(progressQuery).catch(() => undefined);
        if (flags.json) printJson({ batchId, action: name, ok: true, state: p?.state, concurrency: p?.concurrency, inFlight: p?.inFlight });
        else printLines([`batch ${batchId}: ${done}`]);
      }),
    );
}

type ApiCancelOutcome = ApiCancelReport | { error: string };

/** Cancels the batch's jobs still queued at the API (see client/api-cancel.ts), each with the account its journal names. */
async function cancelAtApi(
  client: Client,
  config: EffectiveConfig,
  batchId: string,
  rows: string[],
  since: Date,
): Promise<ApiCancelOutcome> {
  let accounts: Accounts;
  try {
    accounts = loadAccounts({ config, implicitName: accountOf(config.mj) });
  } catch (err) {
    if (err instanceof ConfigError) return { error: err.message };
    throw err;
  }
  const s3 = createS3Client(config.s3);
  const mj = createAccountClients(accounts, config);
  try {
    const record = await loadBatchRecord(s3, config.s3.bucket, batchId);
    if (!record) return { error: `no record of batch ${batchId} in s3://${config.s3.bucket}/, so its rows' job journals cannot be found` };
    return await cancelApiJobs(
      batchId,
      { temporal: client, s3, bucket: config.s3.bucket, mj },
      { outputPrefix: record.input.outputPrefix, rows, since },
    );
  } catch (err) {
    return { error: `cancelling the jobs at the API failed: ${(err as Error).message}` };
  } finally {
    await mj.close();
    s3.destroy();
  }
}

function apiCancelLines(api: ApiCancelOutcome): string[] {
  if ('error' in api) return [`  API: nothing cancelled: ${api.error}`];
  const lines = [
    api.cancelled.length
      ? `  API: cancelled ${api.cancelled.length} queued job(s): ${api.cancelled.map((j) => j.taskId).join(', ')}`
      : '  API: no queued job to cancel',
  ];
  if (api.couldNotCancel.length) {
    lines.push(`  API: could not cancel ${api.couldNotCancel.length} job(s):`);
    for (const j of api.couldNotCancel)
      lines.push(`    ${j.taskId ?? '(no task id)'} (row ${j.rowKey}${j.status ? `, ${j.status}` : ''}): ${j.reason}`);
  }
  if (api.alreadyFinished.length) lines.push(`  API: ${api.alreadyFinished.length} job(s) had already finished`);
  return lines;
}

function cancelCommand(): Command {
  return new Command('cancel')
    .description('stop the batch (rows in flight end CANCELLED, the report is written), then cancel its jobs still queued at the API')
    .argument('<batchId>')
    .option('--json', 'print one JSON object')
    .option('--no-api-cancel', 'only cancel the batch: leave its jobs queued at the API to run (and be paid for)')
    .action(async (batchId: string, flags: { json?: boolean; apiCancel: boolean }) =>
      withBatch(batchId, flags.json, async (client, handle, config) => {
        await requireRunning(handle);
        // Rows seen running now, and rows closed after this moment (a margin for clocks that differ from the server's).
        const rows = flags.apiCancel ? await runningRows(client, batchId).catch(() => []) : [];
        const since = new Date(Date.now() - 30_000);
        // The batch first, so no row submits anything new while its jobs are cancelled at the API.
        await cancelBatch(handle);
        const p = await handle.query(progressQuery).catch(() => undefined);
        if (!flags.json) printLines([`batch ${batchId}: cancelling; rows in flight stop, then the report is written`]);
        const api = flags.apiCancel ? await cancelAtApi(client, config, batchId, rows, since) : undefined;
        if (flags.json)
          printJson({
            batchId,
            action: 'cancel',
            ok: true,
            state: p?.state,
            concurrency: p?.concurrency,
            inFlight: p?.inFlight,
            ...(api ? { api } : {}),
          });
        else if (api) printLines(apiCancelLines(api));
      }),
    );
}

function setConcurrencyCommand(): Command {
  return new Command('set-concurrency')
    .description('change how many rows of a running batch are in flight at once')
    .argument('<batchId>')
    .argument('<n>', 'rows in flight, 1 to 200', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 200) throw new InvalidArgumentError('must be a whole number from 1 to 200');
      return n;
    })
    .option('--json', 'print one JSON object')
    .action(async (batchId: string, n: number, flags: { json?: boolean }) =>
      withBatch(batchId, flags.json, async (_client, handle) => {
        await requireRunning(handle);
        const now = await setBatchConcurrency(handle, n);
        if (flags.json) printJson({ batchId, action: 'set-concurrency', ok: true, concurrency: now });
        else printLines([`batch ${batchId}: concurrency is now ${now}`]);
      }),
    );
}

function listCommand(): Command {
  return new Command('list')
    .description('batches on this Temporal namespace, newest first (from search attributes)')
    .option('--state <state>', 'only batches in this state: running, paused, finished, failed, cancelled')
    .option('--limit <n>', 'at most this many', wholeNumber(1), 20)
    .option('--json', 'print one JSON object')
    .action(async (flags: { state?: string; limit: number; json?: boolean }) => {
      const config = loadConfig();
      const client = await connectClient(config.temporal);
      try {
        const batches = await listBatches(client, { state: flags.state, limit: flags.limit });
        if (flags.json) return printJson({ batches });
        if (batches.length === 0) return printLines(['no batches']);
        printLines([
          `${'BATCH'.padEnd(40)} ${'STATE'.padEnd(10)} ${'ROWS'.padStart(6)} ${'DONE'.padStart(6)} ${'FAILED'.padStart(6)}  STARTED`,
          ...batches.map(
            (b) =>
              `${b.batchId.padEnd(40)} ${String(b.state ?? b.status.toLowerCase()).padEnd(10)} ${String(b.rows ?? '-').padStart(6)} ${String(b.done ?? '-').padStart(6)} ${String(b.failed ?? '-').padStart(6)}  ${b.startTime}`,
          ),
        ]);
      } finally {
        await client.connection.close();
      }
    });
}

export function batchCommands(): Command[] {
  return [
    watchCommand(),
    statusCommand(),
    listCommand(),
    controlCommand(
      'pause',
      'stop starting rows (the ones in flight finish)',
      pauseBatch,
      'paused; rows in flight finish, no new row starts',
    ),
    controlCommand(
      'resume',
      'start rows again after pause; on a batch held by an account condition, try the account now',
      resumeBatch,
      'resumed',
    ),
    cancelCommand(),
    setConcurrencyCommand(),
  ];
}
