/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_ROOT, runCli } from './cli';
import { stackConfig } from './helpers';
import { chromiumPath } from '../../scripts/chromium-path';

const CHROMIUM = chromiumPath();
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');

test('`mj-batch demo --json` runs the example catalog end to end, and its contact sheet shows every image in a real browser', async () => {
  const run = await runCli(['demo', '--json'], { env: { MJ_BATCH_TASK_QUEUE: `demo-test-${process.pid}` } });
  expect(run.code).toBe(0);
  const out = JSON.parse(run.stdout);
  const config = stackConfig();
  expect(out).toMatchObject({ rows: 24, succeeded: 24, failed: 0, unknownSubmit: 0 });
  for (const key of ['resultsCsv', 'resultsJsonl', 'contactSheet']) expect(out[key]).toMatch(new RegExp(`^s3://${config.s3.bucket}/demo/`));
  expect(out.temporalUiUrl).toContain(`/namespaces/default/workflows/${out.batchId}`);
  // Progress went to stderr as plain lines, so stdout stayed one JSON object.
  expect(run.stderr).toMatch(/\/24 finished: queued \d+/);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`file://${out.contactSheetFile}`);
    await page.waitForLoadState('load');
    // Lazy images load as they scroll into view: scroll through the page, then wait for every one.
    await page.evaluate(async () => {
      for (let y = 0; y < document.body.scrollHeight; y += 600) {
        window.scrollTo(0, y);
        await new Promise((r) => setTimeout(r, 50));
      }
    });
    await page.waitForFunction(() => [...document.images].every((img) => img.complete), undefined, { timeout: 30_000 });
    const seen = await page.evaluate(() => ({
      rows: document.querySelectorAll('article.row').length,
      ok: document.querySelectorAll('article.row[data-status="SUCCESS"]').length,
      images: document.images.length,
      broken: [...document.images].filter((img) => img.naturalWidth === 0).map((img) => img.getAttribute('src')),
      summary: document.querySelector('.summary')?.textContent ?? '',
      prompts: [...document.querySelectorAll('.prompt')].map((p) => p.textContent ?? ''),
      pager: document.querySelectorAll('a[data-nav], tr[data-page]').length,
    }));
    expect(seen.rows).toBe(24);
    // 24 rows fit on one page: index.html shows them all, with no page files and no previous/next.
    expect(seen.pager).toBe(0);
    expect(fs.readdirSync(path.dirname(out.contactSheetFile)).filter((f) => /^sheet-\d+\.html$/.test(f))).toEqual([]);
    expect(seen.ok).toBe(24);
    expect(seen.broken).toEqual([]);
    // A grid per row (the describe row has none) plus every picked upscale.
    const jsonl = fs
      .readFileSync(path.join(path.dirname(out.contactSheetFile), 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(seen.images).toBe(jsonl.reduce((n: number, l: { images: unknown[] }) => n + l.images.length, 0));
    expect(seen.images).toBeGreaterThan(24);
    expect(seen.summary).toContain('24 rows');
    expect(seen.prompts.some((p) => p.includes('oak dining chair'))).toBe(true);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'contact-sheet.png'), fullPage: true });
    expect(fs.statSync(path.join(ARTIFACTS, 'contact-sheet.png')).size).toBeGreaterThan(10_000);
  } finally {
    await browser.close();
  }
}, 300_000);
