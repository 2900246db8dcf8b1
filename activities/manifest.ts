import type { S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import { readManifestBytes } from '../manifest/source';
import { validateManifestBytes, type ValidatedManifest } from '../manifest/validate';
import type { ManifestRow } from '../manifest/row';
import { rowPrefix } from '../manifest/output';
import type { RowRef } from '../contracts/rows';
import type { BatchInput } from '../contracts/batch';

export { rowPrefix };

export interface ManifestPageInput {
  ref: string;
  /** The manifest is pinned by its hash: a file edited mid-batch is refused, not half-read. */
  sha256: string;
  offset: number;
  limit: number;
  outputPrefix: string;
  /** Only these row keys (a redrive), or all rows. */
  onlyKeys?: string[];
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
  };
}

export function createManifestActivities({ s3 }: { s3: S3Client }) {
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
      const wanted = input.onlyKeys ? new Set(input.onlyKeys) : undefined;
      const rows = wanted ? manifest.rows.filter((r) => wanted.has(r.key)) : manifest.rows;
      const page = rows.slice(input.offset, input.offset + input.limit).map((r) => toRowRef(input.outputPrefix, r));
      const next = input.offset + input.limit;
      return { rows: page, total: rows.length, nextOffset: next < rows.length ? next : null };
    },
  };
}
