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

/**
 * The row keys a redrive takes (see `RowKeysRef`), written once by the client before the batch starts. Outside
 * `_batches/`, so no batch id (say `<id>.keys`) can name a record that collides with it, and outside the output prefix,
 * which holds only rows, their bookkeeping and the report. Named by the content's sha256 too: planning the same batch id
 * again never rewrites the object a running batch reads.
 */
export const redriveKeysKey = (batchId: string, sha256: string) => `_redrives/${batchId}/${sha256.slice(0, 16)}.keys.json`;

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

/**
 * Where an object of an earlier version of a row is kept once a later version replaces it:
 * `<row folder>/_versions/<version>/<its name under the row folder>` (e.g. `_versions/3f9c.../thumbs/grid-512.webp`).
 * A key outside the row folder keeps only its last segment.
 */
export function supersededKey(rowPrefix: string, version: string, key: string): string {
  const folder = normalisePrefix(rowPrefix);
  const rest = folder && key.startsWith(`${folder}/`) ? key.slice(folder.length + 1) : key.slice(key.lastIndexOf('/') + 1);
  return under(folder, `_versions/${version}/${rest}`);
}

/** The report files, for the whole manifest. */
export const reportKeys = (outputPrefix: string) => ({
  csv: under(outputPrefix, 'results.csv'),
  jsonl: under(outputPrefix, 'results.jsonl'),
  html: under(outputPrefix, 'index.html'),
});
export const REPORT_FILE_NAMES = { csv: 'results.csv', jsonl: 'results.jsonl', html: 'index.html' } as const;

/**
 * A batch's report shards (the result lines of a range of manifest rows, merged into the report at the batch's end):
 * `<outputPrefix>/_report/<batchId>/shard-000012.jsonl`. Bookkeeping, per batch id: a redrive into the same prefix
 * never reads another batch's shards.
 */
export const reportShardsFolder = (outputPrefix: string, batchId: string) => under(outputPrefix, `_report/${batchId}/`);
export const reportShardKey = (outputPrefix: string, batchId: string, index: number) =>
  `${reportShardsFolder(outputPrefix, batchId)}shard-${String(index).padStart(6, '0')}.jsonl`;

/**
 * The contact sheet's pages, beside `index.html` (so the sheet's relative links resolve the same from every page):
 * `sheet-0001.html`, `sheet-0002.html`, ... (numbered from 1, at least four digits). A report with more rows than a
 * page holds has them, and index.html is their index; a smaller report has none (index.html shows its rows).
 */
export const sheetPageFileName = (page: number) => `sheet-${String(page).padStart(4, '0')}.html`;
export const sheetPageKey = (outputPrefix: string, page: number) => under(outputPrefix, sheetPageFileName(page));
/** What every page key starts with, to list them. */
export const sheetPagesListPrefix = (outputPrefix: string) => under(outputPrefix, 'sheet-');

/** The page number of a contact sheet page's key (exactly as `sheetPageKey` spells it), or undefined. */
export function sheetPageNumber(outputPrefix: string, key: string): number | undefined {
  const start = sheetPagesListPrefix(outputPrefix);
  if (!key.startsWith(start)) return undefined;
  const m = /^([0-9]{4,})\.html$/.exec(key.slice(start.length));
  const page = m ? Number(m[1]) : 0;
  return page >= 1 && sheetPageKey(outputPrefix, page) === key ? page : undefined;
}

/** Bookkeeping that is not a row's image: results, journals, report shards and the report (with the contact sheet's pages). */
export function isBookkeepingKey(outputPrefix: string, key: string): boolean {
  const p = normalisePrefix(outputPrefix);
  const report = Object.values(reportKeys(p));
  return (
    key.startsWith(under(p, '_rows/')) ||
    key.startsWith(under(p, '_jobs/')) ||
    key.startsWith(under(p, '_report/')) ||
    report.includes(key) ||
    sheetPageNumber(p, key) !== undefined
  );
}
