import { toRowRef } from '../../../activities/manifest';
import { rowStateOf } from '../../../activities/versions';
import type { ItemResult } from '../../../contracts/rows';
import { validateManifestBytes } from '../../../manifest/validate';
import { manifestRowVersions, rowRefVersions, type RowVersions } from '../../../manifest/version';

// A row's version says what it pays for and stores: the same content however it is written, a new one for any
// change that costs a job or changes what is stored.

function rowsOf(name: string, text: string) {
  const m = validateManifestBytes(name, Buffer.from(text), 'sha');
  expect(m.issues).toEqual([]);
  return m.rows;
}

const one = (name: string, text: string) => rowsOf(name, text)[0]!;
const versionsOfCsv = (text: string): RowVersions => manifestRowVersions(one('m.csv', text));

const BASE = {
  id: 'sku-1',
  kind: 'imagine',
  prompt: 'a brass lamp, studio light',
  images: 'https://x.test/a.png|https://x.test/b.png',
  mode: 'fast',
  actions: 'U1,U2>upscale_subtle',
  output: 'lamps/{id}',
};
const csvOf = (row: Record<string, string>) => {
  const cols = Object.keys(row);
  return `${cols.join(',')}\n${cols.map((c) => `"${row[c]}"`).join(',')}\n`;
};

test('the same row in CSV (any column order, another delimiter), JSON and JSONL has the same version', () => {
  const base = versionsOfCsv(csvOf(BASE));
  const reordered = csvOf({
    output: BASE.output,
    actions: BASE.actions,
    mode: BASE.mode,
    prompt: BASE.prompt,
    images: BASE.images,
    id: BASE.id,
    kind: BASE.kind,
  });
  expect(versionsOfCsv(reordered)).toEqual(base);
  const semicolons = `id;prompt;images;mode;actions;output\n${BASE.id};${BASE.prompt};${BASE.images};FAST;${BASE.actions};${BASE.output}\n`;
  expect(manifestRowVersions(one('m.csv', semicolons))).toEqual(base);
  const json = { ...BASE, images: BASE.images.split('|') };
  expect(manifestRowVersions(one('m.json', JSON.stringify([json])))).toEqual(base);
  expect(manifestRowVersions(one('m.jsonl', `${JSON.stringify(json)}\n`))).toEqual(base);
  // Spacing and case in the plan, and the line the row is on, change nothing either.
  expect(versionsOfCsv(`\n${csvOf({ ...BASE, actions: ' u1 , U2 > Upscale_Subtle ' })}`)).toEqual(base);
  expect(base.version).toMatch(/^[0-9a-f]{16}$/);
  expect(base.firstJobVersion).toMatch(/^[0-9a-f]{16}$/);
});

test('"all" is the same plan as U1,U2,U3,U4', () => {
  expect(versionsOfCsv(csvOf({ ...BASE, actions: 'all' }))).toEqual(versionsOfCsv(csvOf({ ...BASE, actions: 'U1,U2,U3,U4' })));
});

test('columns that are neither paid for nor in the folder leave the version alone', () => {
  const base = versionsOfCsv(csvOf(BASE));
  expect(versionsOfCsv(csvOf({ ...BASE, note: 'restocked' }))).toEqual(base);
  // A column the output template uses decides where the images go.
  const inFolder = { ...BASE, output: 'lamps/{category}/{id}' };
  expect(versionsOfCsv(csvOf({ ...inFolder, category: 'desk' })).version).not.toBe(
    versionsOfCsv(csvOf({ ...inFolder, category: 'floor' })).version,
  );
});

test.each([
  ['prompt', { prompt: 'a copper lamp, studio light' }, true],
  ['kind', { kind: 'blend', prompt: '' }, true],
  ['images', { images: 'https://x.test/a.png|https://x.test/c.png' }, true],
  ['image order', { images: 'https://x.test/b.png|https://x.test/a.png' }, true],
  ['mode', { mode: 'relax' }, true],
  ['no mode', { mode: '' }, true],
  ['plan gains a pick', { actions: 'U1,U2>upscale_subtle,U4' }, false],
  ['plan loses a pick', { actions: 'U1' }, false],
  ['plan step changes', { actions: 'U1,U2>upscale_creative' }, false],
  ['output folder', { output: 'lights/{id}' }, false],
])('a changed %s is a new version', (_, change, firstJobChanged) => {
  const base = versionsOfCsv(csvOf(BASE));
  const changed = versionsOfCsv(csvOf({ ...BASE, ...change }));
  expect(changed.version).not.toBe(base.version);
  expect(changed.firstJobVersion !== base.firstJobVersion).toBe(firstJobChanged);
});

test('a media-only row: its task or image URL is part of its version', () => {
  const a = versionsOfCsv('id,taskId\nm1,1712345678901\n');
  expect(versionsOfCsv('id,taskId\nm1,1712345678902\n').version).not.toBe(a.version);
  expect(versionsOfCsv('id,imageUrl\nm1,https://cdn.test/x.png\n').version).not.toBe(a.version);
});

test('RowRef carries the version; computed again from the RowRef (as a stored record keeps it) it is the same', () => {
  for (const prefix of ['out/run', 'out/run/', '']) {
    for (const row of rowsOf('m.csv', `${csvOf(BASE)}"sku-2","imagine","a chair","","","U4","{id}/x"\n`)) {
      const ref = toRowRef(prefix, row);
      const versions = manifestRowVersions(row);
      expect(ref.version).toBe(versions.version);
      const { version: _ignored, ...withoutVersion } = ref;
      expect(rowRefVersions(prefix, withoutVersion)).toEqual(versions);
    }
  }
  // The output prefix is where the batch writes, not part of the row: the same row keeps its version under another.
  const row = one('m.csv', csvOf(BASE));
  expect(toRowRef('a', row).version).toBe(toRowRef('b/c', row).version);
});

describe('rowStateOf', () => {
  const result = (over: Partial<ItemResult> = {}): ItemResult => ({
    rowKey: 'sku-1',
    line: 2,
    status: 'SUCCESS',
    taskIds: ['t1'],
    images: [],
    ...over,
  });

  test('a result stored before versions existed is judged by the row it was stored with', () => {
    const before = toRowRef('out', one('m.csv', csvOf(BASE)));
    const { version: _v, ...oldRow } = before; // rows stored back then had no version
    const same = rowStateOf('out', before, { batchId: 'b0', row: oldRow, result: result(), finishedAt: '' });
    expect(same.previous).toMatchObject({
      batchId: 'b0',
      version: same.version,
      firstJobVersion: same.firstJobVersion,
      prefix: 'out/lamps/sku-1',
    });

    const gainsU4 = toRowRef('out', one('m.csv', csvOf({ ...BASE, actions: `${BASE.actions},U4` })));
    const planChanged = rowStateOf('out', gainsU4, { batchId: 'b0', row: oldRow, result: result(), finishedAt: '' });
    expect(planChanged.previous!.version).not.toBe(planChanged.version);
    expect(planChanged.previous!.firstJobVersion).toBe(planChanged.firstJobVersion);

    const newPrompt = toRowRef('out', one('m.csv', csvOf({ ...BASE, prompt: 'a copper lamp' })));
    const promptChanged = rowStateOf('out', newPrompt, { batchId: 'b0', row: oldRow, result: result(), finishedAt: '' });
    expect(promptChanged.previous!.firstJobVersion).not.toBe(promptChanged.firstJobVersion);
  });

  test('a recorded version is taken as recorded; no record, no previous', () => {
    const row = toRowRef('out', one('m.csv', csvOf(BASE)));
    const recorded = rowStateOf('out', row, { batchId: 'b1', row, result: result({ version: 'feedc0ffee000000' }), finishedAt: '' });
    expect(recorded.previous!.version).toBe('feedc0ffee000000');
    expect(rowStateOf('out', row, null)).toEqual({ version: row.version, firstJobVersion: expect.any(String) });
  });
});
