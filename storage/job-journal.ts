import { rowJobKey, rowJobsFolder } from '../contracts/bucket-layout';
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getObjectOrNull, listKeys } from './objects';

/**
 * The job journal: one small object per paid job a row asks for, written by the submit activity before it calls the
 * API (an intent) and again once the API accepted (the task id). A row run again after a crash, a terminated batch
 * or an ambiguous answer finds its jobs here and adopts them instead of paying for them twice.
 */
export interface JournalEntry {
  /** What the job is (kind, prompt, images, mode; or the parent and button): a changed row is a new job. */
  fingerprint: string;
  /** When the submit was about to be sent (ms since the epoch). */
  intentAt: number;
  /** Set once the API accepted the job. */
  taskId?: string;
  /** The account (its name) the job was sent to; unset: the worker's default account. Task ids belong to one account. */
  account?: string;
}

export interface JournalRef {
  outputPrefix: string;
  rowKey: string;
}

/** A row's first job is `first`; a follow-up is named by its parent task and button. */
export type JournalJob = { op: 'new' } | { op: 'action'; taskId: string; customId: string };

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');

export function journalKey(ref: JournalRef, job: JournalJob): string {
  const name = job.op === 'new' ? 'first' : `${safe(job.taskId)}-${createHash('sha256').update(job.customId).digest('hex').slice(0, 16)}`;
  return rowJobKey(ref.outputPrefix, ref.rowKey, name);
}

export function fingerprintOf(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

export async function readJournal(s3: S3Client, bucket: string, key: string): Promise<JournalEntry | null> {
  const body = await getObjectOrNull(s3, bucket, key);
  return body ? (JSON.parse(body.toString('utf8')) as JournalEntry) : null;
}

export async function writeJournal(s3: S3Client, bucket: string, key: string, entry: JournalEntry): Promise<void> {
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(JSON.stringify(entry)), ContentType: 'application/json' }),
  );
}

export async function deleteJournal(s3: S3Client, bucket: string, key: string): Promise<void> {
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

/**
 * Forgets a row's submits that never got an answer, so the next run submits them again: what a person says with
 * `redrive --class ambiguous` after checking that the provider has no such job. Accepted jobs stay (they are
 * adopted) unless `all`: `redrive --new-jobs` pays for new ones (say, when the old ones' image URLs expired).
 */
export async function forgetJobs(s3: S3Client, bucket: string, ref: JournalRef, which: 'unanswered' | 'all'): Promise<number> {
  const keys = await listKeys(s3, bucket, rowJobsFolder(ref.outputPrefix, ref.rowKey));
  let forgotten = 0;
  for (const key of keys) {
    const entry = await readJournal(s3, bucket, key);
    if (entry && (which === 'all' || !entry.taskId)) {
      await deleteJournal(s3, bucket, key);
      forgotten++;
    }
  }
  return forgotten;
}
