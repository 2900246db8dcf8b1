import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import { readManifestBytes } from '../manifest/source';
import { validateManifestBytes, type ValidatedManifest } from '../manifest/validate';
import type { ManifestRow } from '../manifest/row';
import { rowPrefix } from '../manifest/output';
import { manifestRowVersions } from '../manifest/version';
import type { RowRef } from '../contracts/rows';
import type { BatchInput, RowKeysRef } from '../contracts/batch';
import { getObjectOrNull } from '../storage/objects';

export { rowPrefix };

export interface ManifestPageInput {
  ref: string;
  /** The manifest is pinned by its hash: a file edited mid-batch is refused, not half-read. */
  sha256: string;
  offset: number;
  limit: number;
  outputPrefix: string;
  /** Only these row keys (a redrive, from inputs before `onlyKeysRef`), or all rows. */
  onlyKeys?: string[];
  /** Only the row keys listed in this object (a redrive); it takes precedence over `onlyKeys`. */
  onlyKeysRef?: RowKeysRef;
  /** The batch input's `manifest.delimiter`, when `run --delimiter` named one; unset, it is chosen from the header. */
  delimiter?: BatchInput['manifest']['delimiter'];
}

export interface ManifestPage {
  rows: RowRef[];
  total: number;
  nextOffset: number | null;
}

export function toRowRef(outputPrefix: string, row: ManifestRow): RowRef {
  return {
    key: row.key,
    line: row.line,
    id: row.id,
    kind: row.kind,
    prompt: row.prompt,
    images: row.images,
    mode: row.mode,
    actions: row.actions,
    plan: row.plan,
    prefix: rowPrefix(outputPrefix, row),
    taskId: row.taskId,
    imageUrl: row.imageUrl,
    extra: row.extra,
    version: manifestRowVersions(row).version,
  };
}

/** The row keys of a redrive's keys object (`{"keys": [...]}`), checked against its reference; throws a message otherwise. */
export function parseRowKeys(ref: RowKeysRef, bytes: Buffer): string[] {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== ref.sha256)
    throw new Error(`its sha256 is ${sha256.slice(0, 12)}, expected ${ref.sha256.slice(0, 12)}: it changed since the batch started`);
  let keys: unknown;
  try {
    keys = (JSON.parse(bytes.toString('utf8')) as { keys?: unknown }).keys;
  } catch (err) {
    throw new Error(`it is not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw new Error('its "keys" is not a list of row keys');
  if (keys.length !== ref.count) throw new Error(`it lists ${keys.length} row keys, expected ${ref.count}`);
  return keys as string[];
}

/**
 * Redrives' row keys by the sha256 of their object: a batch needs them for every page, for its report, and again in
 * every run after a continue-as-new; with this a worker reads each object once. A few are kept (batches on the same
 * worker take turns); concurrent reads of one object share one GET. Keyed by content, an entry is never stale.
 */
export class RowKeysCache {
  private readonly entries = new Map<string, Promise<ReadonlySet<string>>>();

  constructor(private readonly max = 8) {}

  /** The keys the reference names; a missing, changed or malformed object is a non-retryable `RowKeys.*` failure. */
  read(s3: S3Client, bucket: string | undefined, ref: RowKeysRef): Promise<ReadonlySet<string>> {
    const hit = this.entries.get(ref.sha256);
    if (hit) {
      // Most recently used last: the first entry is the one to drop.
      this.entries.delete(ref.sha256);
      this.entries.set(ref.sha256, hit);
      return hit;
    }
    const loading = this.load(s3, bucket, ref);
    this.entries.set(ref.sha256, loading);
    // A failed read is not kept: the activity's retry reads again.
    void loading.catch(() => {
      if (this.entries.get(ref.sha256) === loading) this.entries.delete(ref.sha256);
    });
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return loading;
  }

  private async load(s3: S3Client, bucket: string | undefined, ref: RowKeysRef): Promise<ReadonlySet<string>> {
    const where = `the redrive's row keys (s3://${bucket ?? '?'}/${ref.key})`;
    if (!bucket) throw ApplicationFailure.nonRetryable(`${where}: this worker has no bucket to read them from`, 'RowKeys.missing');
    const bytes = await getObjectOrNull(s3, bucket, ref.key); // other S3 failures are retried
    if (!bytes) throw ApplicationFailure.nonRetryable(`${where}: no such object`, 'RowKeys.missing');
    try {
      return new Set(parseRowKeys(ref, bytes));
    } catch (err) {
      throw ApplicationFailure.nonRetryable(`${where}: ${(err as Error).message}`, 'RowKeys.invalid');
    }
  }
}

/** The worker process's cache, shared by the manifest and the report activities. */
export const rowKeysCache = new RowKeysCache();

/** The rows a batch takes: the keys object's, else `onlyKeys` (inputs from before the object), else every row (undefined). */
export async function wantedRowKeys(
  s3: S3Client,
  bucket: string | undefined,
  input: { onlyKeys?: string[]; onlyKeysRef?: RowKeysRef },
  cache: RowKeysCache = rowKeysCache,
): Promise<ReadonlySet<string> | undefined> {
  if (input.onlyKeysRef) return cache.read(s3, bucket, input.onlyKeysRef);
  return input.onlyKeys ? new Set(input.onlyKeys) : undefined;
}

/**
 * `bucket`: where a redrive's keys object is (the worker's bucket; the activities the worker makes always have it).
 * `rowKeys`: the cache of those objects (default the process's).
 */
export function createManifestActivities({
  s3,
  bucket,
  rowKeys = rowKeysCache,
}: {
  s3: S3Client;
  bucket?: string;
  rowKeys?: RowKeysCache;
}) {
  // Parsed manifests by hash: a batch reads its manifest page by page, and re-parsing per page would be wasted.
  const cache = new Map<string, ValidatedManifest>();
  return {
    async readManifestPage(input: ManifestPageInput): Promise<ManifestPage> {
      const cacheKey = `${input.sha256}\u0000${input.delimiter ?? ''}`;
      let manifest = cache.get(cacheKey);
      if (!manifest) {
        const { bytes, sha256 } = await readManifestBytes(input.ref, s3);
        if (sha256 !== input.sha256) {
          throw ApplicationFailure.nonRetryable(
            `${input.ref} changed since the batch started (sha256 ${sha256.slice(0, 12)}, expected ${input.sha256.slice(0, 12)})`,
            'Manifest.changed',
          );
        }
        manifest = validateManifestBytes(input.ref, bytes, sha256, input.delimiter);
        if (manifest.issues.length > 0)
          throw ApplicationFailure.nonRetryable(
            `${input.ref} has ${manifest.issues.length} invalid row(s); run mj-batch validate`,
            'Manifest.invalid',
          );
        cache.clear();
        cache.set(cacheKey, manifest);
      }
      const wanted = await wantedRowKeys(s3, bucket, input, rowKeys);
      const rows = wanted ? manifest.rows.filter((r) => wanted.has(r.key)) : manifest.rows;
      const page = rows.slice(input.offset, input.offset + input.limit).map((r) => toRowRef(input.outputPrefix, r));
      const next = input.offset + input.limit;
      return { rows: page, total: rows.length, nextOffset: next < rows.length ? next : null };
    },
  };
}
