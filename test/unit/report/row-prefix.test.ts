import { rowPrefix, toRowRef } from '../../../activities/manifest';
import type { ManifestRow } from '../../../manifest/row';
import { validateManifestBytes } from '../../../manifest/validate';

function mrow(over: Partial<ManifestRow> = {}): ManifestRow {
  return { line: 2, key: 'r-0123456789abcdef', kind: 'imagine', prompt: 'a vase', images: [], actions: '', plan: [], extra: {}, ...over };
}

/** Rows exactly as `mj-batch validate` and the batch read them from a CSV manifest. */
function rowsOf(csv: string): ManifestRow[] {
  const m = validateManifestBytes('m.csv', Buffer.from(csv), 'sha');
  expect(m.issues).toEqual([]);
  return m.rows;
}

const SAFE_SEGMENT = /^[A-Za-z0-9._-]+$/;

describe('rowPrefix', () => {
  test('without an output column a row lives in <outputPrefix>/<key>', () => {
    const r = mrow({ key: 'sku-1', id: 'sku-1' });
    expect(rowPrefix('batches/b1', r)).toBe('batches/b1/sku-1');
    expect(rowPrefix('batches/b1///', r)).toBe('batches/b1/sku-1');
    expect(rowPrefix('', r)).toBe('sku-1');
  });

  test('a plain output prefix is used as given, without doubled or trailing slashes', () => {
    expect(rowPrefix('out', mrow({ output: 'catalog/shoes' }))).toBe('out/catalog/shoes');
    expect(rowPrefix('out/', mrow({ output: '/catalog/shoes/' }))).toBe('out/catalog/shoes');
  });

  test("{column} takes the row's value of an extra column, {id}, {kind} and {mode}", () => {
    const r = mrow({ key: 'sku-1', id: 'sku-1', mode: 'relax', output: '{category}/{kind}-{mode}/{id}', extra: { category: 'shoes' } });
    expect(rowPrefix('out', r)).toBe('out/shoes/imagine-relax/sku-1');
  });

  test('{id} of a row without an id is its content key; {key} is always the key', () => {
    const [row] = rowsOf('id,prompt,output\n,a red chair,by-id/{id}/{key}\n');
    expect(row!.id).toBeUndefined();
    expect(row!.key).toMatch(/^r-/);
    expect(rowPrefix('out', row!)).toBe(`out/by-id/${row!.key}/${row!.key}`);
  });

  test('values cannot add folder levels or unsafe characters: each templated part stays one safe segment', () => {
    const values = ['Shoes & Boots/Men', '../..', 'a b?c#d%20', 'über/東京', 'x\\y', '"quoted"', ' padded '];
    for (const v of values) {
      const p = rowPrefix('out', mrow({ id: 'sku-1', output: 'cat/{category}/{id}', extra: { category: v } }));
      const parts = p.split('/');
      expect(parts).toHaveLength(4);
      expect(parts[0]).toBe('out');
      expect(parts[1]).toBe('cat');
      expect(parts[3]).toBe('sku-1');
      expect(parts[2]).toMatch(SAFE_SEGMENT);
      expect(parts[2]).toHaveLength(v.length);
    }
    // Safe characters pass through unchanged.
    expect(rowPrefix('out', mrow({ output: '{category}', extra: { category: 'Shoes_2024-v1.2' } }))).toBe('out/Shoes_2024-v1.2');
  });

  test('a value of "." or ".." does not become a relative path part', () => {
    for (const v of ['.', '..']) {
      const p = rowPrefix('out', mrow({ id: 'sku-1', output: 'cat/{category}/{id}', extra: { category: v } }));
      expect(p.split('/')).not.toContain('..');
      expect(p.split('/')).not.toContain('.');
      expect(p.startsWith('out/cat/')).toBe(true);
      expect(p.endsWith('/sku-1')).toBe(true);
    }
  });

  test('every column a manifest may name in its template is filled in (validate accepts them all)', () => {
    const rows = rowsOf(
      ['id,prompt,mode,output,category', 'a1,red shoe,fast,p/{prompt}/{category},x', 'a2,blue shoe,fast,p/{prompt}/{category},x'].join(
        '\n',
      ),
    );
    const prefixes = rows.map((r) => rowPrefix('out', r));
    expect(prefixes[0]).not.toBe(prefixes[1]);
    expect(prefixes[0]).toContain('red');
    expect(prefixes[1]).toContain('blue');
    for (const p of prefixes) for (const part of p.split('/')) expect(part).toMatch(SAFE_SEGMENT);
  });

  test('rows of a CSV manifest with distinct ids land in distinct folders', () => {
    const rows = rowsOf(
      [
        'id,prompt,output,category',
        'sku-1,a,catalog/{category}/{id},Shoes',
        'sku-2,b,catalog/{category}/{id},Shoes',
        'sku-3,c,catalog/{category}/{id},Hats & Caps',
        'sku-4,d,,',
      ].join('\n'),
    );
    const prefixes = rows.map((r) => rowPrefix('runs/1', r));
    expect(new Set(prefixes).size).toBe(rows.length);
    expect(prefixes[0]).toBe('runs/1/catalog/Shoes/sku-1');
    expect(prefixes[2]!.startsWith('runs/1/catalog/')).toBe(true);
    expect(prefixes[2]!.endsWith('/sku-3')).toBe(true);
    expect(prefixes[3]).toBe('runs/1/sku-4');
  });
});

describe('toRowRef', () => {
  test('carries the row as checked, with its folder resolved', () => {
    const [row] = rowsOf(
      'id,prompt,images,mode,actions,output,category\nsku-7,"a lamp, brass",https://x/1.png|https://x/2.png,turbo,"U1, U2>upscale_subtle",c/{category}/{id},lamps\n',
    );
    const ref = toRowRef('out/', row!);
    expect(ref).toMatchObject({
      key: 'sku-7',
      id: 'sku-7',
      line: row!.line,
      kind: 'imagine',
      prompt: 'a lamp, brass',
      images: ['https://x/1.png', 'https://x/2.png'],
      mode: 'turbo',
      actions: row!.actions,
      prefix: 'out/c/lamps/sku-7',
      extra: { category: 'lamps' },
    });
    expect(ref.plan).toEqual(row!.plan);
    expect(ref.plan).toHaveLength(2);
    expect(ref).not.toHaveProperty('output');
  });

  test('a media-only row keeps its taskId and imageUrl', () => {
    const ref = toRowRef('out', mrow({ key: 'm1', taskId: '1712345678901', imageUrl: 'https://cdn/x.png' }));
    expect(ref).toMatchObject({ taskId: '1712345678901', imageUrl: 'https://cdn/x.png', prefix: 'out/m1' });
  });
});
