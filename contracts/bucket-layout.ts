// Every key mj-batch writes in the bucket, in one place. An output prefix is normalised here (no leading or
// trailing slash), so callers pass it as the user typed it.

/** The bucket when S3_BUCKET is not set (the local stack makes it). */
export const DEFAULT_BUCKET = 'mj-batch';

/** `out/cat/` → `out/cat`. */
export const normalisePrefix = (prefix: string) => prefix.replace(/^\/+|\/+$/g, '');

const under = (prefix: string, rest: string) => [normalisePrefix(prefix), rest].filter(Boolean).join('/');

export const BATCH_RECORDS_FOLDER = '_batches/';

/** What `run` records per batch, so `redrive` and `report` know the manifest and the options. */
export const batchRecordKey = (batchId: string) => `${BATCH_RECORDS_FOLDER}${batchId}.json`;

/** A local manifest's copy, so a worker elsewhere can read it (pinned by its sha256). */
export const manifestCopyKey = (sha256: string, fileName: string) => `_manifests/${sha256.slice(0, 16)}/${fileName}`;

/** A row's folder: `<outputPrefix>/<folder>`. */
export const rowFolderKey = (outputPrefix: string, folder: string) => under(outputPrefix, normalisePrefix(folder));

/** Where per-row results live: `<outputPrefix>/_rows/<rowKey>.json`. */
export const rowResultKey = (outputPrefix: string, rowKey: string) => under(outputPrefix, `_rows/${rowKey}.json`);

/** The job journal of a row: one record per paid submit (`first`, or a hash of the parent and button). */
export const rowJobsFolder = (outputPrefix: string, rowKey: string) => under(outputPrefix, `_jobs/${rowKey}/`);
export const rowJobKey = (outputPrefix: string, rowKey: string, name: string) => `${rowJobsFolder(outputPrefix, rowKey)}${name}.json`;

/** An image's original (`<base>.<ext>`), its sidecar (`<base>.json`) and its thumbnails, under the row's folder. */
export const imageBaseKey = (rowPrefix: string, fileName: string) => under(rowPrefix, fileName);
export const thumbnailKey = (rowPrefix: string, fileName: string, size: number, format: string) =>
  under(rowPrefix, `thumbs/${fileName}-${size}.${format}`);

/** The report files, for the whole manifest. */
export const reportKeys = (outputPrefix: string) => ({
  csv: under(outputPrefix, 'results.csv'),
  jsonl: under(outputPrefix, 'results.jsonl'),
  html: under(outputPrefix, 'index.html'),
});
export const REPORT_FILE_NAMES = { csv: 'results.csv', jsonl: 'results.jsonl', html: 'index.html' } as const;

/** Bookkeeping that is not a row's image: results, journals and the report. */
export function isBookkeepingKey(outputPrefix: string, key: string): boolean {
  const p = normalisePrefix(outputPrefix);
  const report = Object.values(reportKeys(p));
  return key.startsWith(under(p, '_rows/')) || key.startsWith(under(p, '_jobs/')) || report.includes(key);
}
