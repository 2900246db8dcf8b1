import { createHash } from 'node:crypto';
import { forecast } from '../../../manifest/forecast';
import { validateManifestBytes } from '../../../manifest/validate';

function check(name: string, text: string | Buffer) {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  return validateManifestBytes(name, bytes, createHash('sha256').update(bytes).digest('hex'));
}

const lines = (r: ReturnType<typeof check>) => r.issues.map((i) => `${i.line}:${i.field}`);

test('a good CSV: rows with their lines, keys, plans, images and extra columns', () => {
  const r = check(
    'm.csv',
    [
      'id,kind,prompt,images,mode,actions,output,sku',
      'a,imagine,a chair,,fast,"U1,U3",cat/{sku},S1',
      ',blend,,https://x.test/1.png|s3://bucket-1/2.png,relax,U2,,S2',
      'c,describe,,s3://bucket-1/3.png,,,,S3',
    ].join('\n'),
  );
  expect(r.issues).toEqual([]);
  expect(
    r.rows.map((x) => [x.line, x.key.startsWith('r-') ? 'hash' : x.key, x.kind, x.images.length, x.mode ?? '-', x.actions, x.extra.sku]),
  ).toEqual([
    [2, 'a', 'imagine', 0, 'fast', 'U1,U3', 'S1'],
    [3, 'hash', 'blend', 2, 'relax', 'U2', 'S2'],
    [4, 'c', 'describe', 1, '-', '', 'S3'],
  ]);
});

test('content keys: an unchanged row keeps its key, an edited one gets a new key', () => {
  const a = check('m.csv', 'prompt,actions\na chair,U1\na table,U2\n');
  const b = check('m.csv', 'prompt,actions\na chair,U1\na round table,U2\n');
  expect(a.rows[0]!.key).toBe(b.rows[0]!.key);
  expect(a.rows[1]!.key).not.toBe(b.rows[1]!.key);
});

test('every bad row is reported with its line and field, and the good rows still parse', () => {
  const r = check(
    'm.csv',
    [
      'id,kind,prompt,images,mode,actions',
      'ok1,imagine,fine,,,',
      'e1,imagine,,,,',
      'e2,paint,x,,,',
      'e3,blend,,https://x.test/1.png,,',
      'e4,imagine,x,,warp,',
      'e5,imagine,x,,,U9',
      'ok1,imagine,again,,,',
      'e6,imagine,x,ftp://nope,,',
      'bad id!,imagine,x,,,',
    ].join('\n'),
  );
  expect(lines(r)).toEqual(['3:prompt', '4:kind', '5:images', '6:mode', '7:actions', '8:id', '9:images', '10:id']);
  expect(r.issues.find((i) => i.line === 8)!.message).toBe('duplicate id "ok1" (first used on line 2)');
  expect(r.issues.find((i) => i.line === 5)!.message).toBe('blend takes 2 to 5 images, got 1');
  expect(r.rows.map((x) => x.key)).toEqual(['ok1']);
});

test('a stray quote cannot swallow rows silently: the merged row is reported', () => {
  const r = check('m.csv', 'id,prompt\na,"fine"\nb,"broken\nc,also fine\nd,"x"\n');
  expect(r.issues).toEqual([expect.objectContaining({ line: 3, message: expect.stringContaining('lines 3–5 could not be read as rows') })]);
  expect(r.rows.map((x) => x.id)).toEqual(['a']);
});

test('an unclosed quote at the end of the file names the line', () => {
  const r = check('m.csv', 'id,prompt\na,x\nb,"never closed\n');
  expect(r.issues).toEqual([expect.objectContaining({ line: 3, message: expect.stringContaining('never closed') })]);
});

test('missing and extra columns, BOMs, CRLF and mixed line endings', () => {
  const r = check('m.csv', '\ufeffid,prompt\r\na,one\r\nb,two,extra\nc\rd,four\n');
  expect(r.issues.map((i) => [i.line, i.message])).toEqual([
    [3, 'has 3 columns; the header has 2'],
    [4, 'has 1 columns; the header has 2'],
  ]);
  expect(r.rows.map((x) => [x.id, x.line])).toEqual([
    ['a', 2],
    ['d', 5],
  ]);
});

test('multi-line quoted fields keep the right line numbers for the rows after them', () => {
  const r = check('m.csv', 'id,prompt\na,"two\nlines"\nb,fine\n');
  expect(r.issues).toEqual([expect.objectContaining({ line: 2, field: 'prompt', message: expect.stringContaining('line break') })]);
  expect(r.rows.map((x) => [x.id, x.line])).toEqual([['b', 4]]);
});

test('JSON arrays report the line each element starts on', () => {
  const r = check(
    'm.json',
    '[\n  {"id": "a", "prompt": "x"},\n  {"id": "b",\n   "prompt": ""},\n  "oops",\n  {"id": "c", "prompt": "y", "images": ["https://x.test/a.png", 3]}\n]',
  );
  expect(lines(r)).toEqual(['3:prompt', '5:(row)', '6:images']);
  expect(r.format).toBe('json');
});

test('invalid JSON names the line of the syntax error', () => {
  const r = check('m.json', '[\n {"id": "a"},\n {"id": "b" "prompt": "x"}\n]');
  expect(r.issues).toEqual([expect.objectContaining({ line: 3, field: '(file)' })]);
});

test('JSONL: each line is a row; bad lines are reported and the rest parse', () => {
  const r = check('m.jsonl', '{"id":"a","prompt":"x"}\n\nnot json\n[1,2]\n{"id":"b","prompt":"y","actions":"U1"}\n');
  expect(lines(r)).toEqual(['3:(row)', '4:(row)']);
  expect(r.rows.map((x) => [x.id, x.line])).toEqual([
    ['a', 1],
    ['b', 5],
  ]);
});

test('empty files, header-only files, binary junk and over-long prompts get clear errors', () => {
  expect(check('m.csv', '').issues).toEqual([{ line: 1, field: '(file)', message: 'the manifest is empty' }]);
  expect(check('m.csv', 'id,prompt\n').issues).toEqual([{ line: 1, field: '(file)', message: 'the manifest has a header but no rows' }]);
  expect(
    check('m.csv', Buffer.from([0x69, 0x64, 0x2c, 0x70, 0x72, 0x6f, 0x6d, 0x70, 0x74, 0x0a, 0x61, 0x2c, 0x01, 0x02, 0xff, 0x0a])).issues,
  ).toEqual([expect.objectContaining({ line: 2, field: 'prompt', message: expect.stringContaining('control characters') })]);
  expect(check('m.csv', `prompt\n${'x'.repeat(5000)}\n`).issues[0]!.message).toContain('limit is 4000');
});

test('output templates may only name columns', () => {
  const r = check('m.csv', 'id,prompt,output,sku\na,x,cat/{sku}/{id},1\nb,x,cat/{nope},2\nc,x,../up,3\n');
  expect(r.issues.map((i) => [i.line, i.field])).toEqual([
    [3, 'output'],
    [4, 'output'],
  ]);
});

test('the forecast counts paid jobs by kind and mode, and the time with N slots', () => {
  const r = check(
    'm.csv',
    'id,kind,prompt,images,mode,actions\na,imagine,x,,fast,"U1,U2>upscale_subtle"\nb,imagine,y,,relax,\nc,describe,,https://x.test/i.png,,\n',
  );
  const f = forecast(r.rows, 3);
  expect(f.paidJobs).toEqual({ total: 6, byKind: { imagine: 2, describe: 1 }, byMode: { fast: 5, relax: 1 }, followUps: 3 });
  expect(f.slotSeconds).toBe(45 + 4 + 4 + 90 + 180 + 10);
  // 333 s over 3 slots is 111 s, but the relax row's one job alone takes 180 s.
  expect(f.longestChainSeconds).toBe(180);
  expect(f.wallClockSeconds).toBe(180);
  expect(f.boundBy).toBe('longestChain');
  // With one slot the slots' share (333 s) bounds it.
  expect(forecast(r.rows, 1)).toMatchObject({ wallClockSeconds: 333, longestChainSeconds: 180, boundBy: 'slots' });
});

test('the forecast never predicts less than one job per row: one fast imagine row takes one fast job, whatever the slots', () => {
  const one = check('m.csv', 'prompt\na chair\n');
  for (const slots of [1, 3, 12])
    expect(forecast(one.rows, slots)).toMatchObject({ slotSeconds: 45, wallClockSeconds: 45, longestChainSeconds: 45 });
  // Its mode's duration: the row's own, else the default.
  expect(forecast(check('m.csv', 'prompt,mode\na chair,relax\n').rows, 3).wallClockSeconds).toBe(180);
  expect(forecast(one.rows, 3, 'turbo').wallClockSeconds).toBe(18);
  // A row's follow-ups run after its grid, one after another: grid 45 + U1 4 + U2 4 + upscale_subtle 90.
  const chain = check('m.csv', 'prompt,actions\na chair,"U1,U2>upscale_subtle"\n');
  expect(forecast(chain.rows, 3)).toMatchObject({
    slotSeconds: 143,
    wallClockSeconds: 143,
    longestChainSeconds: 143,
    boundBy: 'longestChain',
  });
  // Many short rows: the slots bound it, and the floor changes nothing.
  const many = check('m.csv', `id,prompt\n${Array.from({ length: 30 }, (_, i) => `r${i},chair ${i}`).join('\n')}\n`);
  expect(forecast(many.rows, 3)).toMatchObject({ slotSeconds: 30 * 45, wallClockSeconds: 450, longestChainSeconds: 45, boundBy: 'slots' });
  // Media-only rows submit nothing: no jobs, no time.
  expect(forecast(check('m.csv', 'taskId\nt-1\n').rows, 3)).toMatchObject({ slotSeconds: 0, wallClockSeconds: 0, longestChainSeconds: 0 });
});

test('two rows whose output template gives the same folder are refused (their images would overwrite each other)', () => {
  const m = check(
    'shared.csv',
    'id,prompt,output,category\na,a chair,catalog/{category},chairs\nb,a stool,catalog/{category},chairs\nc,a lamp,catalog/{category},lamps\nd,a rug,catalog/{category}/{id},chairs\n',
  );
  expect(m.issues).toEqual([{ line: 3, field: 'output', message: expect.stringMatching(/folder "catalog\/chairs", as line 2 does/) }]);
  expect(m.rows.map((r) => r.id)).toEqual(['a', 'c', 'd']);
});

test('an output folder too long for an S3 key is refused', () => {
  const prompt = 'a very long prompt '.repeat(40);
  const m = check('long.csv', `id,prompt,output\na,"${prompt}",p/{prompt}\nb,short,p/{prompt}\n`);
  expect(m.issues).toEqual([{ line: 2, field: 'output', message: expect.stringMatching(/folder name of \d+ bytes/) }]);
  expect(m.rows.map((r) => r.id)).toEqual(['b']);
});
