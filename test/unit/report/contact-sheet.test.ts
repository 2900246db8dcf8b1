import { contactSheet } from '../../../report/contact-sheet';
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

const attrs = (html: string, tag: string, attr: string) =>
  [...html.matchAll(new RegExp(`<${tag}\\b[^>]*\\b${attr}="([^"]*)"`, 'g'))].map((m) => m[1]!);

describe('contactSheet', () => {
  test('a prompt with <script> and quotes is shown as text, not markup', () => {
    const prompt = `<script>alert("x")</script> it's a "vase" & <b>bold</b>`;
    const html = contactSheet('Batch <b>1</b>', 'out', [line({ key: 'k1', input: { id: 'k1', kind: 'imagine', prompt } })]);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>');
    const shown = /<p class="prompt">([^<]*)<\/p>/.exec(html);
    expect(shown).not.toBeNull();
    expect(shown![1]).not.toMatch(/["']/);
    expect(unescape(shown![1]!)).toBe(prompt);
    expect(unescape(/<title>([^<]*)<\/title>/.exec(html)![1]!)).toBe('Batch <b>1</b>');
  });

  test('a key or role with quotes cannot break out of an attribute', () => {
    const html = contactSheet('t', 'out', [
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
    const html = contactSheet('t', prefix, [
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
    const withSlash = contactSheet('t', 'out/', [line({ key: 'r', images })]);
    const without = contactSheet('t', 'out', [line({ key: 'r', images })]);
    expect(attrs(without, 'a', 'href')).toEqual(['a%20b/grid.png']);
    expect(attrs(without, 'a', 'href')).toEqual(attrs(withSlash, 'a', 'href'));
    expect(attrs(without, 'img', 'src')).toEqual(['a%20b/thumbs/grid-512.webp']);
  });

  test('failed rows are marked failed and show their class and reason; successful ones show none', () => {
    const html = contactSheet('t', 'out', [
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
    const html = contactSheet(
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
    const html = contactSheet('t', 'out', [
      line({ key: 'r-abc', input: { id: 'sku-9', kind: 'describe', prompt: '' }, text: 'first suggestion\nsecond suggestion' }),
      line({ key: 'r-def', input: { id: '', kind: 'blend', prompt: '' } }),
    ]);
    expect(card(html, 'r-abc')).toContain('<span class="id">sku-9</span>');
    expect(card(html, 'r-abc')).toContain('<p class="prompt">first suggestion</p>');
    expect(card(html, 'r-def')).toContain('<span class="id">r-def</span>');
    expect(card(html, 'r-def')).toContain('<p class="prompt">(blend)</p>');
  });

  test('an empty batch still renders', () => {
    const html = contactSheet('empty', 'out', []);
    expect(html).toMatch(/<p class="summary">0 rows/);
    expect(html).not.toContain('<article');
  });
});
