// A reprocess: a new batch over an earlier batch's manifest and output prefix that makes new thumbnails (and
// sidecars, and the report) from the originals already in S3. It pays for nothing and needs no Midjourney API.
import type { S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import type { BatchInput } from '../contracts/batch';
import type { ThumbnailSpec } from '../contracts/media';
import { mediaTaskQueue } from '../contracts/naming';
import { ManifestSourceError, readManifestBytes } from '../manifest/source';
import { validateManifestBytes } from '../manifest/validate';
import { startBatch, type BatchRecord } from './batches';

export interface ReprocessOptions {
  /** Default: the earlier batch's profile. */
  thumbnails?: ThumbnailSpec[];
  /** Default `<batchId>-reprocess-<UTC stamp>`. */
  batchId?: string;
  /** Default: the earlier batch's. */
  concurrency?: number;
  /** The orchestration task queue the reprocess runs on (its media work goes to that queue's media queue). */
  taskQueue: string;
}

/** The id, if it is one a batch may have (as `run` checks it); else an error saying what is accepted. */
export function checkBatchId(batchId: string): string {
  if (!/^[A-Za-z0-9._-]{1,120}$/.test(batchId))
    throw new Error(`batch id "${batchId}" may use only letters, digits, '.', '_' and '-' (at most 120)`);
  return batchId;
}

/**
 * The new batch's input, and how many rows the manifest has. Every row of the manifest is taken, whichever rows the
 * earlier batch ran (a redrive's): the stored results of the output prefix say which rows have originals, and the
 * report covers the whole manifest anyway. No account slots, no failure threshold: a reprocess submits no job.
 */
export async function planReprocess(
  s3: S3Client,
  record: BatchRecord,
  opts: ReprocessOptions,
): Promise<{ rows: number; input: BatchInput }> {
  const previous = record.input;
  // Checked here, so a changed or lost manifest is said before anything starts (the worker checks it again).
  const { bytes, sha256 } = await readManifestBytes(previous.manifest.ref, s3);
  if (sha256 !== previous.manifest.sha256)
    throw new ManifestSourceError(`${previous.manifest.ref} changed since batch ${record.batchId} started (sha256 ${sha256.slice(0, 12)})`);
  const manifest = validateManifestBytes(previous.manifest.ref, bytes, sha256, previous.manifest.delimiter);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  const batchId = checkBatchId(opts.batchId ?? `${record.batchId}-reprocess-${stamp}`);
  const input: BatchInput = {
    batchId,
    manifest: previous.manifest,
    outputPrefix: previous.outputPrefix,
    concurrency: opts.concurrency ?? previous.concurrency,
    pageSize: previous.pageSize,
    rowsPerRun: previous.rowsPerRun,
    item: {
      ...previous.item,
      reprocess: true,
      thumbnails: opts.thumbnails ?? previous.item.thumbnails,
      callbacks: false,
      mediaTaskQueue: mediaTaskQueue(opts.taskQueue),
    },
  };
  return { rows: manifest.rows.length, input };
}

/** Plans and starts a reprocess (recorded like any batch, so `report` and `reprocess` find it). */
export async function startReprocess(client: Client, s3: S3Client, bucket: string, record: BatchRecord, opts: ReprocessOptions) {
  const { rows, input } = await planReprocess(s3, record, opts);
  const handle = await startBatch(client, s3, bucket, opts.taskQueue, record.manifest, input);
  return { rows, input, handle };
}
