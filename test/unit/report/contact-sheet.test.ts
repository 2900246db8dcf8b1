import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { downloadReport } from '../../../client/report';
import { isBookkeepingKey, reportKeys, sheetPageFileName, sheetPageKey, sheetPageNumber } from '../../../contracts/bucket-layout';
import { CONTACT_SHEET_PAGE_ROWS, contactSheet, contactSheetPageCount } from '../../../report/contact-sheet';
import { writeContactSheet } from '../../../report/contact-sheet-store';
import { FILTER_SCRIPT } from '../../../report/contact-sheet-html';
import { toJsonl } from '../../../report/results';
import type { ResultLine } from '../../../report/results';

function line(over: Partial<ResultLine> & { key: string }): ResultLine {
  return {
    line: 2,
    input: { id: '', kind: 'imagine', prompt: 'a vase' },
    status: 'SUCCESS',
    failureClass: '',
    reason: '',
    taskIds: [],
    images: [],
    text: '',
    modeRequested: '',
    modeRan: '',
    ...over,
  };
}

/** Decodes the five entities the sheet writes, to compare shown text with the input. */
const unescape = (s: string) =>
  s.replace(/&(lt|gt|quot|#39|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[e]!);

/** The <article> of one row, by its data-key. */
function card(html: string, key: string): string {
  const articles = html.match(/<article\b[\s\S]*?<\/article>/g) ?? [];
  const found = articles.filter((a) => a.includes(`data-key="${key}"`));
  expect(found).toHaveLength(1);
  return found[0]!;
}

/** index.html of a sheet that fits in one file (what every report of at most a page of rows is). */
function oneFile(title: string, prefix: string, lines: ResultLine[]): string {
  const sheet = contactSheet(title, prefix, lines);
  expect(sheet.pageCount).toBe(0);
  return sheet.index();
}

/** The file's script elements are the sheet's filter data (JSON, with no `<` to end it) and its filter, nothing else. */
function expectOnlyOwnScripts(html: string): void {
  const scripts = html.match(/<script\b[\s\S]*?<\/script>/gi) ?? [];
  expect(scripts).toHaveLength(2);
  expect((html.match(/<script\b/gi) ?? []).length).toBe(2);
  const data = /^<script type="application\/json" id="sheet-data">([\s\S]*)<\/script>$/.exec(scripts[0]!);
  expect(data).not.toBeNull();
  expect(data![1]).not.toContain('<');
  expect(() => JSON.parse(data![1]!)).not.toThrow();
  expect(scripts[1]).toBe(FILTER_SCRIPT);
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const attrs = (html: string, tag: string, attr: string) =>
  [...html.matchAll(new RegExp(`<${tag}\\b[^>]*\\b${attr}="([^"]*)"`, 'g'))].map((m) => m[1]!);

describe('contactSheet: one file', () => {
  test('a prompt with <script> and quotes is shown as text, not markup', () => {
    const prompt = `<script>alert("x")</script> it's a "vase" & <b>bold</b>`;
    const html = oneFile('Batch <b>1</b>', 'out', [line({ key: 'k1', input: { id: 'k1', kind: 'imagine', prompt } })]);
    // The only scripts are the sheet's own two (its filter data and the filter); the prompt's is text.
    expectOnlyOwnScripts(html);
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<b>');
    const shown = /<p class="prompt">([^<]*)<\/p>/.exec(html);
    expect(shown).not.toBeNull();
    expect(shown![1]).not.toMatch(/["']/);
    expect(unescape(shown![1]!)).toBe(prompt);
    expect(unescape(/<title>([^<]*)<\/title>/.exec(html)![1]!)).toBe('Batch <b>1</b>');
  });

  test('a key or role with quotes cannot break out of an attribute', () => {
    const html = oneFile('t', 'out', [
      line({
        key: 'k"><img src=x onerror=alert(1)>',
        images: [{ role: `U1" onmouseover="x`, key: 'out/k/U1.png', sha256: 'a', thumbnails: [] }],
      }),
    ]);
    expect(html).not.toContain('onerror=alert(1)>');
    expect(html).not.toMatch(/ onmouseover="/);
    expect(attrs(html, 'article', 'data-key').map(unescape)).toEqual(['k"><img src=x onerror=alert(1)>']);
    expect(attrs(html, 'a', 'title').map(unescape)).toEqual([`U1" onmouseover="x`]);
  });

  test('links are relative to the output prefix, use the first thumbnail, and are URL-encoded per path segment', () => {
    const prefix = 'runs/2026 spring/';
    const html = oneFile('t', prefix, [
      line({
        key: 'r1',
        images: [
          {
            role: 'grid',
            key: 'runs/2026 spring/cat#1/grid.png',
            sha256: 'a',
            thumbnails: ['runs/2026 spring/cat#1/thumbs/grid-512.webp', 'runs/2026 spring/cat#1/thumbs/grid-256.webp'],
          },
          { role: 'U2', key: 'runs/2026 spring/cat#1/U2?.png', sha256: 'b', thumbnails: [] },
          { role: 'U3', key: 'runs/2026 spring/東京/U3.png', sha256: 'c', thumbnails: [] },
        ],
      }),
    ]);
    const hrefs = attrs(html, 'a', 'href').map(unescape);
    const srcs = attrs(html, 'img', 'src').map(unescape);
    expect(hrefs).toEqual(['cat%231/grid.png', 'cat%231/U2%3F.png', `${encodeURIComponent('東京')}/U3.png`]);
    // An image without thumbnails shows the image itself.
    expect(srcs).toEqual(['cat%231/thumbs/grid-512.webp', 'cat%231/U2%3F.png', `${encodeURIComponent('東京')}/U3.png`]);
    // Resolved against the sheet's own location, each link lands on the stored key.
    const sheet = new URL(`https://bucket.example/${prefix.split('/').filter(Boolean).map(encodeURIComponent).join('/')}/index.html`);
    expect(hrefs.map((h) => decodeURIComponent(new URL(h, sheet).pathname.slice(1)))).toEqual([
      'runs/2026 spring/cat#1/grid.png',
      'runs/2026 spring/cat#1/U2?.png',
      'runs/2026 spring/東京/U3.png',
    ]);
    for (const link of [...hrefs, ...srcs]) {
      expect(link).not.toMatch(/^(\/|https?:|runs\/)/);
      expect(link).not.toMatch(/[ #?]/);
    }
  });

  test('a prefix without a trailing slash gives the same links', () => {
    const images = [{ role: 'grid', key: 'out/a b/grid.png', sha256: 'a', thumbnails: ['out/a b/thumbs/grid-512.webp'] }];
    const withSlash = oneFile('t', 'out/', [line({ key: 'r', images })]);
    const without = oneFile('t', 'out', [line({ key: 'r', images })]);
    expect(attrs(without, 'a', 'href')).toEqual(['a%20b/grid.png']);
    expect(attrs(without, 'a', 'href')).toEqual(attrs(withSlash, 'a', 'href'));
    expect(attrs(without, 'img', 'src')).toEqual(['a%20b/thumbs/grid-512.webp']);
  });

  test('failed rows are marked failed and show their class and reason; successful ones show none', () => {
    const html = oneFile('t', 'out', [
      line({ key: 'good', status: 'SUCCESS', images: [{ role: 'grid', key: 'out/good/grid.png', sha256: 'a', thumbnails: [] }] }),
      line({ key: 'banned', status: 'FAILED', failureClass: 'banned', reason: 'banned word <nsfw>' }),
      line({ key: 'unknown', status: 'UNKNOWN_SUBMIT', failureClass: 'ambiguous', reason: 'the submit timed out' }),
      line({ key: 'missing', status: 'MISSING', reason: 'no result was recorded for this row' }),
      line({ key: 'skipped', status: 'SKIPPED' }),
    ]);
    const reasonOf = (key: string) => {
      const m = /<p class="reason">([^<]*)<\/p>/.exec(card(html, key));
      return m ? unescape(m[1]!) : undefined;
    };
    expect(card(html, 'good')).toMatch(/class="row ok"/);
    expect(reasonOf('good')).toBeUndefined();
    expect(reasonOf('skipped')).toBeUndefined();
    for (const key of ['banned', 'unknown', 'missing']) expect(card(html, key)).toMatch(/class="row failed"/);
    expect(reasonOf('banned')).toContain('banned');
    expect(reasonOf('banned')).toContain('banned word <nsfw>');
    expect(reasonOf('unknown')).toContain('ambiguous');
    expect(reasonOf('unknown')).toContain('the submit timed out');
    expect(reasonOf('missing')).toContain('no result was recorded for this row');
    expect(card(html, 'banned')).toContain('data-status="FAILED"');
    expect(card(html, 'banned')).toContain('no image');
  });

  test('the summary counts match the rows by status', () => {
    const statuses = ['SUCCESS', 'FAILED', 'SUCCESS', 'MISSING', 'SUCCESS', 'FAILED', 'CANCELLED', 'SKIPPED'];
    const html = oneFile(
      't',
      'out',
      statuses.map((status, i) => line({ key: `r${i}`, status, failureClass: status === 'FAILED' ? 'generation' : '' })),
    );
    const summary = /<p class="summary">([\s\S]*?)<\/p>/.exec(html)![1]!;
    expect(summary).toMatch(new RegExp(`^${statuses.length} rows`));
    const counts = Object.fromEntries(
      [...summary.matchAll(/<span data-count="([^"]+)">(\d+) ([^<]+)<\/span>/g)].map((m) => {
        expect(m[3]).toBe(m[1]);
        return [m[1]!, Number(m[2])];
      }),
    );
    const expected: Record<string, number> = {};
    for (const s of statuses) expected[s] = (expected[s] ?? 0) + 1;
    expect(counts).toEqual(expected);
    expect(attrs(html, 'article', 'data-status')).toEqual(statuses);
  });

  test('a row without a prompt shows its id, then describe text, then its kind', () => {
    const html = oneFile('t', 'out', [
      line({ key: 'r-abc', input: { id: 'sku-9', kind: 'describe', prompt: '' }, text: 'first suggestion\nsecond suggestion' }),
      line({ key: 'r-def', input: { id: '', kind: 'blend', prompt: '' } }),
    ]);
    expect(card(html, 'r-abc')).toContain('<span class="id">sku-9</span>');
    expect(card(html, 'r-abc')).toContain('<p class="prompt">first suggestion</p>');
    expect(card(html, 'r-def')).toContain('<span class="id">r-def</span>');
    expect(card(html, 'r-def')).toContain('<p class="prompt">(blend)</p>');
  });

  test('an empty batch still renders', () => {
    const html = oneFile('empty', 'out', []);
    expect(html).toMatch(/<p class="summary">0 rows/);
    expect(html).not.toContain('<article');
  });
});

/** 1,201 rows: mostly successes, with failures of two classes, a MISSING row and a cancelled one spread over the pages. */
function manyRows(n: number): ResultLine[] {
  return Array.from({ length: n }, (_, i) => {
    const key = `r${String(i + 1).padStart(5, '0')}`;
    const input = { id: `id-${i + 1}`, kind: 'imagine', prompt: `prompt ${i + 1}` };
    if (i % 97 === 5) return line({ key, input, status: 'FAILED', failureClass: 'banned', reason: 'banned word' });
    if (i % 250 === 7) return line({ key, input, status: 'FAILED', failureClass: 'generation', reason: 'job failed' });
    if (i === 1100) return line({ key, input, status: 'MISSING', reason: 'no result was recorded for this row' });
    if (i === 3) return line({ key, input, status: 'CANCELLED', failureClass: 'cancelled', reason: 'the batch was cancelled' });
    return line({
      key,
      input,
      images: [{ role: 'grid', key: `out/${key}/grid.png`, sha256: 'a', thumbnails: [`out/${key}/thumbs/grid-512.webp`] }],
    });
  });
}

const countsOf = (lines: ResultLine[], of: (l: ResultLine) => string) => {
  const c: Record<string, number> = {};
  for (const l of lines) if (of(l)) c[of(l)] = (c[of(l)] ?? 0) + 1;
  return c;
};

/** `<span data-x="NAME">N NAME</span>` spans of a fragment, as {NAME: N}. */
function spans(fragment: string, attr: string): Record<string, number> {
  return Object.fromEntries(
    [...fragment.matchAll(new RegExp(`<span ${attr}="([^"]+)">(\\d+) ([^<]+)</span>`, 'g'))].map((m) => {
      expect(m[3]).toBe(m[1]);
      return [unescape(m[1]!), Number(m[2])];
    }),
  );
}

interface Data {
  pages: { file: string; combos: [string, string, number][] }[];
}
const dataOf = (html: string) =>
  JSON.parse(/<script type="application\/json" id="sheet-data">([\s\S]*?)<\/script>/.exec(html)![1]!) as Data;

/** Every link and image of a file: none absolute, none leaving the prefix, each landing on a stored key or a sheet file. */
function expectRelativeLinks(html: string, file: string, prefix: string, allowed: Set<string>): void {
  const links = [...attrs(html, 'a', 'href'), ...attrs(html, 'img', 'src')].map(unescape);
  const base = new URL(`https://bucket.example/${prefix.split('/').filter(Boolean).map(encodeURIComponent).join('/')}/${file}`);
  for (const link of links) {
    expect(link).not.toMatch(/^([a-z][a-z0-9+.-]*:|\/|\.\.)/i);
    if (link.startsWith('#')) continue;
    const landed = decodeURIComponent(new URL(link, base).pathname.slice(1));
    expect(allowed.has(landed)).toBe(true);
  }
  expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//);
  expect(html).not.toMatch(/<link\b/);
}

describe('contactSheet: pages', () => {
  const lines = manyRows(1201);
  const sheet = contactSheet('mj-batch big <b>', 'out', lines);
  const index = sheet.index();
  const pages = [1, 2, 3].map((n) => sheet.page(n));

  test('1,201 rows make 3 pages of 500, 500 and 201 rows, in manifest order', () => {
    expect(CONTACT_SHEET_PAGE_ROWS).toBe(500);
    expect(sheet.pageCount).toBe(3);
    expect(pages.map((p) => attrs(p, 'article', 'data-key'))).toEqual([
      lines.slice(0, 500).map((l) => l.key),
      lines.slice(500, 1000).map((l) => l.key),
      lines.slice(1000).map((l) => l.key),
    ]);
    expect(() => sheet.page(0)).toThrow(/no page 0/);
    expect(() => sheet.page(4)).toThrow(/no page 4/);
    // Each page counts its own rows.
    pages.forEach((p, i) => {
      const summary = /<p class="summary">([\s\S]*?)<\/p>/.exec(p)![1]!;
      const mine = lines.slice(i * 500, (i + 1) * 500);
      expect(summary).toMatch(new RegExp(`^${mine.length} rows \\(${i * 500 + 1}–${i * 500 + mine.length} of 1201\\)`));
      expect(spans(summary, 'data-count')).toEqual(countsOf(mine, (l) => l.status));
      expect(unescape(/<title>([^<]*)<\/title>/.exec(p)![1]!)).toBe(`mj-batch big <b>, page ${i + 1} of 3`);
    });
  });

  test('index.html shows no rows but the counts by status and failure class and a link to each page', () => {
    expect(index).not.toContain('<article');
    const summary = /<p class="summary">([\s\S]*?)<\/p>/.exec(index)![1]!;
    expect(summary).toMatch(/^1201 rows: /);
    expect(spans(summary, 'data-count')).toEqual(countsOf(lines, (l) => l.status));
    expect(spans(/<p class="classes">([\s\S]*?)<\/p>/.exec(index)![1]!, 'data-class-count')).toEqual(
      countsOf(lines, (l) => l.failureClass),
    );
    expect(countsOf(lines, (l) => l.failureClass)).toEqual({ banned: 13, generation: 5, cancelled: 1 });

    const entries = [...index.matchAll(/<tr data-page="(\d+)">([\s\S]*?)<\/tr>/g)];
    expect(entries.map((m) => Number(m[1]))).toEqual([1, 2, 3]);
    entries.forEach((m, i) => {
      const mine = lines.slice(i * 500, (i + 1) * 500);
      expect(attrs(m[2]!, 'a', 'href')).toEqual([sheetPageFileName(i + 1)]);
      expect(m[2]).toContain(`<td>${i * 500 + 1}–${i * 500 + mine.length}</td>`);
      expect(m[2]).toContain(`${mine[0]!.input.id} … ${mine[mine.length - 1]!.input.id}`);
      expect(spans(m[2]!, 'data-page-count')).toEqual(countsOf(mine, (l) => l.status));
    });
    expect(sheetPageFileName(1)).toBe('sheet-0001.html');
    expect(unescape(/<title>([^<]*)<\/title>/.exec(index)![1]!)).toBe('mj-batch big <b>');
    expect(index).not.toContain('big <b>');
  });

  test('each page links to the previous and next pages and to the index', () => {
    const nav = (html: string, which: string) =>
      [...html.matchAll(new RegExp(`<a data-nav="${which}" rel="${which}" href="([^"]*)"`, 'g'))].map((m) => m[1]);
    expect(nav(pages[0]!, 'prev')).toEqual([]);
    expect(nav(pages[0]!, 'next')).toEqual(['sheet-0002.html', 'sheet-0002.html']);
    expect(nav(pages[1]!, 'prev')).toEqual(['sheet-0001.html', 'sheet-0001.html']);
    expect(nav(pages[1]!, 'next')).toEqual(['sheet-0003.html', 'sheet-0003.html']);
    expect(nav(pages[2]!, 'prev')).toEqual(['sheet-0002.html', 'sheet-0002.html']);
    expect(nav(pages[2]!, 'next')).toEqual([]);
    for (const p of pages) expect([...p.matchAll(/<a data-index href="([^"]*)"/g)].map((m) => m[1])).toEqual(['index.html', 'index.html']);
    pages.forEach((p, i) => expect(p).toContain(`<body data-page="${i + 1}">`));
  });

  test('the filter has every status and failure class, and its data says how many rows of each each page holds', () => {
    for (const html of [index, ...pages]) {
      const statusOptions = [
        .../<select id="f-status"[^>]*>([\s\S]*?)<\/select>/.exec(html)![1]!.matchAll(/<option value="([^"]*)">/g),
      ].map((m) => m[1]);
      const classOptions = [.../<select id="f-class"[^>]*>([\s\S]*?)<\/select>/.exec(html)![1]!.matchAll(/<option value="([^"]*)">/g)].map(
        (m) => m[1],
      );
      expect(statusOptions).toEqual(['', ...Object.keys(countsOf(lines, (l) => l.status))]);
      expect(classOptions).toEqual(['', 'cancelled', 'banned', 'generation']);
      expect(dataOf(html).pages.map((p) => p.file)).toEqual(['sheet-0001.html', 'sheet-0002.html', 'sheet-0003.html']);
      expectOnlyOwnScripts(html);
    }
    const data = dataOf(index);
    data.pages.forEach((p, i) => {
      const mine = lines.slice(i * 500, (i + 1) * 500);
      const expected: Record<string, number> = {};
      for (const l of mine) expected[`${l.status}/${l.failureClass}`] = (expected[`${l.status}/${l.failureClass}`] ?? 0) + 1;
      expect(Object.fromEntries(p.combos.map(([s, c, n]) => [`${s}/${c}`, n]))).toEqual(expected);
    });
    // Every card carries what the filter matches on.
    for (const [i, p] of pages.entries()) {
      const cards = [...p.matchAll(/<article class="row [^"]+" data-status="([^"]*)" data-class="([^"]*)" data-key="([^"]*)">/g)];
      expect(cards.map((m) => [m[1], m[2], m[3]])).toEqual(
        lines.slice(i * 500, (i + 1) * 500).map((l) => [l.status, l.failureClass, l.key]),
      );
    }
  });

  test('prompts, ids and statuses are escaped on the pages, in the index and in the filter data', () => {
    const evil = '</script><script>alert(1)</script><img src=x onerror=alert(2)>';
    const rows = manyRows(501).map((l, i) =>
      i === 0 || i === 500 ? { ...l, input: { ...l.input, id: evil, prompt: evil }, status: evil, failureClass: `${evil}"` } : l,
    );
    const s = contactSheet('t', 'out', rows);
    expect(s.pageCount).toBe(2);
    for (const html of [s.index(), s.page(1), s.page(2)]) {
      expectOnlyOwnScripts(html);
      expect(html).not.toMatch(/<img src=x/);
      expect(dataOf(html).pages[0]!.combos.some(([st, c]) => st === evil && c === `${evil}"`)).toBe(true);
    }
    expect(unescape(/<p class="prompt">([^<]*)<\/p>/.exec(s.page(2))![1]!)).toBe(evil);
    expect(s.index()).toContain(`${escapeHtml(evil)} … id-500`);
  });

  test('every link is relative and lands on a stored key or a file of the sheet', () => {
    const prefix = 'runs/2026 spring/';
    const s = contactSheet(
      't',
      prefix,
      manyRows(1201).map((l) => ({
        ...l,
        images: l.images.map((img) => ({
          ...img,
          key: img.key.replace(/^out\//, prefix),
          thumbnails: img.thumbnails.map((t) => t.replace(/^out\//, prefix)),
        })),
      })),
    );
    const stored = new Set(
      manyRows(1201).flatMap((l) => l.images.flatMap((img) => [img.key, ...img.thumbnails].map((k) => k.replace(/^out\//, prefix)))),
    );
    const sheetFiles = ['index.html', ...[1, 2, 3].map(sheetPageFileName)].map((f) => `runs/2026 spring/${f}`);
    const allowed = new Set([...stored, ...sheetFiles]);
    expectRelativeLinks(s.index(), 'index.html', prefix, allowed);
    for (const n of [1, 2, 3]) expectRelativeLinks(s.page(n), sheetPageFileName(n), prefix, allowed);
    // The pages' thumbnails are those of their rows.
    expect(attrs(s.page(2), 'img', 'src')[0]).toBe('r00501/thumbs/grid-512.webp');
  });

  test('a sheet of up to a page of rows is one file; one row more makes two pages', () => {
    expect(contactSheetPageCount(0)).toBe(0);
    expect(contactSheetPageCount(500)).toBe(0);
    expect(contactSheetPageCount(501)).toBe(2);
    expect(contactSheetPageCount(1201)).toBe(3);
    expect(contactSheetPageCount(50_000)).toBe(100);
    const small = contactSheet('t', 'out', manyRows(500));
    expect(small.pageCount).toBe(0);
    expect(attrs(small.index(), 'article', 'data-key')).toHaveLength(500);
    expect(small.index()).not.toMatch(/<a data-nav|<a data-index|<tr data-page/);
    expect(dataOf(small.index()).pages).toEqual([]);
    expectOnlyOwnScripts(small.index());
    expect(() => small.page(1)).toThrow(/no page 1/);
    const two = contactSheet('t', 'out', manyRows(501));
    expect(two.pageCount).toBe(2);
    expect(attrs(two.page(2), 'article', 'data-key')).toEqual(['r00501']);
    // Another page size.
    const tens = contactSheet('t', 'out', manyRows(25), { pageRows: 10 });
    expect(tens.pageCount).toBe(3);
    expect([1, 2, 3].map((n) => attrs(tens.page(n), 'article', 'data-key').length)).toEqual([10, 10, 5]);
    expect(() => contactSheet('t', 'out', [], { pageRows: 0 })).toThrow(/pageRows/);
  });
});

describe('sheet page keys', () => {
  test('sit beside index.html, are recognised exactly, and count as bookkeeping', () => {
    expect(sheetPageKey('out/cat/', 1)).toBe('out/cat/sheet-0001.html');
    expect(sheetPageKey('out', 12345)).toBe('out/sheet-12345.html');
    expect(sheetPageKey('out', 1).replace(/[^/]+$/, '')).toBe(reportKeys('out').html.replace(/[^/]+$/, ''));
    expect(sheetPageNumber('out', 'out/sheet-0042.html')).toBe(42);
    expect(sheetPageNumber('out/', 'out/sheet-12345.html')).toBe(12345);
    for (const key of [
      'out/sheet-42.html',
      'out/sheet-0000.html',
      'out/sheet-00042.html',
      'out/sheet-0042.htm',
      'out/x/sheet-0042.html',
      'other/sheet-0001.html',
    ])
      expect(sheetPageNumber('out', key)).toBeUndefined();
    expect(isBookkeepingKey('out', 'out/sheet-0001.html')).toBe(true);
    expect(isBookkeepingKey('out', 'out/index.html')).toBe(true);
    expect(isBookkeepingKey('out', 'out/sheet-0001/grid.png')).toBe(false);
    expect(isBookkeepingKey('out', 'out/r1/grid.png')).toBe(false);
  });
});

/** An in-memory S3 stand-in for the commands the sheet's writer and the download send. */
class FakeS3 {
  readonly objects = new Map<string, Buffer>();
  readonly types = new Map<string, string>();

  async send(cmd: unknown): Promise<unknown> {
    if (cmd instanceof PutObjectCommand) {
      this.objects.set(cmd.input.Key!, Buffer.from(cmd.input.Body as Buffer));
      this.types.set(cmd.input.Key!, cmd.input.ContentType ?? '');
      return {};
    }
    if (cmd instanceof GetObjectCommand) {
      const body = this.objects.get(cmd.input.Key!);
      if (!body) throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
      return { Body: { transformToByteArray: async () => new Uint8Array(body) } };
    }
    if (cmd instanceof ListObjectsV2Command) {
      const keys = [...this.objects.keys()].filter((k) => k.startsWith(cmd.input.Prefix ?? '')).sort();
      return { Contents: keys.map((Key) => ({ Key })), IsTruncated: false };
    }
    if (cmd instanceof DeleteObjectCommand) {
      this.objects.delete(cmd.input.Key!);
      return {};
    }
    throw new Error(`unexpected command ${(cmd as object).constructor.name}`);
  }

  asClient(): S3Client {
    return this as unknown as S3Client;
  }

  sheetFiles(prefix: string): string[] {
    return [...this.objects.keys()].filter((k) => k === reportKeys(prefix).html || sheetPageNumber(prefix, k) !== undefined).sort();
  }
}

describe('storing and downloading a sheet with pages', () => {
  test('stores index.html and every page, and removes the pages a longer report left', async () => {
    const s3 = new FakeS3();
    // Not a page (another digit count, or a row folder named like one): never removed.
    s3.objects.set('out/sheet-0009/grid.png', Buffer.from('png'));
    s3.objects.set('out/sheet-9.html', Buffer.from('not ours'));
    await writeContactSheet(s3.asClient(), 'b', 'out', contactSheet('t', 'out', manyRows(1201)));
    expect(s3.sheetFiles('out')).toEqual(['out/index.html', 'out/sheet-0001.html', 'out/sheet-0002.html', 'out/sheet-0003.html']);
    expect(s3.types.get('out/sheet-0002.html')).toBe('text/html; charset=utf-8');
    expect(s3.objects.get('out/sheet-0002.html')!.toString()).toContain('data-key="r00501"');

    await writeContactSheet(s3.asClient(), 'b', 'out', contactSheet('t', 'out', manyRows(600)));
    expect(s3.sheetFiles('out')).toEqual(['out/index.html', 'out/sheet-0001.html', 'out/sheet-0002.html']);
    await writeContactSheet(s3.asClient(), 'b', 'out', contactSheet('t', 'out', manyRows(20)));
    expect(s3.sheetFiles('out')).toEqual(['out/index.html']);
    expect(attrs(s3.objects.get('out/index.html')!.toString(), 'article', 'data-key')).toHaveLength(20);
    expect(s3.objects.has('out/sheet-0009/grid.png')).toBe(true);
    expect(s3.objects.has('out/sheet-9.html')).toBe(true);
  });

  test('downloadReport copies index.html, every page, the results and the thumbnails', async () => {
    const s3 = new FakeS3();
    const lines = manyRows(1201);
    const sheet = contactSheet('t', 'out', lines);
    await writeContactSheet(s3.asClient(), 'b', 'out', sheet);
    s3.objects.set('out/results.jsonl', Buffer.from(toJsonl(lines)));
    s3.objects.set('out/results.csv', Buffer.from('csv'));
    for (const l of lines) for (const img of l.images) for (const t of img.thumbnails) s3.objects.set(t, Buffer.from('webp'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sheet-'));
    const done = await downloadReport(s3.asClient(), 'b', 'out', dir, false);
    expect(done.contactSheetFile).toBe(path.join(dir, 'index.html'));
    const pages = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.html'))
      .sort();
    expect(pages).toEqual(['index.html', 'sheet-0001.html', 'sheet-0002.html', 'sheet-0003.html']);
    expect(fs.readFileSync(path.join(dir, 'sheet-0003.html'), 'utf8')).toBe(sheet.page(3));
    const thumbs = lines.flatMap((l) => l.images.flatMap((img) => img.thumbnails));
    expect(done.files).toBe(4 + 2 + thumbs.length);
    // Every image a page shows is on disk, where the page's relative link points.
    for (const n of [1, 2, 3])
      for (const src of attrs(sheet.page(n), 'img', 'src')) expect(fs.existsSync(path.join(dir, decodeURIComponent(src)))).toBe(true);
  });

  test('downloadReport reads on past the expected pages when the sheet was written with smaller pages', async () => {
    const s3 = new FakeS3();
    const lines = manyRows(30);
    await writeContactSheet(s3.asClient(), 'b', 'out', contactSheet('t', 'out', lines, { pageRows: 10 }));
    s3.objects.set('out/results.jsonl', Buffer.from(toJsonl(lines)));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sheet-'));
    await downloadReport(s3.asClient(), 'b', 'out', dir, false);
    expect(
      fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.html'))
        .sort(),
    ).toEqual(['index.html', 'sheet-0001.html', 'sheet-0002.html', 'sheet-0003.html']);
  });
});
