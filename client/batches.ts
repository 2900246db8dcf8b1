// Starting batches and waiting for them: prepare (validate, copy the manifest, build the input), start, wait.
import * as path from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { AccountPoolState } from '../contracts/account-pool';
import { accountSlotsWorkflowId } from '../contracts/account-slots';
import type { BatchInput, BatchProgress, BatchResult } from '../contracts/batch';
import { batchRecordKey, manifestCopyKey, normalisePrefix } from '../contracts/bucket-layout';
import { FailureType } from '../contracts/failures';
import { progressQuery } from '../contracts/handlers';
import type { ThumbnailSpec } from '../contracts/media';
import { mediaTaskQueue, WorkflowType } from '../contracts/naming';
import type { ItemStage, SubmitPolicy } from '../contracts/rows';
import type { CsvDelimiter } from '../manifest/parse';
import { parseS3Uri, readManifestBytes } from '../manifest/source';
import { validateManifestBytes, type ValidatedManifest } from '../manifest/validate';
import { getObjectOrNull } from '../storage/objects';
import { accountSlotsStatus, ensureAccountSlots, type AccountSlotsStatus } from './account-slots';
import { accountPoolStateById, ensureAccountPool, type PoolTimings } from './account-pool';
import type { AccountSpec } from '../contracts/accounts';
import { rowStages } from './progress';

/** What a batch is started with; unset fields take the defaults named here. */
export interface BatchOptions {
  /** Default `<manifest name>-<sha256 prefix>`: the same file run again is the same batch (finished rows are skipped). */
  batchId?: string;
  /** Where rows, images and the report go in the bucket (default `out/<manifest name>`); the same prefix on a re-run skips finished rows. */
  outputPrefix?: string;
  /** Rows in flight at once (see `concurrencyOf` in ./options for the CLI's default). */
  concurrency: number;
  /** What an ambiguous submit does: `at-most-once` (the CLI's default) marks the row UNKNOWN_SUBMIT, `at-least-once` retries. */
  submitPolicy: SubmitPolicy;
  /** Fail the batch early past this many failed rows, or this percent of them (default: never). */
  maxFailed?: number;
  maxFailedPercent?: number;
  /** Ask the API to POST task updates to the worker's callback receiver (polling goes on regardless). */
  callbacks: boolean;
  /** Default 512:webp and 256:webp. */
  thumbnails?: ThumbnailSpec[];
  /** Give up on a job after this long (default 30 min). */
  jobDeadlineMs?: number;
  /** Poll interval bounds (default 5 s to 30 s; callbacks wake a row sooner). */
  pollMinMs?: number;
  pollMaxMs?: number;
  /** Rows started per workflow run before continue-as-new (default 400). */
  rowsPerRun?: number;
  /** Only these row keys (a redrive). */
  onlyKeys?: string[];
  /** The account's job slots, shared by every batch on the same API key; 0 turns the shared limit off. */
  accountSlots?: number;
  /** Which account the slots belong to (see `accountOf`). */
  account?: string;
  /** A CSV manifest's delimiter; unset, it is chosen from the header line. Set, it is recorded in the input for the worker. */
  delimiter?: CsvDelimiter;
}

/** What `run` records per batch at `_batches/<batchId>.json`, so `redrive` knows the manifest and the options. */
export interface BatchRecord {
  batchId: string;
  manifest: string;
  input: BatchInput;
  startedAt: string;
  taskQueue: string;
}

export class InvalidManifestError extends Error {
  constructor(
    readonly manifest: ValidatedManifest,
    ref: string,
  ) {
    super(`${ref}: ${manifest.issues.length} invalid row(s); nothing was submitted`);
  }
}

const stem = (ref: string) =>
  path
    .basename(parseS3Uri(ref)?.key ?? ref)
    .replace(/\.(csv|jsonl?|ndjson)$/i, '')
    .replace(/[^A-Za-z0-9._-]/g, '_') || 'manifest';

/**
 * Validates the whole manifest, copies a local one into the bucket (the worker may run elsewhere), and builds the
 * workflow input. The batch id defaults to `<manifest name>-<sha256 prefix>`: starting the same file twice while it
 * runs is refused by Temporal, and after it finished the new run skips the rows already done.
 */
export async function prepareBatch(
  ref: string,
  s3: S3Client,
  bucket: string,
  taskQueue: string,
  opts: BatchOptions,
): Promise<{ input: BatchInput; manifest: ValidatedManifest }> {
  const { bytes, sha256 } = await readManifestBytes(ref, s3);
  const manifest = validateManifestBytes(ref, bytes, sha256, opts.delimiter);
  if (manifest.issues.length > 0) throw new InvalidManifestError(manifest, ref);
  let stored = ref;
  if (!parseS3Uri(ref)) {
    const key = manifestCopyKey(sha256, path.basename(ref));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
    stored = `s3://${bucket}/${key}`;
  }
  const batchId = opts.batchId ?? `${stem(ref)}-${sha256.slice(0, 10)}`;
  if (!/^[A-Za-z0-9._-]{1,120}$/.test(batchId))
    throw new Error(`batch id "${batchId}" may use only letters, digits, '.', '_' and '-' (at most 120)`);
  const input: BatchInput = {
    batchId,
    // A delimiter only when one was given: the worker then reads the file as validated here. Unset, the input is as
    // before, and the worker chooses from the header line as this did.
    manifest: { ref: stored, sha256, ...(opts.delimiter !== undefined ? { delimiter: opts.delimiter } : {}) },
    outputPrefix: normalisePrefix(opts.outputPrefix ?? `out/${stem(ref)}`),
    concurrency: opts.concurrency,
    maxFailed: opts.maxFailed,
    maxFailedPercent: opts.maxFailedPercent,
    onlyKeys: opts.onlyKeys,
    rowsPerRun: opts.rowsPerRun,
    accountSlotsWorkflowId: opts.accountSlots && opts.account ? accountSlotsWorkflowId(taskQueue, opts.account) : undefined,
    item: {
      submitPolicy: opts.submitPolicy,
      pollMinMs: opts.pollMinMs ?? 5_000,
      pollMaxMs: opts.pollMaxMs ?? 30_000,
      jobDeadlineMs: opts.jobDeadlineMs ?? 30 * 60_000,
      thumbnails: opts.thumbnails,
      callbacks: opts.callbacks,
      skipDone: true,
      mediaTaskQueue: mediaTaskQueue(taskQueue),
    },
  };
  return { input, manifest };
}

export async function saveBatchRecord(s3: S3Client, bucket: string, record: BatchRecord): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: batchRecordKey(record.batchId),
      Body: Buffer.from(`${JSON.stringify(record, null, 2)}\n`),
      ContentType: 'application/json',
    }),
  );
}

export async function loadBatchRecord(s3: S3Client, bucket: string, batchId: string): Promise<BatchRecord | null> {
  const body = await getObjectOrNull(s3, bucket, batchRecordKey(batchId));
  return body ? (JSON.parse(body.toString('utf8')) as BatchRecord) : null;
}

export class BatchAlreadyRunningError extends Error {}

/** Starts the batch workflow (its id is the batch id) and records the batch for redrive. */
export async function startBatch(
  client: Client,
  s3: S3Client,
  bucket: string,
  taskQueue: string,
  manifestRef: string,
  input: BatchInput,
  accountSlots?: { account: string; slots: number; queueAhead?: number; maxQueueAhead?: number },
  pool?: { accounts: AccountSpec[]; timings?: PoolTimings },
) {
  try {
    if (pool) {
      // An accounts file: the task queue's pool of accounts stands in for the one account's slots.
      const { accountSlotsWorkflowId: _one, ...rest } = input;
      input = { ...rest, accountPoolWorkflowId: await ensureAccountPool(client, taskQueue, pool.accounts, pool.timings) };
    } else if (accountSlots && input.accountSlotsWorkflowId)
      await ensureAccountSlots(
        client,
        taskQueue,
        accountSlots.account,
        accountSlots.slots,
        accountSlots.queueAhead,
        accountSlots.maxQueueAhead,
      );
    const handle = await client.workflow.start(WorkflowType.batch, { workflowId: input.batchId, taskQueue, args: [input] });
    await saveBatchRecord(s3, bucket, {
      batchId: input.batchId,
      manifest: manifestRef,
      input,
      startedAt: new Date().toISOString(),
      taskQueue,
    });
    return handle;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new BatchAlreadyRunningError(
        `batch ${input.batchId} is already running; follow it with \`mj-batch watch ${input.batchId}\` or start another with --batch-id`,
      );
    }
    throw err;
  }
}

export type BatchOutcome = { result: BatchResult; ok: boolean };

/** Waits for the batch (across continue-as-new), calling `onProgress` every `everyMs`. A threshold failure still returns its report. */
export async function waitForBatch(
  client: Client,
  batchId: string,
  onProgress: (p: BatchProgress, stages?: Partial<Record<ItemStage, number>>, slots?: AccountSlotsStatus, pool?: AccountPoolState) => void,
  everyMs = 2000,
  withStages = false,
): Promise<BatchOutcome> {
  const handle = client.workflow.getHandle(batchId);
  let stop = false;
  let slots: AccountSlotsStatus | undefined;
  let slotsAt = 0;
  let pool: AccountPoolState | undefined;
  const ticker = (async () => {
    while (!stop) {
      await new Promise((r) => setTimeout(r, everyMs));
      if (stop) break;
      try {
        const p = await handle.query(progressQuery);
        // The slots say why rows wait; describing their holders costs calls, so at most every 10 s.
        if (withStages && p.accountSlotsWorkflowId && Date.now() - slotsAt >= 10_000) {
          slotsAt = Date.now();
          slots = await accountSlotsStatus(client, p.accountSlotsWorkflowId).catch(() => undefined);
        }
        // The pool of accounts (an accounts file) answers from its state, one query: every tick.
        if (withStages && p.accountPoolWorkflowId)
          pool = (await accountPoolStateById(client, p.accountPoolWorkflowId).catch(() => pool)) ?? pool;
        onProgress(p, withStages ? await rowStages(client, batchId).catch(() => undefined) : undefined, slots, pool);
      } catch {
        // Between runs (continue-as-new) or while a worker restarts a query can fail; the next tick asks again.
      }
    }
  })();
  try {
    const result = (await handle.result()) as BatchResult;
    return { result, ok: !result.cancelled };
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type === FailureType.thresholdExceeded && cause.details?.[0]) {
      return { result: cause.details[0] as BatchResult, ok: false };
    }
    throw err;
  } finally {
    stop = true;
    await ticker;
  }
}
