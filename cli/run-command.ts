import { Command, InvalidArgumentError, Option } from 'commander';
import { wholeNumber } from '../client/options';
import { loadConfig, type EffectiveConfig } from '../config/config';
import { connectClient } from '../config/temporal';
import { ManifestSourceError } from '../manifest/source';
import { parseThumbnailProfile } from '../contracts/media';
import { createS3Client } from '../storage/s3-client';
import type { BatchInput } from '../contracts/batch';
import type { SubmitPolicy } from '../contracts/rows';
import { accountOf } from '../client/account-slots';
import { loadAccountSpecs } from '../config/accounts';
import { ACCOUNT_MODES, type AccountSpec } from '../contracts/accounts';
import type { ManifestRow } from '../manifest/row';
import { concurrencyOf } from '../client/options';
import { BatchAlreadyRunningError, InvalidManifestError, prepareBatch, startBatch, type BatchOptions } from '../client/batches';
import { EXIT } from './exit-codes';
import { followBatch } from './follow';
import { delimiterOption } from './validate-command';
import type { CsvDelimiter } from '../manifest/parse';
import { printJson, printLines, progress } from './output';
import type { S3Client } from '@aws-sdk/client-s3';
import { validateManifest } from '../manifest/validate';
import { poolForecast } from '../manifest/pool-forecast';
import {
  deadlineOption,
  deadlineShortfall,
  implicitAccount,
  loadPlanAccounts,
  planTimes,
  poolJson,
  poolLines,
  timezoneOption,
  type PlanFlags,
} from './pool-plan';

export interface RunFlags {
  wait?: boolean;
  json?: boolean;
  batchId?: string;
  output?: string;
  /** Unset: the account's slots plus the queue-ahead, so the batch alone can keep the account busy. */
  concurrency?: number;
  accountSlots: number;
  queueAhead: number;
  /** The most queue-ahead the account's slots may grow to when refills are slow. */
  maxQueueAhead?: number;
  /** MJ_SLOTS (else 3), set by addBatchOptions: what --concurrency counts on with --account-slots 0. */
  apiSlots?: number;
  submitPolicy: SubmitPolicy;
  maxFailed?: number;
  maxFailedPercent?: number;
  callbacks: boolean;
  thumbnails?: string;
  deadlineMinutes: number;
  /** `run` only: `--accounts FILE`, over MJ_ACCOUNTS_FILE. */
  accounts?: string;
  /** `run` only: the CSV delimiter, recorded in the batch input (a redrive reuses the recorded one). */
  delimiter?: CsvDelimiter;
}

/** The flags `run` and `redrive` share. */
export function addBatchOptions(cmd: Command): Command {
  return (
    cmd
      .option('--wait', 'follow the batch until it ends; the exit code says how it ended')
      .option('--json', 'print one JSON object (with --wait, the final result)')
      .option('--batch-id <id>', 'the batch (and workflow) id; default <manifest name>-<sha256 prefix>')
      .option('--concurrency <n>', 'rows of this batch in flight at once (default: 2 × (account slots + queue-ahead))', wholeNumber(1))
      .option(
        '--account-slots <n>',
        'job slots of the API account, shared by every batch on the same key (0: no shared limit; default: $MJ_ACCOUNT_SLOTS, $MJ_SLOTS or 3)',
        wholeNumber(0),
      )
      .option(
        '--queue-ahead <n>',
        "jobs kept waiting in the API's queue beyond the slots, so a slot never idles while a finished job is noticed (default: $MJ_QUEUE_AHEAD or 2)",
        wholeNumber(0),
      )
      .option(
        '--max-queue-ahead <n>',
        "the most jobs kept waiting when the measured refill time asks for more than --queue-ahead, within the API's queue (default: $MJ_MAX_QUEUE_AHEAD or 8; at or below --queue-ahead: fixed)",
        wholeNumber(0),
      )
      // The defaults come from the checked configuration when the command runs, so a bad MJ_ACCOUNT_SLOTS stops it (exit 2) instead of turning the limit off.
      .hook('preAction', (command) => {
        const { account } = loadConfig();
        if (command.getOptionValueSource('accountSlots') !== 'cli')
          command.setOptionValueWithSource('accountSlots', account.slots, 'default');
        if (command.getOptionValueSource('queueAhead') !== 'cli')
          command.setOptionValueWithSource('queueAhead', account.queueAhead, 'default');
        if (command.getOptionValueSource('maxQueueAhead') !== 'cli')
          command.setOptionValueWithSource('maxQueueAhead', account.maxQueueAhead, 'default');
        command.setOptionValue('apiSlots', account.apiSlots);
      })
      .addOption(
        new Option('--submit-policy <policy>', 'what an ambiguous submit does: retry (may pay twice) or mark the row UNKNOWN_SUBMIT')
          .choices(['at-least-once', 'at-most-once'])
          .default('at-most-once'),
      )
      .option('--max-failed <n>', 'fail the batch early when more rows than this have failed', wholeNumber(0))
      .option('--max-failed-percent <p>', 'fail the batch early when more than this percent of rows have failed', (v) => {
        const n = Number(v);
        if (!(n >= 0 && n <= 100)) throw new InvalidArgumentError('must be a percentage from 0 to 100');
        return n;
      })
      .option('--no-callbacks', 'poll only; do not ask the API to POST task updates to the worker')
      .option('--thumbnails <profile>', 'thumbnail sizes and formats, e.g. "512:webp,256:webp" (default)', (v) => {
        try {
          parseThumbnailProfile(v);
          return v;
        } catch (err) {
          throw new InvalidArgumentError((err as Error).message);
        }
      })
      .option('--deadline-minutes <n>', 'give up on a job that has not finished after this long', wholeNumber(1), 30)
  );
}

export function batchOptionsOf(flags: RunFlags, config: EffectiveConfig): BatchOptions {
  return {
    accountSlots: flags.accountSlots,
    account: accountOf(config.mj),
    batchId: flags.batchId,
    outputPrefix: flags.output,
    concurrency: concurrencyOf(flags),
    submitPolicy: flags.submitPolicy,
    maxFailed: flags.maxFailed,
    maxFailedPercent: flags.maxFailedPercent,
    callbacks: flags.callbacks,
    thumbnails: flags.thumbnails ? parseThumbnailProfile(flags.thumbnails) : undefined,
    jobDeadlineMs: flags.deadlineMinutes * 60_000,
    delimiter: flags.delimiter,
  };
}

/** Starts a prepared batch, then (with --wait) follows it to the end and prints the summary. */
export async function launch(
  config: EffectiveConfig,
  manifestRef: string,
  input: BatchInput,
  flags: Pick<RunFlags, 'wait' | 'json' | 'accountSlots' | 'queueAhead' | 'maxQueueAhead'> & { accounts?: string },
): Promise<void> {
  // Read (and checked) before anything starts: a bad accounts file is exit 2 with nothing started. Without shared
  // slots (`--account-slots 0`, a reprocess) there is no pool either: rows run on the worker's first account.
  const accounts = flags.accountSlots === 0 ? undefined : loadAccountSpecs({ config, file: flags.accounts });
  const client = await connectClient(config.temporal);
  const s3 = createS3Client(config.s3);
  try {
    const handle = await startBatch(
      client,
      s3,
      config.s3.bucket,
      config.taskQueue,
      manifestRef,
      input,
      { account: accountOf(config.mj), slots: flags.accountSlots, queueAhead: flags.queueAhead, maxQueueAhead: flags.maxQueueAhead },
      accounts ? { accounts } : undefined,
    );
    const started = {
      batchId: input.batchId,
      workflowId: handle.workflowId,
      runId: handle.firstExecutionRunId,
      outputPrefix: input.outputPrefix,
      manifest: manifestRef,
    };
    if (!flags.wait) {
      if (flags.json) printJson(started);
      else
        printLines([
          `batch ${input.batchId} started (output s3://${config.s3.bucket}/${input.outputPrefix}/)`,
          `  follow it with: mj-batch watch ${input.batchId}`,
        ]);
      return;
    }
    progress(`batch ${input.batchId} started; following it (Ctrl-C stops following, not the batch)`);
    await followBatch(client, config, input.batchId, { json: flags.json }, started);
  } finally {
    s3.destroy();
    await client.connection.close();
  }
}

/** Turns the errors a user can fix into a message and an exit code; anything else is a bug and is rethrown. */
export function reportStartError(err: unknown, json: boolean | undefined): void {
  if (err instanceof InvalidManifestError) {
    if (json) printJson({ error: err.message, errors: err.manifest.issues });
    else
      process.stderr.write(
        `mj-batch: ${err.message}\n${err.manifest.issues.map((i) => `  line ${i.line}, ${i.field}: ${i.message}\n`).join('')}`,
      );
    process.exitCode = EXIT.invalid;
  } else if (err instanceof ManifestSourceError) {
    if (json) printJson({ error: err.message });
    else process.stderr.write(`mj-batch: cannot read the manifest: ${err.message}\n`);
    process.exitCode = EXIT.notFound;
  } else if (err instanceof BatchAlreadyRunningError) {
    if (json) printJson({ error: err.message });
    else process.stderr.write(`mj-batch: ${err.message}\n`);
    process.exitCode = EXIT.running;
  } else throw err;
}

/** The manifest's rows when every row is valid; undefined otherwise (prepareBatch then reports why). */
async function validRows(manifest: string, s3: S3Client, flags: Pick<RunFlags, 'delimiter'>): Promise<ManifestRow[] | undefined> {
  try {
    const checked = await validateManifest(manifest, s3, flags.delimiter);
    return checked.issues.length > 0 ? undefined : checked.rows;
  } catch (err) {
    if (err instanceof ManifestSourceError) return undefined;
    throw err;
  }
}

/**
 * Rows whose mode no account of the file serves would wait in the pool for ever: refused (exit 1) with their lines,
 * before anything starts.
 */
async function refusedForModes(manifest: string, s3: S3Client, accounts: AccountSpec[], flags: RunFlags): Promise<boolean> {
  const rows = await validRows(manifest, s3, flags);
  if (!rows) return false; // prepareBatch reports what is wrong with the manifest
  const json = flags.json;
  const served = new Set(accounts.flatMap((a) => a.modes ?? ACCOUNT_MODES));
  const unserved = rows.filter((r) => r.mode !== undefined && !r.taskId && !r.imageUrl && !served.has(r.mode));
  if (unserved.length === 0) return false;
  const error = `${unserved.length} row(s) ask for a mode no account of the accounts file serves (${[...served].join(', ') || 'none'}); nothing was started`;
  const lines = unserved.map((r) => ({ line: r.line, field: 'mode', message: `no account serves ${r.mode}` }));
  if (json) printJson({ error, errors: lines });
  else
    process.stderr.write(`mj-batch: ${error}
${lines
  .map(
    (l) => `  line ${l.line}, mode: ${l.message}
`,
  )
  .join('')}`);
  process.exitCode = EXIT.invalid;
  return true;
}

interface DeadlineFlags extends PlanFlags {
  force?: boolean;
  /** The accounts file (`--accounts`), when one is given. */
  accounts?: string;
}

/**
 * `--deadline`: plans the manifest over the accounts (the file, or today's one account with the slots this run
 * would use) and refuses, before anything is stored or started, when it cannot finish in time; `--force` starts
 * it anyway, with a warning. A manifest that cannot be read or has errors is left for prepareBatch to report.
 */
async function refusedByDeadline(
  manifest: string,
  s3: S3Client,
  config: EffectiveConfig,
  flags: RunFlags & DeadlineFlags,
): Promise<boolean> {
  const rows = await validRows(manifest, s3, flags);
  if (!rows) return false;
  const { timeZone, startMs, deadlineMs } = planTimes(flags, Date.now());
  const slots = Math.min(concurrencyOf(flags), flags.accountSlots || flags.apiSlots || 3);
  const accounts = loadPlanAccounts(flags.accounts, config) ?? [implicitAccount(config, slots)];
  const plan = poolForecast({ rows, accounts, startMs, deadlineMs });
  const shortfall = deadlineShortfall(plan, timeZone);
  if (!shortfall) return false;
  if (flags.force) {
    progress(`mj-batch: ${shortfall}; starting anyway (--force)`);
    return false;
  }
  if (flags.json) printJson({ error: shortfall, pool: poolJson(plan, timeZone) });
  else
    process.stderr.write(
      `mj-batch: ${shortfall}; nothing was started (--force starts it anyway)\n${poolLines(plan, timeZone).join('\n')}\n`,
    );
  process.exitCode = EXIT.wouldMissDeadline;
  return true;
}

/** `mj-batch run <manifest>`: validate everything, then start the batch. */
export function runCommand(): Command {
  return addBatchOptions(
    new Command('run')
      .description('validate a manifest and run it as a batch (a worker must be running: `mj-batch worker`)')
      .argument('<manifest>', 'a CSV, JSON or JSONL file, or an s3://bucket/key URI')
      .option(
        '--output <prefix>',
        'output prefix in the bucket (default out/<manifest name>); re-running into the same prefix skips finished rows',
      )
      .addOption(delimiterOption())
      .option('--accounts <file>', 'the accounts file: a JSON array of API accounts (default: $MJ_ACCOUNTS_FILE)')
      .addOption(deadlineOption('refuse to start (exit 7) when the plan says the batch cannot finish by then'))
      .addOption(timezoneOption())
      .option('--force', 'with --deadline: start even when the plan says it cannot finish in time'),
  ).action(async (manifest: string, flags: RunFlags & DeadlineFlags) => {
    const config = loadConfig();
    // A bad accounts file stops run (exit 2) before anything starts; keys are the worker's.
    const accounts = loadAccountSpecs({ config, file: flags.accounts });
    const s3 = createS3Client(config.s3);
    try {
      if (flags.deadline !== undefined && (await refusedByDeadline(manifest, s3, config, flags))) return;
      if (accounts && flags.accountSlots !== 0 && (await refusedForModes(manifest, s3, accounts, flags))) return;
      const { input } = await prepareBatch(manifest, s3, config.s3.bucket, config.taskQueue, batchOptionsOf(flags, config));
      await launch(config, manifest, input, flags);
    } catch (err) {
      reportStartError(err, flags.json);
    } finally {
      s3.destroy();
    }
  });
}
