import type { S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import { readManifestBytes } from '../manifest/source';
import { validateManifestBytes, type ValidatedManifest } from '../manifest/validate';
import type { ManifestRow } from '../manifest/row';
import type { RowRef } from '../workflows/shared';

export interface ManifestPageInput {
  ref: string;
  /** The manifest is pinned by its hash: a file edited mid-batch is refused, not half-read. */
  sha256: string;
  offset: number;
  limit: number;
  outputPrefix: string;
  /** Only these row keys (a redrive), or all rows. */
  onlyKeys?: string[];
}

export interface ManifestPage {
  rows: RowRef[];
  total: number;
  nextOffset: number | null;
}

/** The row's folder: `<outputPrefix>/<output column, templated>`, or `<outputPrefix>/<key>`. */
export function rowPrefix(outputPrefix: string, row: ManifestRow): string {
  // Every column validate accepts in a template has a value here; a value is one safe path segment, never "." or "..".
  const values: Record<string, string> = {
    ...row.extra, key: row.key, id: row.id ?? row.key, kind: row.kind, mode: row.mode ?? '', prompt: row.prompt, images: row.images.join('|'),
    actions: row.actions, taskId: row.taskId ?? '', imageUrl: row.imageUrl ?? '',
  };
  const sub = row.output ? row.output.replace(/\{([^}]*)\}/g, (_, name: string) => (values[name] ?? '').replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.{1,2}$/, (d) => '_'.repeat(d.length))) : row.key;
  return [outputPrefix.replace(/\/+$/, ''), sub.replace(/^\/+|\/+$/g, '')].filter(Boolean).join('/');
}

export function toRowRef(outputPrefix: string, row: ManifestRow): RowRef {
  return {
    key: row.key, line: row.line, id: row.id, kind: row.kind, prompt: row.prompt, images: row.images, mode: row.mode, actions: row.actions,
    plan: row.plan, prefix: rowPrefix(outputPrefix, row), taskId: row.taskId, imageUrl: row.imageUrl, extra: row.extra,
  };
}

export function createManifestActivities({ s3 }: { s3: S3Client }) {
  // Parsed manifests by hash: a batch reads its manifest page by page, and re-parsing per page would be wasted.
  const cache = new Map<string, ValidatedManifest>();
  return {
    async readManifestPage(input: ManifestPageInput): Promise<ManifestPage> {
      let manifest = cache.get(input.sha256);
      if (!manifest) {
        const { bytes, sha256 } = await readManifestBytes(input.ref, s3);
        if (sha256 !== input.sha256) {
          throw ApplicationFailure.nonRetryable(`${input.ref} changed since the batch started (sha256 ${sha256.slice(0, 12)}, expected ${input.sha256.slice(0, 12)})`, 'Manifest.changed');
        }
        manifest = validateManifestBytes(input.ref, bytes, sha256);
        if (manifest.issues.length > 0) throw ApplicationFailure.nonRetryable(`${input.ref} has ${manifest.issues.length} invalid row(s); run mj-batch validate`, 'Manifest.invalid');
        cache.clear();
        cache.set(input.sha256, manifest);
      }
      const wanted = input.onlyKeys ? new Set(input.onlyKeys) : undefined;
      const rows = wanted ? manifest.rows.filter((r) => wanted.has(r.key)) : manifest.rows;
      const page = rows.slice(input.offset, input.offset + input.limit).map((r) => toRowRef(input.outputPrefix, r));
      const next = input.offset + input.limit;
      return { rows: page, total: rows.length, nextOffset: next < rows.length ? next : null };
    },
  };
}
