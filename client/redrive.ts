// A redrive: a new batch over an earlier batch's unfinished rows, into the same output prefix.
import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { BatchInput, RowKeysRef } from '../contracts/batch';
import { redriveKeysKey } from '../contracts/bucket-layout';
import type { FailureClass, SubmitPolicy } from '../contracts/rows';
import { readManifestBytes } from '../manifest/source';
import { validateManifestBytes } from '../manifest/validate';
import { mapLimit } from '../report/map-limit';
import { loadRowRecord } from '../report/row-results';
import { forgetJobs } from '../storage/job-journal';
import { getObjectOrNull } from '../storage/objects';
import type { BatchRecord } from './batches';

/**
 * Classes a redrive takes only when `--class` names them: `ambiguous` (UNKNOWN_SUBMIT rows may already have been paid
 * for) and `banned` (moderation refused the prompt: sending it again is a paid refusal and a strike on the account).
 */
export const REDRIVE_ONLY_WHEN_ASKED: readonly FailureClass[] = ['ambiguous', 'banned'];

/** Rows a redrive takes: every unfinished row, except ambiguous and banned ones unless `classes` names them. */
export function wantsRow(status: string | undefined, failureClass: FailureClass | undefined, classes: FailureClass[] | undefined): boolean {
  if (status === 'SUCCESS' || status === 'SKIPPED') return false;
  if (status === undefined) return !classes; // never recorded: the batch stopped before it
  const cls = status === 'UNKNOWN_SUBMIT' ? 'ambiguous' : failureClass;
  if (classes) return cls !== undefined && classes.includes(cls);
  return cls === undefined || !REDRIVE_ONLY_WHEN_ASKED.includes(cls);
}

export interface RedriveOptions {
  /** Only rows that failed with these classes (default: every unfinished row but ambiguous and banned ones). */
  classes?: FailureClass[];
  /** Pay for new jobs instead of adopting the rows' earlier ones (default false). */
  newJobs?: boolean;
  /** Default `<batchId>-redrive-<UTC stamp>`. */
  batchId?: string;
  concurrency: number;
  submitPolicy: SubmitPolicy;
  callbacks: boolean;
  /** The account's slots workflow, or none for no shared limit. */
  accountSlotsWorkflowId?: string;
}

/** The keys object of a redrive (`RowKeysRef`): one JSON object, the row keys in manifest order. */
export function redriveKeysBody(batchId: string, redriveOf: string, keys: string[]): Buffer {
  return Buffer.from(`${JSON.stringify({ batchId, redriveOf, keys })}\n`);
}

/** Writes a redrive's keys object, once, and answers the reference the batch input carries. */
async function saveRedriveKeys(s3: S3Client, bucket: string, batchId: string, redriveOf: string, keys: string[]): Promise<RowKeysRef> {
  const body = redriveKeysBody(batchId, redriveOf, keys);
  const sha256 = createHash('sha256').update(body).digest('hex');
  const key = redriveKeysKey(batchId, sha256);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }));
  return { key, count: keys.length, sha256 };
}

/** The rows an earlier batch took: its keys object's, its `onlyKeys` (older redrives), or every row (undefined). */
async function earlierKeys(s3: S3Client, bucket: string, previous: BatchInput): Promise<Set<string> | undefined> {
  const ref = previous.onlyKeysRef;
  if (!ref) return previous.onlyKeys ? new Set(previous.onlyKeys) : undefined;
  const where = `batch ${previous.batchId}'s row keys (s3://${bucket}/${ref.key})`;
  const bytes = await getObjectOrNull(s3, bucket, ref.key);
  if (!bytes) throw new Error(`${where}: no such object`);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== ref.sha256) throw new Error(`${where}: changed since the batch started (sha256 ${sha256.slice(0, 12)})`);
  const keys = (JSON.parse(bytes.toString('utf8')) as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length !== ref.count || !keys.every((k) => typeof k === 'string'))
    throw new Error(`${where}: not a list of ${ref.count} row keys`);
  return new Set(keys as string[]);
}

/**
 * The rows to take and the new batch's input. Asking for ambiguous rows says "I checked, there is no such job":
 * their unanswered submits are forgotten. `newJobs` forgets every job of the rows taken, so they are paid for again.
 * The rows travel as an object in the bucket (`redriveKeysKey`), written here before anything starts; the input
 * carries only its reference (`onlyKeysRef`), so its size does not grow with the rows.
 */
export async function planRedrive(
  s3: S3Client,
  bucket: string,
  record: BatchRecord,
  opts: RedriveOptions,
): Promise<{ keys: string[]; input: BatchInput }> {
  const previous = record.input;
  const { bytes, sha256 } = await readManifestBytes(previous.manifest.ref, s3);
  const manifest = validateManifestBytes(previous.manifest.ref, bytes, sha256, previous.manifest.delimiter);
  const earlier = await earlierKeys(s3, bucket, previous);
  const candidates = earlier ? manifest.rows.filter((r) => earlier.has(r.key)) : manifest.rows;
  const stored = await mapLimit(candidates, 32, (row) => loadRowRecord(s3, bucket, previous.outputPrefix, row.key));
  const taken = candidates.map((_, i) => wantsRow(stored[i]?.result.status, stored[i]?.result.failureClass, opts.classes));
  const keys = candidates.filter((_, i) => taken[i]).map((r) => r.key);
  const forget = candidates.filter(
    (_, i) => taken[i] && (opts.newJobs || (opts.classes?.includes('ambiguous') && stored[i]?.result.status === 'UNKNOWN_SUBMIT')),
  );
  await mapLimit(forget, 16, (row) =>
    forgetJobs(s3, bucket, { outputPrefix: previous.outputPrefix, rowKey: row.key }, opts.newJobs ? 'all' : 'unanswered'),
  );
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  const batchId = opts.batchId ?? `${record.batchId}-redrive-${stamp}`;
  // Written even when no row is taken: an input that names no rows would take them all.
  const onlyKeysRef = await saveRedriveKeys(s3, bucket, batchId, record.batchId, keys);
  const input: BatchInput = {
    ...previous,
    batchId,
    // The earlier batch's list, if it had one, is not this batch's: the reference alone names the rows.
    onlyKeys: undefined,
    onlyKeysRef,
    carried: undefined,
    concurrency: opts.concurrency,
    accountSlotsWorkflowId: opts.accountSlotsWorkflowId,
    item: {
      ...previous.item,
      submitPolicy: opts.submitPolicy,
      callbacks: opts.callbacks,
      // A redrive runs the rows' jobs, even over a reprocess batch.
      reprocess: undefined,
      // Asking for banned rows says "send them again": a plain re-run does not resubmit a refused row.
      resubmitBanned: opts.classes?.includes('banned') || undefined,
    },
  };
  return { keys, input };
}
