/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { createReportActivities } from '../../activities/report';
import { toRowRef } from '../../activities/manifest';
import { downloadReport } from '../../client/report';
import { sheetPageKey, sheetPageNumber, sheetPagesListPrefix } from '../../contracts/bucket-layout';
import type { ReportResult } from '../../contracts/batch';
import type { StoredImage } from '../../contracts/media';
import type { FailureClass, ItemResult, ItemStatus } from '../../contracts/rows';
import { readManifestBytes } from '../../manifest/source';
import { validateManifestBytes } from '../../manifest/validate';
import { mapLimit } from '../../report/map-limit';
import { saveRowRecord } from '../../report/row-results';
import { listKeys } from '../../storage/objects';
import { createS3Client } from '../../storage/s3-client';
import { chromiumPath } from '../../scripts/chromium-path';
import { REPO_ROOT } from './cli';
import { stackConfig, unique } from './helpers';

// A report of 1,100 rows written by the writeReport activity from row results stored in the real S3 server (no
// jobs run), downloaded with downloadReport, then read from disk in headless Chromium: the index, its links to the
// pages, the pages' rows, the filter and previous/next.

const config = stackConfig();
const s3 = createS3Client(config.s3);
const bucket = config.s3.bucket;
const prefix = unique('sheet-pages');
const ROWS = 1100;
const EVIL = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">';

const id = (i: number) => `r${String(i + 1).padStart(4, '0')}`;
/** Rows (from 0) with a thumbnail, and one showing its original (no thumbnail). */
const WITH_THUMB = new Set([0, 1, 2, 510, 1090]);
const WITH_ORIGINAL = 511;
/** Failed as `generation` on pages 1 and 3 only, so a filter on it has a page with no match in between. */
const GENERATION = new Set([20, 40, 1010, 1050]);

/** How row i ended; undefined: no result stored (MISSING). */
function outcome(i: number): { status: ItemStatus; failureClass?: FailureClass; reason?: string } | undefined {
  if (i === 1077) return undefined;
  if (GENERATION.has(i)) return { status: 'FAILED', failureClass: 'generation', reason: 'the job failed' };
  if (i % 10 === 3) return { status: 'FAILED', failureClass: 'banned', reason: 'banned prompt' };
  if (i === 600) return { status: 'CANCELLED', failureClass: 'cancelled', reason: 'the batch was cancelled' };
  return { status: 'SUCCESS' };
}
const expectedStatus = (i: number) => outcome(i)?.status ?? 'MISSING';
const keysWhere = (from: number, to: number, ok: (i: number) => boolean) =>
  Array.from({ length: to - from }, (_, k) => from + k)
    .filter(ok)
    .map(id);

let browser: Browser;
let dir: string;
let manifestFile: string;
let result: ReportResult;
let downloaded: { files: number; contactSheetFile: string };

async function put(key: string, body: Buffer, type: string) {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: type }));
}

function writeManifest(rows: number): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sheet-manifest-')), 'manifest.csv');
  const lines = Array.from(
    { length: rows },
    (_, i) => `${id(i)},${i === 512 ? `"${EVIL.replace(/"/g, '""')}"` : `prompt number ${i + 1}`}`,
  );
  fs.writeFileSync(file, `id,prompt\n${lines.join('\n')}\n`);
  return file;
}

async function writeReport(file: string) {
  const { sha256 } = await readManifestBytes(file);
  return createReportActivities({ s3, bucket }).writeReport({
    batchId: `${prefix}-batch`,
    manifestRef: file,
    sha256,
    outputPrefix: prefix,
  });
}

beforeAll(async () => {
  manifestFile = writeManifest(ROWS);
  const { bytes, sha256 } = await readManifestBytes(manifestFile);
  const manifest = validateManifestBytes(manifestFile, bytes, sha256);
  expect(manifest.rows).toHaveLength(ROWS);
  const png = await sharp({ create: { width: 96, height: 96, channels: 3, background: { r: 200, g: 120, b: 40 } } })
    .png()
    .toBuffer();
  const webp = await sharp(png).resize(64).webp().toBuffer();
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  await mapLimit(manifest.rows, 16, async (r) => {
    const i = r.line - 2;
    const how = outcome(i);
    if (!how) return;
    const row = toRowRef(prefix, r);
    const images: StoredImage[] = [];
    if (WITH_THUMB.has(i) || i === WITH_ORIGINAL) {
      const key = `${row.prefix}/grid.png`;
      await put(key, png, 'image/png');
      const thumbnails = [];
      if (i !== WITH_ORIGINAL) {
        const thumb = `${row.prefix}/thumbs/grid-64.webp`;
        await put(thumb, webp, 'image/webp');
        thumbnails.push({ key: thumb, sha256: sha(webp), width: 64, height: 64, format: 'webp' });
      }
      images.push({
        role: 'grid',
        taskId: `t-${i}`,
        key,
        sha256: sha(png),
        bytes: png.length,
        width: 96,
        height: 96,
        format: 'png',
        thumbnails,
        sidecarKey: `${row.prefix}/grid.json`,
        skipped: false,
      });
    }
    const res: ItemResult = { rowKey: row.key, line: row.line, taskIds: [], images, ...how };
    await saveRowRecord(s3, bucket, prefix, { batchId: `${prefix}-batch`, row, result: res, finishedAt: new Date().toISOString() });
  });
  result = await writeReport(manifestFile);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sheet-download-'));
  downloaded = await downloadReport(s3, bucket, prefix, dir, false);
  browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  s3.destroy();
});

/** The rows the page shows (not hidden by the filter). */
const visible = (page: Page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('article.row')]
      .filter((a) => getComputedStyle(a).display !== 'none')
      .map((a) => ({ key: a.getAttribute('data-key'), status: a.getAttribute('data-status'), cls: a.getAttribute('data-class') })),
  );
const fileName = (page: Page) => path.basename(new URL(page.url()).pathname);
const hash = (page: Page) => new URL(page.url()).hash;

async function follow(page: Page, selector: string) {
  const link = page.locator(selector).first();
  const href = await link.getAttribute('href');
  await Promise.all([page.waitForURL((u) => u.href.endsWith(href!)), link.click()]);
  await page.waitForLoadState('load');
}

test('writeReport stores index.html and three pages; downloadReport copies them all', async () => {
  expect(result).toMatchObject({ rows: ROWS, reportRows: ROWS, contactSheet: `s3://${bucket}/${prefix}/index.html` });
  const pages = (await listKeys(s3, bucket, sheetPagesListPrefix(prefix))).filter((k) => sheetPageNumber(prefix, k) !== undefined);
  expect(pages.sort()).toEqual([1, 2, 3].map((n) => sheetPageKey(prefix, n)));
  expect(downloaded.contactSheetFile).toBe(path.join(dir, 'index.html'));
  expect(
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.html'))
      .sort(),
  ).toEqual(['index.html', 'sheet-0001.html', 'sheet-0002.html', 'sheet-0003.html']);
  // The sheet files, the results, the thumbnails and the original without one.
  expect(downloaded.files).toBe(4 + 2 + WITH_THUMB.size + 1);
});

test('from disk: the index links to each page, a page shows its rows, the filter shows only matching rows, previous/next keep it', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

  // The index: counts by status and failure class, one link per page, no rows.
  await page.goto(pathToFileURL(downloaded.contactSheetFile).href);
  const index = await page.evaluate(() => ({
    summary: document.querySelector('.summary')?.textContent ?? '',
    counts: Object.fromEntries(
      [...document.querySelectorAll('.summary [data-count]')].map((s) => [s.getAttribute('data-count'), s.textContent]),
    ),
    classes: Object.fromEntries(
      [...document.querySelectorAll('.classes [data-class-count]')].map((s) => [s.getAttribute('data-class-count'), s.textContent]),
    ),
    links: [...document.querySelectorAll('tr[data-page] a')].map((a) => [a.textContent, a.getAttribute('href')]),
    rows: document.querySelectorAll('article.row').length,
  }));
  const all = Array.from({ length: ROWS }, (_, i) => i);
  const count = (ok: (i: number) => boolean) => all.filter(ok).length;
  expect(index.summary).toMatch(/^1100 rows: /);
  expect(index.counts).toEqual({
    SUCCESS: `${count((i) => expectedStatus(i) === 'SUCCESS')} SUCCESS`,
    FAILED: `${count((i) => expectedStatus(i) === 'FAILED')} FAILED`,
    CANCELLED: '1 CANCELLED',
    MISSING: '1 MISSING',
  });
  expect(index.classes).toEqual({
    banned: `${count((i) => outcome(i)?.failureClass === 'banned')} banned`,
    generation: '4 generation',
    cancelled: '1 cancelled',
  });
  expect(index.links).toEqual([
    ['page 1', 'sheet-0001.html'],
    ['page 2', 'sheet-0002.html'],
    ['page 3', 'sheet-0003.html'],
  ]);
  expect(index.rows).toBe(0);
  fs.mkdirSync(path.join(REPO_ROOT, 'test-artifacts'), { recursive: true });
  await page.screenshot({ path: path.join(REPO_ROOT, 'test-artifacts', 'contact-sheet-index.png'), fullPage: true });

  // Page 2: rows 501 to 1000, every image loads, the prompt with markup is text and runs nothing.
  await follow(page, 'tr[data-page="2"] a');
  expect(fileName(page)).toBe('sheet-0002.html');
  expect((await visible(page)).map((r) => r.key)).toEqual(keysWhere(500, 1000, () => true));
  await page.evaluate(async () => {
    for (let y = 0; y < document.body.scrollHeight; y += 600) {
      window.scrollTo(0, y);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  await page.waitForFunction(() => [...document.images].every((img) => img.complete), undefined, { timeout: 30_000 });
  const shown = await page.evaluate(() => ({
    images: [...document.images].map((img) => [img.getAttribute('src'), img.naturalWidth]),
    evil: [...document.querySelectorAll('article.row')].find((a) => a.getAttribute('data-key') === 'r0513')?.querySelector('.prompt')
      ?.textContent,
    pwned: (window as unknown as { pwned?: number }).pwned,
    summary: document.querySelector('.summary')?.textContent ?? '',
  }));
  expect(shown.images).toEqual([
    ['r0511/thumbs/grid-64.webp', 64],
    ['r0512/grid.png', 96],
  ]);
  expect(shown.evil).toBe(EVIL);
  expect(shown.pwned).toBeUndefined();
  expect(shown.summary).toMatch(/^500 rows \(501–1000 of 1100\)/);

  // The filter, status FAILED: only this page's failed rows are shown.
  await page.selectOption('#f-status', 'FAILED');
  expect(hash(page)).toBe('#status=FAILED');
  const failed = (from: number, to: number) => keysWhere(from, to, (i) => expectedStatus(i) === 'FAILED');
  const onPage2 = await visible(page);
  expect(onPage2.map((r) => r.key)).toEqual(failed(500, 1000));
  expect(onPage2.every((r) => r.status === 'FAILED')).toBe(true);
  expect(await page.textContent('#f-shown')).toBe(`${failed(500, 1000).length} of 500 rows here match`);

  // Next and previous keep the filter.
  await follow(page, 'a[data-nav="next"]');
  expect([fileName(page), hash(page)]).toEqual(['sheet-0003.html', '#status=FAILED']);
  expect((await visible(page)).map((r) => r.key)).toEqual(failed(1000, 1100));
  expect(await page.locator('a[data-nav="next"]').count()).toBe(0);
  await follow(page, 'a[data-nav="prev"]');
  expect([fileName(page), hash(page)]).toEqual(['sheet-0002.html', '#status=FAILED']);
  expect((await visible(page)).map((r) => r.key)).toEqual(failed(500, 1000));

  // Narrowed to the class on pages 1 and 3 only: none here, and the index lists only those two pages.
  await page.selectOption('#f-class', 'generation');
  expect(hash(page)).toBe('#status=FAILED&class=generation');
  expect(await visible(page)).toEqual([]);
  await follow(page, 'a[data-index]');
  expect([fileName(page), hash(page)]).toEqual(['index.html', '#status=FAILED&class=generation']);
  const listed = await page.evaluate(() =>
    [...document.querySelectorAll('tr[data-page]')]
      .filter((tr) => getComputedStyle(tr).display !== 'none')
      .map((tr) => [tr.querySelector('a')!.getAttribute('href'), tr.querySelector('.hits')!.textContent]),
  );
  expect(listed).toEqual([
    ['sheet-0001.html#status=FAILED&class=generation', '2'],
    ['sheet-0003.html#status=FAILED&class=generation', '2'],
  ]);
  expect(await page.textContent('#f-shown')).toBe('4 rows match, on 2 of 3 pages');

  // From page 1, next skips page 2 (no match) to page 3, and previous comes back.
  await follow(page, 'tr[data-page="1"] a');
  expect((await visible(page)).map((r) => r.key)).toEqual(['r0021', 'r0041']);
  expect(await page.locator('a[data-nav="prev"]').count()).toBe(0);
  await follow(page, 'a[data-nav="next"]');
  expect([fileName(page), hash(page)]).toEqual(['sheet-0003.html', '#status=FAILED&class=generation']);
  expect((await visible(page)).map((r) => r.key)).toEqual(['r1011', 'r1051']);
  await follow(page, 'a[data-nav="prev"]');
  expect(fileName(page)).toBe('sheet-0001.html');

  // Clearing the filter shows the whole page again, and plain previous/next.
  await page.selectOption('#f-status', '');
  await page.selectOption('#f-class', '');
  expect((await visible(page)).map((r) => r.key)).toEqual(keysWhere(0, 500, () => true));
  expect(await page.locator('a[data-nav="next"]').first().getAttribute('href')).toBe('sheet-0002.html');
  await page.screenshot({ path: path.join(REPO_ROOT, 'test-artifacts', 'contact-sheet-page.png') });
  expect(errors).toEqual([]);
  await page.close();
}, 120_000);

test('a shorter report into the same prefix removes the pages it no longer has', async () => {
  await writeReport(writeManifest(520));
  const pages = (await listKeys(s3, bucket, sheetPagesListPrefix(prefix))).filter((k) => sheetPageNumber(prefix, k) !== undefined);
  expect(pages.sort()).toEqual([1, 2].map((n) => sheetPageKey(prefix, n)));
  await writeReport(writeManifest(30));
  expect((await listKeys(s3, bucket, sheetPagesListPrefix(prefix))).filter((k) => sheetPageNumber(prefix, k) !== undefined)).toEqual([]);
  const again = fs.mkdtempSync(path.join(os.tmpdir(), 'sheet-download-'));
  await downloadReport(s3, bucket, prefix, again, false);
  expect(fs.readdirSync(again).filter((f) => f.endsWith('.html'))).toEqual(['index.html']);
  const html = fs.readFileSync(path.join(again, 'index.html'), 'utf8');
  expect(html.match(/<article /g)).toHaveLength(30);
});
