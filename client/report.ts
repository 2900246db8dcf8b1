// A batch's report where it is stored, and a copy of it on disk.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { normalisePrefix, REPORT_FILE_NAMES, reportKeys, sheetPageKey } from '../contracts/bucket-layout';
import { contactSheetPageCount } from '../report/contact-sheet';
import { mapLimit } from '../report/map-limit';
import type { ResultLine } from '../report/results';
import { getObjectOrNull } from '../storage/objects';

/** The report files' S3 URIs (the keys `run --wait --json` and `report --json` print). */
export function reportUris(bucket: string, outputPrefix: string) {
  const keys = reportKeys(outputPrefix);
  return {
    resultsCsv: `s3://${bucket}/${keys.csv}`,
    resultsJsonl: `s3://${bucket}/${keys.jsonl}`,
    contactSheet: `s3://${bucket}/${keys.html}`,
  };
}

/**
 * Copies the contact sheet (index.html and every page), the results and every thumbnail (and the originals if asked)
 * into `dir`, keeping the layout under the output prefix, so the sheet's relative links work from disk.
 */
export async function downloadReport(
  s3: S3Client,
  bucket: string,
  outputPrefix: string,
  dir: string,
  originals: boolean,
): Promise<{ files: number; contactSheetFile: string }> {
  const prefix = normalisePrefix(outputPrefix);
  const report = reportKeys(prefix);
  const jsonl = await getObjectOrNull(s3, bucket, report.jsonl);
  if (!jsonl) throw new Error(`no report in s3://${bucket}/${prefix}/ yet (a batch writes it when it ends)`);
  const lines = jsonl
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ResultLine);
  const keys = new Set(Object.values(report));
  for (const l of lines)
    for (const img of l.images) {
      for (const t of img.thumbnails) keys.add(t);
      if (originals || img.thumbnails.length === 0) keys.add(img.key);
    }
  let files = 0;
  const save = (key: string, body: Buffer | null) => {
    if (!body || !key.startsWith(`${prefix}/`)) return false;
    const file = path.join(dir, key.slice(prefix.length + 1));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, body);
    files++;
    return true;
  };
  // The sheet's pages run from sheet-0001.html without a gap (writeReport removes those past the last one), so they
  // are found without listing the bucket (no ListBucket permission needed): as many as the rows make, and one more
  // (none there), read on one by one only if the sheet was written with fewer rows a page.
  const pageKey = (n: number) => sheetPageKey(prefix, n);
  const expected = contactSheetPageCount(lines.length) + 1;
  const pages = await mapLimit(
    Array.from({ length: expected }, (_, i) => i + 1),
    8,
    async (n) => save(pageKey(n), await getObjectOrNull(s3, bucket, pageKey(n))),
  );
  let more = pages[expected - 1] ?? false;
  for (let n = expected + 1; more; n++) more = save(pageKey(n), await getObjectOrNull(s3, bucket, pageKey(n)));
  await mapLimit([...keys], 8, async (key) => {
    save(key, await getObjectOrNull(s3, bucket, key));
  });
  return { files, contactSheetFile: path.resolve(dir, REPORT_FILE_NAMES.html) };
}
