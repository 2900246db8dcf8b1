import { createHash } from 'node:crypto';
import { parseDelimiter, type CsvDelimiter } from '../../../manifest/parse';
import { validateManifestBytes } from '../../../manifest/validate';

// Semicolon- and tab-separated CSVs (what spreadsheets export in many locales): the delimiter is chosen from the
// header line, or given, and the rows, their line numbers and the messages are those of a comma CSV.

function check(name: string, text: string | Buffer, delimiter?: CsvDelimiter) {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  return validateManifestBytes(name, bytes, createHash('sha256').update(bytes).digest('hex'), delimiter);
}

test('a German-Excel CSV: BOM, CRLF, semicolons, a quoted field holding ";" and a quoted line break', () => {
  const text =
    '\ufeffid;prompt;actions;Farbe\r\n' +
    'a;"a chair; oak, studio light";"U1,U2";rot\r\n' +
    'b;"a lamp\r\non two lines";;blau\r\n' +
    'c;a rug;U3;"grün; hell"\r\n' +
    'd;;U1;gelb\r\n';
  const r = check('Katalog.csv', text);
  expect(r.delimiter).toBe(';');
  expect(r.columns).toEqual(['id', 'prompt', 'actions', 'Farbe']);
  expect(r.rows.map((row) => [row.line, row.id, row.prompt, row.actions, row.extra])).toEqual([
    [2, 'a', 'a chair; oak, studio light', 'U1,U2', { Farbe: 'rot' }],
    // Not a valid row (a line break in the prompt), but the next rows keep their own line numbers.
    [5, 'c', 'a rug', 'U3', { Farbe: 'grün; hell' }],
  ]);
  expect(r.issues).toEqual([
    { line: 3, field: 'prompt', message: expect.stringContaining('contains a line break') },
    { line: 6, field: 'prompt', message: 'is empty' },
  ]);
  expect(r.recordCount).toBe(4);
});

test('the same manifest comma-, semicolon- and tab-separated gives the same rows and keys', () => {
  const cells = [
    ['id', 'kind', 'prompt', 'images', 'mode', 'actions'],
    ['a', 'imagine', 'a chair', '', 'fast', 'U1'],
    ['b', 'blend', '', 'https://x.test/1.png|https://x.test/2.png', 'relax', ''],
  ];
  const as = (d: string) => cells.map((row) => row.join(d)).join('\n') + '\n';
  const comma = check('m.csv', as(','));
  const semicolon = check('m.csv', as(';'));
  const tab = check('m.tsv', as('\t'));
  expect([comma.delimiter, semicolon.delimiter, tab.delimiter]).toEqual([',', ';', '\t']);
  for (const r of [comma, semicolon, tab]) expect(r.issues).toEqual([]);
  expect(semicolon.rows).toEqual(comma.rows);
  expect(tab.rows).toEqual(comma.rows);
  expect(tab.rows.map((row) => [row.line, row.key, row.mode])).toEqual([
    [2, 'a', 'fast'],
    [3, 'b', 'relax'],
  ]);
});

test('a tab CSV keeps commas and semicolons in its prompts', () => {
  const r = check('m.csv', 'id\tprompt\tmode\na\ta chair, oak; studio light\tturbo\n');
  expect(r.delimiter).toBe('\t');
  expect(r.issues).toEqual([]);
  expect(r.rows.map((row) => [row.line, row.prompt, row.mode])).toEqual([[2, 'a chair, oak; studio light', 'turbo']]);
});

test('the delimiter that names the most known columns wins: a semicolon CSV with a comma in a column name', () => {
  // Split at commas the header is "id;prompt;size" and "cm;mode": no known column.
  const r = check('m.csv', 'id;prompt;size, cm;mode\na;a chair;40, 60;fast\n');
  expect(r.delimiter).toBe(';');
  expect(r.rows.map((row) => [row.prompt, row.mode, row.extra])).toEqual([['a chair', 'fast', { 'size, cm': '40, 60' }]]);
});

test('a header with no delimiter is one column, as before', () => {
  const r = check('m.csv', 'prompt\na chair, oak\n');
  expect(r.delimiter).toBe(',');
  expect(r.issues).toEqual([{ line: 2, field: '(row)', message: 'has 2 columns; the header has 1' }]);
  expect(check('m.csv', 'prompt\n"a chair, oak"\n').rows.map((row) => row.prompt)).toEqual(['a chair, oak']);
});

test('an ambiguous header is refused, naming each reading; --delimiter ";" reads it', () => {
  // Split at commas: "prompt;id" and "mode"; at semicolons: "prompt" and "id,mode". One known column either way.
  const text = 'prompt;id,mode\r\na chair, oak;r1,fast\r\na lamp;r2,relax\r\n';
  const r = check('m.csv', text);
  expect(r.rows).toEqual([]);
  expect(r.delimiter).toBeUndefined();
  expect(r.issues).toEqual([
    {
      line: 1,
      field: '(file)',
      message: 'the header can be read in 2 ways (comma-separated: mode; semicolon-separated: prompt); name the delimiter (--delimiter)',
    },
  ]);
  const given = check('m.csv', text, ';');
  expect(given.delimiter).toBe(';');
  expect(given.issues).toEqual([]);
  expect(given.rows.map((row) => [row.line, row.prompt, row.mode, row.extra])).toEqual([
    [2, 'a chair, oak', undefined, { 'id,mode': 'r1,fast' }],
    [3, 'a lamp', undefined, { 'id,mode': 'r2,relax' }],
  ]);
  // The other reading, given, is read that way: here its rows have no prompt, or too many cells.
  const other = check('m.csv', text, ',');
  expect(other.delimiter).toBe(',');
  expect(other.rows).toEqual([]);
  expect(other.issues).toEqual([
    { line: 2, field: '(row)', message: 'has 3 columns; the header has 2' },
    { line: 3, field: 'prompt', message: 'is empty' },
  ]);
});

test('a wrong --delimiter is a clear error that names the delimiter the file seems to use', () => {
  const text = 'id;prompt;mode\na;a chair;fast\n';
  expect(check('m.csv', text, '\t').issues).toEqual([
    {
      line: 1,
      field: '(file)',
      message: expect.stringMatching(
        /^split at tabs \(the delimiter given\), the header names none of the manifest's columns \(id, kind, .*\); semicolon-separated it names id, prompt, mode: is that the file's delimiter\?$/,
      ),
    },
  ]);
  // A delimiter that names some columns, where another names more: the file is most likely not what was asked.
  // (A worker reading the file without the delimiter would split it at commas: refused here, never run differently.)
  expect(check('m.csv', 'prompt;x,id,mode\na chair;b,r1,fast\n', ';').issues).toEqual([
    {
      line: 1,
      field: '(file)',
      message:
        "split at semicolons (the delimiter given), the header names prompt; comma-separated it names id, mode: is that the file's delimiter?",
    },
  ]);
  expect(check('m.json', '[{"prompt":"x"}]', ';').issues).toEqual([
    { line: 1, field: '(file)', message: 'a CSV delimiter (semicolon) was given, but the manifest is JSON, not CSV' },
  ]);
});

test('a header that no delimiter splits into known columns names the delimiters tried', () => {
  const r = check('m.csv', 'Artikel;Beschreibung;Modus\n1;ein Stuhl;fast\n');
  expect(r.delimiter).toBeUndefined();
  expect(r.issues).toEqual([
    {
      line: 1,
      field: '(file)',
      message: expect.stringMatching(
        /^the header names none of the manifest's columns \(id, kind, prompt, .*\), split at commas, semicolons or tabs; does the file start with its header row\?$/,
      ),
    },
  ]);
});

test('detection reads the header line only: quoted delimiters and later rows do not count', () => {
  // The header's commas are quoted; the rows are full of commas.
  const r = check('m.csv', '"id";"prompt";"a,b,c"\nx;"one, two, three";"1,2"\ny;"four, five";"3"\n');
  expect(r.delimiter).toBe(';');
  expect(r.rows.map((row) => [row.line, row.id, row.prompt])).toEqual([
    [2, 'x', 'one, two, three'],
    [3, 'y', 'four, five'],
  ]);
  // Blank lines before the header are skipped, as csv-parse skips them.
  expect(check('m.csv', '\r\n\r\nid;prompt\r\na;b\r\n').rows.map((row) => [row.line, row.prompt])).toEqual([[4, 'b']]);
});

test('a header whose quote never closes still says so, whatever the delimiters', () => {
  const r = check('m.csv', '"id;prompt\na;b\n');
  expect(r.issues).toEqual([{ line: 1, field: '(row)', message: expect.stringContaining('a quoted field is never closed') }]);
  // With a known column before the quote, the header's delimiter is chosen, and the quote is the problem.
  const s = check('m.csv', 'id;"prompt\na;b\n');
  expect(s.issues).toEqual([{ line: 1, field: '(row)', message: expect.stringContaining('a quoted field is never closed') }]);
});

test.each([
  [',', ','],
  ['comma', ','],
  [';', ';'],
  ['semicolon', ';'],
  ['tab', '\t'],
  ['TAB', '\t'],
  ['\\t', '\t'],
  ['\t', '\t'],
])('--delimiter %j is %j', (text, expected) => {
  expect(parseDelimiter(text)).toBe(expected);
});

test('an unknown --delimiter is refused', () => {
  expect(() => parseDelimiter('|')).toThrow('unknown delimiter "|"; use ",", ";" or "tab"');
});
