import { rowFolderKey } from '../contracts/bucket-layout';
import type { ManifestRow } from './row';

/** S3 keys are at most 1024 bytes; the folder leaves room for the output prefix and file names. */
export const MAX_FOLDER_BYTES = 512;

/** The row's folder under the output prefix: its `output` template filled in, or its key. */
export function rowFolder(row: ManifestRow): string {
  if (!row.output) return row.key;
  // Every column validate accepts in a template has a value here; a value is one safe path segment, never "." or "..".
  const values: Record<string, string> = {
    ...row.extra,
    key: row.key,
    id: row.id ?? row.key,
    kind: row.kind,
    mode: row.mode ?? '',
    prompt: row.prompt,
    images: row.images.join('|'),
    actions: row.actions,
    taskId: row.taskId ?? '',
    imageUrl: row.imageUrl ?? '',
  };
  const filled = row.output.replace(/\{([^}]*)\}/g, (_, name: string) =>
    (values[name] ?? '').replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.{1,2}$/, (d) => '_'.repeat(d.length)),
  );
  return filled.replace(/^\/+|\/+$/g, '');
}

/** `<outputPrefix>/<row folder>`. */
export function rowPrefix(outputPrefix: string, row: ManifestRow): string {
  return rowFolderKey(outputPrefix, rowFolder(row));
}
