import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { readManifestBytes, parseS3Uri } from '../manifest/source';
import { getObjectOrNull } from '../storage/objects';
import { validateManifestBytes, type ValidatedManifest } from '../manifest/validate';
import type { ThumbnailSpec } from '../media/thumbnails';
import { findStaleLeases, type StaleLease } from '../activities/slot-leases';
import { accountSlotsWorkflow, accountSlotsWorkflowId, setSlotsSignal, slotsQuery, STALE_CHECK_MS } from '../workflows/account-slots';
import { batchWorkflow, type BatchInput, type BatchResult } from '../workflows/batch';
import { mediaTaskQueue } from '../worker/worker';
import { RowStageKey } from '../workflows/search-attributes';
import { progressQuery, type BatchProgress, type ItemStage, type SubmitPolicy } from '../workflows/shared';

export interface BatchOptions {
  batchId?: string;
  /** Where rows, images and the report go in the bucket; the same prefix on a re-run skips finished rows. */
  outputPrefix?: string;
  concurrency: number;
  submitPolicy: SubmitPolicy;
  maxFailed?: number;
  maxFailedPercent?: number;
  callbacks: boolean;
  thumbnails?: ThumbnailSpec[];
  jobDeadlineMs?: number;
  pollMinMs?: number;
  pollMaxMs?: number;
  rowsPerRun?: number;
  onlyKeys?: string[];
  /** The account's job slots, shared by every batch on the same API key; 0 turns the shared limit off. */
  accountSlots?: number;
  /** Which account the slots belong to (see `accountOf`). */
  account?: string;
}

/**
 * A name for the API account that reveals nothing about its key: MJ_ACCOUNT if set, else a short hash of the base
 * URL and key, so batches on the same key share one slots workflow.
 */
export function accountOf(mj: { baseUrl?: string; apiKey?: string }, env: NodeJS.ProcessEnv = process.env): string {
  if (env.MJ_ACCOUNT) return env.MJ_ACCOUNT.replace(/[^A-Za-z0-9._-]/g, '_');
  return `acct-${createHash('sha256').update(`${mj.baseUrl ?? ''}\n${mj.apiKey ?? ''}`).digest('hex').slice(0, 12)}`;
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
  constructor(readonly manifest: ValidatedManifest, ref: string) {
    super(`${ref}: ${manifest.issues.length} invalid row(s); nothing was submitted`);
  }
}

const stem = (ref: string) => path.basename(parseS3Uri(ref)?.key ?? ref).replace(/\.(csv|jsonl?|ndjson)$/i, '').replace(/[^A-Za-z0-9._-]/g, '_') || 'manifest';

export const batchRecordKey = (batchId: string) => `_batches/${batchId}.json`;

/**
 * Validates the whole manifest, copies a local one into the bucket (the worker may run elsewhere), and builds the
 * workflow input. The batch id defaults to `<manifest name>-<sha256 prefix>`: starting the same file twice while it
 * runs is refused by Temporal, and after it finished the new run skips the rows already done.
 */
export async function prepareBatch(ref: string, s3: S3Client, bucket: string, taskQueue: string, opts: BatchOptions): Promise<{ input: BatchInput; manifest: ValidatedManifest }> {
  const { bytes, sha256 } = await readManifestBytes(ref, s3);
  const manifest = validateManifestBytes(ref, bytes, sha256);
  if (manifest.issues.length > 0) throw new InvalidManifestError(manifest, ref);
  let stored = ref;
  if (!parseS3Uri(ref)) {
    const key = `_manifests/${sha256.slice(0, 16)}/${path.basename(ref)}`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
    stored = `s3://${bucket}/${key}`;
  }
  const batchId = opts.batchId ?? `${stem(ref)}-${sha256.slice(0, 10)}`;
  if (!/^[A-Za-z0-9._-]{1,120}$/.test(batchId)) throw new Error(`batch id "${batchId}" may use only letters, digits, '.', '_' and '-' (at most 120)`);
  const input: BatchInput = {
    batchId,
    manifest: { ref: stored, sha256 },
    outputPrefix: (opts.outputPrefix ?? `out/${stem(ref)}`).replace(/^\/+|\/+$/g, ''),
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
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: batchRecordKey(record.batchId), Body: Buffer.from(`${JSON.stringify(record, null, 2)}\n`), ContentType: 'application/json' }));
}

export async function loadBatchRecord(s3: S3Client, bucket: string, batchId: string): Promise<BatchRecord | null> {
  const body = await getObjectOrNull(s3, bucket, batchRecordKey(batchId));
  return body ? (JSON.parse(body.toString('utf8')) as BatchRecord) : null;
}

export class BatchAlreadyRunningError extends Error {}

/** Starts the account's slots workflow if it is not running, and sets its slot count. */
export async function ensureAccountSlots(client: Client, taskQueue: string, account: string, slots: number, queueAhead = 0): Promise<void> {
  await client.workflow.signalWithStart(accountSlotsWorkflow, {
    workflowId: accountSlotsWorkflowId(taskQueue, account), taskQueue,
    args: [{ account, slots, queueAhead, leaseTtlMs: 6 * 3_600_000 }],
    signal: setSlotsSignal, signalArgs: [{ slots, queueAhead }],
  });
}

/** Starts the batch workflow (its id is the batch id) and records the batch for redrive. */
export async function startBatch(client: Client, s3: S3Client, bucket: string, taskQueue: string, manifestRef: string, input: BatchInput, accountSlots?: { account: string; slots: number; queueAhead?: number }) {
  try {
    if (accountSlots && input.accountSlotsWorkflowId) await ensureAccountSlots(client, taskQueue, accountSlots.account, accountSlots.slots, accountSlots.queueAhead);
    const handle = await client.workflow.start(batchWorkflow, { workflowId: input.batchId, taskQueue, args: [input] });
    await saveBatchRecord(s3, bucket, { batchId: input.batchId, manifest: manifestRef, input, startedAt: new Date().toISOString(), taskQueue });
    return handle;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new BatchAlreadyRunningError(`batch ${input.batchId} is already running; follow it with \`mj-batch watch ${input.batchId}\` or start another with --batch-id`);
    }
    throw err;
  }
}

/** Rows in flight by stage, from the rows' own search attributes (visibility lags by a moment). */
export async function rowStages(client: Client, batchId: string): Promise<Partial<Record<ItemStage, number>>> {
  const stages: Partial<Record<ItemStage, number>> = {};
  const query = `WorkflowType = 'itemWorkflow' AND ExecutionStatus = 'Running' AND BatchId = '${batchId.replace(/'/g, '')}'`;
  for await (const wf of client.workflow.list({ query, pageSize: 200 })) {
    const stage = wf.typedSearchAttributes.get(RowStageKey) as ItemStage | undefined;
    if (stage) stages[stage] = (stages[stage] ?? 0) + 1;
  }
  return stages;
}

/** The account's slots as a batch's rows meet them: who holds them, how many rows wait, and leases nobody uses. */
export interface AccountSlotsStatus {
  account: string;
  slots: number;
  queueAhead: number;
  held: number;
  /** Rows of every batch on the account waiting for a slot. */
  waiting: number;
  /** Held leases whose batch or row has closed: the slots workflow takes them back at its next check. */
  heldByClosedRows: StaleLease[];
  /** How long until that check, at the most. */
  reclaimWithinSeconds: number;
  reclaimed: number;
}

/** Reads the slots workflow; looks for leases held by closed rows only when rows wait and every slot is held. */
export async function accountSlotsStatus(client: Client, slotsWorkflowId: string): Promise<AccountSlotsStatus> {
  const s = await client.workflow.getHandle(slotsWorkflowId).query(slotsQuery);
  const full = s.waiting > 0 && s.held.length >= s.slots + s.queueAhead;
  return {
    account: s.account, slots: s.slots, queueAhead: s.queueAhead, held: s.held.length, waiting: s.waiting,
    heldByClosedRows: full ? await findStaleLeases(client, s.held) : [],
    reclaimWithinSeconds: (2 * STALE_CHECK_MS) / 1000,
    reclaimed: s.reclaimed ?? 0,
  };
}

/** One line for status and watch; empty when nothing is worth saying. */
export function slotsLine(s: AccountSlotsStatus): string {
  const line = `account ${s.account}: ${s.held}/${s.slots}+${s.queueAhead} slots held, ${s.waiting} row(s) waiting`;
  if (s.heldByClosedRows.length === 0) return line;
  return `${line}; ${s.heldByClosedRows.length} held by closed rows (taken back within ${s.reclaimWithinSeconds} s)`;
}

export type BatchOutcome = { result: BatchResult; ok: boolean };

/** Waits for the batch (across continue-as-new), calling `onProgress` every `everyMs`. A threshold failure still returns its report. */
export async function waitForBatch(
  client: Client, batchId: string,
  onProgress: (p: BatchProgress, stages?: Partial<Record<ItemStage, number>>, slots?: AccountSlotsStatus) => void, everyMs = 2000, withStages = false,
): Promise<BatchOutcome> {
  const handle = client.workflow.getHandle(batchId);
  let stop = false;
  let slots: AccountSlotsStatus | undefined;
  let slotsAt = 0;
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
        onProgress(p, withStages ? await rowStages(client, batchId).catch(() => undefined) : undefined, slots);
      } catch {
        // Between runs (continue-as-new) or while a worker restarts a query can fail; the next tick asks again.
      }
    }
  })();
  try {
    const result = await handle.result() as BatchResult;
    return { result, ok: !result.cancelled };
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type === 'FailureThresholdExceeded' && cause.details?.[0]) {
      return { result: cause.details[0] as BatchResult, ok: false };
    }
    throw err;
  } finally {
    stop = true;
    await ticker;
  }
}
