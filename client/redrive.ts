// A redrive: a new batch over an earlier batch's unfinished rows, into the same output prefix.
import type { S3Client } from '@aws-sdk/client-s3';
import type { BatchInput } from '../contracts/batch';
import type { FailureClass, SubmitPolicy } from '../contracts/rows';
import { readManifestBytes } from '../manifest/source';
import { validateManifestBytes } from '../manifest/validate';
import { mapLimit } from '../report/map-limit';
import { loadRowRecord } from '../report/row-results';
import { forgetJobs } from '../storage/job-journal';
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

/**
 * The rows to take and the new batch's input. Asking for ambiguous rows says "I checked, there is no such job":
 * their unanswered submits are forgotten. `newJobs` forgets every job of the rows taken, so they are paid for again.
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
  const candidates = manifest.rows.filter((r) => !previous.onlyKeys || previous.onlyKeys.includes(r.key));
  const stored = await mapLimit(candidates, 16, (row) => loadRowRecord(s3, bucket, previous.outputPrefix, row.key));
  const keys = candidates
    .filter((_, i) => wantsRow(stored[i]?.result.status, stored[i]?.result.failureClass, opts.classes))
    .map((r) => r.key);
  const forget = candidates.filter(
    (r, i) =>
      keys.includes(r.key) && (opts.newJobs || (opts.classes?.includes('ambiguous') && stored[i]?.result.status === 'UNKNOWN_SUBMIT')),
  );
  await mapLimit(forget, 16, (row) =>
    forgetJobs(s3, bucket, { outputPrefix: previous.outputPrefix, rowKey: row.key }, opts.newJobs ? 'all' : 'unanswered'),
  );
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  const input: BatchInput = {
    ...previous,
    batchId: opts.batchId ?? `${record.batchId}-redrive-${stamp}`,
    onlyKeys: keys,
    carried: undefined,
    concurrency: opts.concurrency,
    accountSlotsWorkflowId: opts.accountSlotsWorkflowId,
    item: { ...previous.item, submitPolicy: opts.submitPolicy, callbacks: opts.callbacks },
  };
  return { keys, input };
}
