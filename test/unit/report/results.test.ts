import { parse } from 'csv-parse/sync';
import type { StoredImage } from '../../../contracts/media';
import { resultLine, toCsv, toJsonl, type ResultLine } from '../../../report/results';
import type { RowRecord } from '../../../report/row-results';
import { modeMismatch, type ItemResult, type RowRef } from '../../../contracts/rows';

function row(over: Partial<RowRef> & { key: string }): RowRef {
  return {
    line: 2,
    kind: 'imagine',
    prompt: 'a vase',
    images: [],
    actions: '',
    plan: [],
    prefix: `out/${over.key}`,
    extra: {},
    ...over,
  };
}

function image(role: string, key: string, sha256: string, thumbs: string[]): StoredImage {
  return {
    role,
    taskId: 't1',
    key,
    sha256,
    bytes: 10,
    width: 1,
    height: 1,
    format: 'png',
    thumbnails: thumbs.map((k) => ({ key: k, sha256: '00'.repeat(32), width: 1, height: 1, format: 'webp' })),
    sidecarKey: `${key}.json`,
    skipped: false,
  };
}

function record(r: RowRef, result: Partial<ItemResult> & Pick<ItemResult, 'status'>): RowRecord {
  return {
    batchId: 'b1',
    row: r,
    finishedAt: '2026-01-01T00:00:00.000Z',
    result: { rowKey: r.key, line: r.line, taskIds: [], images: [], ...result },
  };
}

const parseCsv = (text: string) => parse(text, { columns: true, skip_empty_lines: false, bom: true }) as Record<string, string>[];

describe('resultLine', () => {
  test('a row with no stored record is MISSING and says why', () => {
    const l = resultLine(row({ key: 'r1' }), null);
    expect(l.status).toBe('MISSING');
    expect(l.failureClass).toBe('');
    expect(l.reason).not.toBe('');
    expect(l.taskIds).toEqual([]);
    expect(l.images).toEqual([]);
  });

  test('a succeeded row carries no failure reason; a failed one keeps its class and reason', () => {
    const ok = row({ key: 'ok' });
    const bad = row({ key: 'bad', line: 3 });
    expect(resultLine(ok, record(ok, { status: 'SUCCESS', taskIds: ['t1'] })).reason).toBe('');
    const failed = resultLine(bad, record(bad, { status: 'FAILED', failureClass: 'banned', reason: 'banned prompt: "nsfw"' }));
    expect(failed).toMatchObject({ line: 3, key: 'bad', status: 'FAILED', failureClass: 'banned', reason: 'banned prompt: "nsfw"' });
  });

  test('input holds the manifest columns, images joined with |, and the extra columns', () => {
    const r = row({
      key: 'k',
      id: 'sku-1',
      images: ['https://a/1.png', 's3://b/2.png'],
      mode: 'relax',
      actions: 'U1,U2',
      extra: { category: 'shoes', 'price (EUR)': '12,50' },
    });
    const l = resultLine(r, null);
    expect(l.input).toMatchObject({
      id: 'sku-1',
      kind: 'imagine',
      prompt: 'a vase',
      images: 'https://a/1.png|s3://b/2.png',
      mode: 'relax',
      actions: 'U1,U2',
      category: 'shoes',
      'price (EUR)': '12,50',
    });
  });
});

describe('toCsv', () => {
  const nasty = [
    'a chair, red, "mid-century"',
    'line one\nline two\r\nline three',
    'café — 東京の夜景 🌃, ünïcödé',
    '  leading and trailing spaces  ',
    '=SUM(A1:A2)',
    '"',
    '',
  ];

  test('prompts with commas, quotes, line breaks and unicode come back unchanged through csv-parse', () => {
    const lines = nasty.map((prompt, i) => resultLine(row({ key: `r${i}`, line: i + 2, prompt }), null));
    const parsed = parseCsv(toCsv(lines));
    expect(parsed).toHaveLength(nasty.length);
    expect(parsed.map((p) => p.prompt)).toEqual(nasty);
    expect(parsed.map((p) => p.key)).toEqual(nasty.map((_, i) => `r${i}`));
    expect(parsed.map((p) => Number(p.line))).toEqual(nasty.map((_, i) => i + 2));
  });

  test('the header has the report columns, and every extra input column of any row', () => {
    const a = row({ key: 'a', extra: { category: 'shoes' } });
    const b = row({ key: 'b', extra: { colour: 'red, "dark"' } });
    const parsed = parseCsv(toCsv([resultLine(a, null), resultLine(b, null)]));
    const header = Object.keys(parsed[0]!);
    for (const c of [
      'line',
      'key',
      'id',
      'kind',
      'prompt',
      'images',
      'status',
      'failure_class',
      'failure_reason',
      'task_ids',
      'image_keys',
      'image_sha256',
      'thumbnail_keys',
      'text',
      'category',
      'colour',
    ]) {
      expect(header).toContain(c);
    }
    expect(parsed[0]).toMatchObject({ category: 'shoes', colour: '' });
    expect(parsed[1]).toMatchObject({ category: '', colour: 'red, "dark"' });
  });

  test('task ids, image keys, hashes and thumbnails of a multi-image row are |-joined in matching order', () => {
    const r = row({ key: 'multi', actions: 'U1,U3' });
    const images = [
      image('grid', 'out/multi/grid.png', 'aa'.repeat(32), ['out/multi/thumbs/grid-512.webp', 'out/multi/thumbs/grid-256.webp']),
      image('U1', 'out/multi/U1.png', 'bb'.repeat(32), ['out/multi/thumbs/U1-512.webp']),
      image('U3', 'out/multi/U3.png', 'cc'.repeat(32), []),
    ];
    const rec = record(r, { status: 'SUCCESS', taskIds: ['100', '101', '102'], images });
    const [parsed] = parseCsv(toCsv([resultLine(r, rec)]));
    expect(parsed!.status).toBe('SUCCESS');
    expect(parsed!.task_ids.split('|')).toEqual(['100', '101', '102']);
    expect(parsed!.image_keys.split('|')).toEqual(images.map((i) => i.key));
    expect(parsed!.image_sha256.split('|')).toEqual(images.map((i) => i.sha256));
    expect(parsed!.thumbnail_keys.split('|')).toEqual([
      'out/multi/thumbs/grid-512.webp',
      'out/multi/thumbs/grid-256.webp',
      'out/multi/thumbs/U1-512.webp',
    ]);
  });

  test('a MISSING row and a failed row keep their status, class and reason in the CSV', () => {
    const missing = row({ key: 'm' });
    const failed = row({ key: 'f' });
    const parsed = parseCsv(
      toCsv([
        resultLine(missing, null),
        resultLine(failed, record(failed, { status: 'FAILED', failureClass: 'timeout', reason: 'no progress for 10m,\n"stuck"' })),
      ]),
    );
    expect(parsed[0]).toMatchObject({ key: 'm', status: 'MISSING', failure_class: '' });
    expect(parsed[0]!.failure_reason).not.toBe('');
    expect(parsed[1]).toMatchObject({
      key: 'f',
      status: 'FAILED',
      failure_class: 'timeout',
      failure_reason: 'no progress for 10m,\n"stuck"',
    });
  });

  test('describe text with line breaks survives', () => {
    const r = row({ key: 'd', kind: 'describe', prompt: '', images: ['https://x/y.png'] });
    const text = '1️⃣ a cat, oil painting --ar 1:1\n\n2️⃣ "a dog", watercolour';
    const [parsed] = parseCsv(toCsv([resultLine(r, record(r, { status: 'SUCCESS', text }))]));
    expect(parsed!.text).toBe(text);
    expect(parsed!.kind).toBe('describe');
  });
});

describe('toJsonl', () => {
  test('one parseable line per row, even when prompts hold line breaks', () => {
    const rows = [
      row({ key: 'a', prompt: 'first\nsecond' }),
      row({ key: 'b', prompt: 'quotes " and \\ backslash' }),
      row({ key: 'c', prompt: '東京 🌃' }),
    ];
    const lines: ResultLine[] = [
      resultLine(rows[0]!, null),
      resultLine(rows[1]!, record(rows[1]!, { status: 'SUCCESS', taskIds: ['9'] })),
      resultLine(rows[2]!, null),
    ];
    const text = toJsonl(lines);
    expect(text.endsWith('\n')).toBe(true);
    const split = text.split('\n').slice(0, -1);
    expect(split).toHaveLength(3);
    const parsed = split.map((s) => JSON.parse(s) as ResultLine);
    expect(parsed.map((p) => p.key)).toEqual(['a', 'b', 'c']);
    expect(parsed.map((p) => p.input.prompt)).toEqual(['first\nsecond', 'quotes " and \\ backslash', '東京 🌃']);
    expect(parsed.map((p) => p.status)).toEqual(['MISSING', 'SUCCESS', 'MISSING']);
    expect(parsed[1]!.taskIds).toEqual(['9']);
  });

  test('no rows is an empty file', () => {
    expect(toJsonl([])).toBe('');
  });
});

describe('modes', () => {
  test('the mode asked for and the modes the jobs ran in are columns; a mismatch is one only where the API said', () => {
    const asked = row({ key: 'relax', mode: 'relax' });
    const lines = [
      resultLine(asked, record(asked, { status: 'SUCCESS', modeRequested: 'relax', modeRan: 'fast' })),
      resultLine(asked, record(asked, { status: 'SUCCESS', modeRequested: 'relax', modeRan: 'relax' })),
      resultLine(asked, record(asked, { status: 'SUCCESS', modeRequested: 'relax' })),
      resultLine(row({ key: 'none' }), record(row({ key: 'none' }), { status: 'SUCCESS', modeRan: 'fast' })),
    ];
    expect(lines.map(modeMismatch)).toEqual([true, false, false, false]);
    const csv = parseCsv(toCsv(lines));
    expect(csv.map((r) => [r.mode_requested, r.mode_ran])).toEqual([
      ['relax', 'fast'],
      ['relax', 'relax'],
      ['relax', ''],
      ['', 'fast'],
    ]);
  });
});
