import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { reportKeys, sheetPageKey, sheetPageNumber, sheetPagesListPrefix } from '../contracts/bucket-layout';
import { listKeys } from '../storage/objects';
import type { ContactSheet } from './contact-sheet';
import { mapLimit } from './map-limit';

const HTML = 'text/html; charset=utf-8';

/**
 * Stores a contact sheet: its pages, then index.html (so the index never links to a page not yet stored), then
 * removes the pages an earlier, longer report left under the same prefix (so the sheet's files are exactly
 * sheet-0001.html up to its last page, which is what `mj-batch report --download` copies).
 */
export async function writeContactSheet(s3: S3Client, bucket: string, outputPrefix: string, sheet: ContactSheet): Promise<void> {
  const put = (key: string, body: string) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(body), ContentType: HTML }));
  const pages = Array.from({ length: sheet.pageCount }, (_, i) => i + 1);
  await mapLimit(pages, 8, (n) => put(sheetPageKey(outputPrefix, n), sheet.page(n)));
  await put(reportKeys(outputPrefix).html, sheet.index());
  const stale = (await listKeys(s3, bucket, sheetPagesListPrefix(outputPrefix))).filter(
    (key) => (sheetPageNumber(outputPrefix, key) ?? 0) > sheet.pageCount,
  );
  await mapLimit(stale, 8, (key) => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
}
