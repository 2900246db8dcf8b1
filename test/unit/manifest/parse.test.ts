import { createHash } from 'node:crypto';
import { jsonSyntaxError } from '../../../manifest/parse';
import { validateManifestBytes } from '../../../manifest/validate';

// Line numbers and messages for input found broken by the bad-input fuzz test (test/integration/bad-input-fuzz.test.ts).

function check(name: string, text: string | Buffer) {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  return validateManifestBytes(name, bytes, createHash('sha256').update(bytes).digest('hex'));
}

const at = (r: ReturnType<typeof check>) => r.issues.map((i) => [i.line, i.field]);

test('a CRLF inside a quoted field does not shift the line numbers of the rows after it', () => {
  // csv-parse counts a "\r\n" inside quotes as two lines: row c was reported on line 6, the merged row on line 4.
  const r = check('m.csv', 'id,prompt\r\na,x\r\nb,"two\r\nlines"\r\nc,\r\n');
  expect(at(r)).toEqual([
    [3, 'prompt'],
    [5, 'prompt'],
  ]);
});

test('an unclosed quote in a CRLF file names the lines it swallowed, not twice as many', () => {
  const r = check('m.csv', 'id,prompt\r\na,x\r\nb,"unclosed\r\nc,y\r\n');
  expect(r.issues).toEqual([{ line: 3, field: '(row)', message: expect.stringContaining('(lines 3–4 could not be read as rows)') }]);
});

test('a bad closing quote is one problem on its own line, not a second "never closed" on the next (valid) row', () => {
  // csv-parse reads the record again from its start, still inside the quote, and swallows the rest of the file.
  const r = check('m.csv', 'id,prompt\na,x\nb,"5" screen\nc,y\nd,z\n');
  expect(r.issues).toEqual([
    {
      line: 3,
      field: '(row)',
      message: expect.stringMatching(/^a quote inside a field is not escaped .*\(lines 3–5 could not be read as rows\)$/),
    },
  ]);
  // With an even number of quotes it recovers after the row: one issue, and the rows after it are read.
  const even = check('m.csv', 'id,prompt\na,x\nb,"say "hi" now"\nc,y\nd,z\n');
  expect(even.issues).toEqual([{ line: 3, field: '(row)', message: expect.stringContaining('a quote inside a field is not escaped') }]);
  expect(even.rows.map((row) => row.id)).toEqual(['a', 'c', 'd']);
});

test('blank lines before a row do not move its line number onto the first of them', () => {
  const r = check('m.csv', 'id,prompt\na,x\n\n\nb,\n\nc,"two\nlines"\nd,\n');
  expect(at(r)).toEqual([
    [5, 'prompt'],
    [7, 'prompt'],
    [9, 'prompt'],
  ]);
});

test('a broken record after blank lines is reported on its own line, not on the first blank one', () => {
  const r = check('m.csv', 'id,prompt\na,x\n\n\nb,"unclosed\nc,y\n');
  expect(r.issues).toEqual([{ line: 5, field: '(row)', message: expect.stringContaining('(lines 5–6 could not be read as rows)') }]);
});

test('a line of binary junk in a CSV says so, not "has 1 columns"', () => {
  const r = check('m.csv', 'id,kind,prompt\na,imagine,x\n\u0001\u0002junk\nc,imagine,y\n');
  expect(r.issues).toEqual([{ line: 3, field: '(row)', message: expect.stringContaining('binary data') }]);
});

test('a quote in the middle of an unquoted field gets a plain message', () => {
  const r = check('m.csv', 'id,prompt\na,x\nb,5" screen\nc,y\n');
  expect(r.issues).toEqual([{ line: 3, field: '(row)', message: expect.stringContaining('a quote in the middle of an unquoted field') }]);
  expect(r.recordCount).toBe(2);
});

test('JSON arrays with CR-only or mixed line endings report the line an element starts on', () => {
  expect(at(check('m.json', '[\r{"id":"a","prompt":"x"},\r{"id":"b","prompt":""}\r]'))).toEqual([[3, 'prompt']]);
  expect(at(check('m.json', '[\r\n{"id":"a","prompt":"x"},\n{"id":"b","prompt":"y"},\r{"id":"c","prompt":""}\r\n]'))).toEqual([
    [4, 'prompt'],
  ]);
});

test.each([
  // V8 gives no position for these: they were all reported on line 1.
  ['a trailing comma', '[\n{"id":"a","prompt":"x"},\n{"id":"b","prompt":"y"},\n]', 3, 'a comma before "]"'],
  [
    'an unquoted value',
    '[\n{"id":"a","prompt":"x"},\n{"id":"b","prompt":chair}\n]',
    3,
    'expected a value, found "c" (text must be in double quotes)',
  ],
  [
    'a truncated file',
    '[\n{"id":"a","prompt":"x"},\n{"id":"b","prompt":"y"}\n',
    3,
    'the file ends before every "[" and "{" is closed (a missing "]")',
  ],
  // A missing comma or brace belongs to the value it should follow, not to the next line.
  [
    'a missing comma',
    '[\n{"id":"a","prompt":"x"}\n{"id":"b","prompt":"y"}\n]',
    2,
    'expected "," or "]" after this value, found "{" (a missing comma?)',
  ],
  [
    'an unescaped quote',
    '[\n{"id":"a","prompt":"x"},\n{"id":"b","prompt":"say "hi""}\n]',
    3,
    'expected "," or "}" after this value, found "h"',
  ],
  [
    'an unclosed string',
    '[\n{"id":"a","prompt":"x"},\n{"id":"b","prompt":"y},\n{"id":"c","prompt":"z"}\n]',
    3,
    'a string is not closed on its line',
  ],
  ['single quotes', '[\n{"id":"a","prompt":"x"},\n{\'id\':\'b\'}\n]', 3, 'found "\'"'],
])('JSON syntax error, %s: the line, and a message without the source pasted in', (_, text, line, message) => {
  const r = check('m.json', text);
  expect(r.issues).toEqual([{ line, field: '(file)', message: expect.stringContaining(message) }]);
  expect(r.issues[0]!.message).not.toMatch(/\n|is not valid JSON|position \d+/);
});

test('JSONL: a byte order mark at the start of a later line (joined files) is named, not shown as an invisible character', () => {
  const r = check('m.jsonl', '{"id":"a","prompt":"x"}\n\ufeff{"id":"b","prompt":"y"}\n');
  expect(r.issues).toEqual([{ line: 2, field: '(row)', message: expect.stringContaining('U+FEFF (a byte order mark') }]);
});

test('jsonSyntaxError agrees with JSON.parse, and survives deep nesting', () => {
  for (const ok of ['[]', '{"a":[1,-2.5e3,true,false,null,"\\u00e9\\n"]}', ' "x" ']) expect(jsonSyntaxError(ok)).toBeUndefined();
  expect(jsonSyntaxError('['.repeat(200_000))).toEqual({ offset: 0, reason: expect.stringContaining('ends before') });
});

test('a UTF-16 file says so, instead of "the manifest has a header but no rows"', () => {
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('id,prompt\na,x\n', 'utf16le')]);
  expect(check('m.csv', utf16).issues).toEqual([{ line: 1, field: '(file)', message: expect.stringContaining('UTF-16') }]);
});

test('a binary file read as CSV is one error on line 1, not "prompt is empty" on every line', () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x0a, 0x01, 0x02]);
  expect(check('m.csv', png).issues).toEqual([{ line: 1, field: '(file)', message: expect.stringContaining('not a CSV header') }]);
});

test('a binary file whose first line happens to hold a quote is still called binary, not a quoting mistake', () => {
  const jpeg = Buffer.concat([
    Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]),
    Buffer.from('JFIF x"y z\n'),
    Buffer.from([0x01, 0x02, 0x0a]),
  ]);
  const r = check('m.csv', jpeg);
  expect(r.issues[0]).toEqual({ line: 1, field: '(row)', message: expect.stringContaining('binary data') });
  expect(r.issues.map((i) => i.message).join('\n')).not.toContain('quote');
});

test('a CSV without its header row is one error on line 1', () => {
  const r = check('m.csv', 'chair-1,a red chair,U1\nchair-2,a blue chair,U2\n');
  expect(r.issues).toEqual([{ line: 1, field: '(file)', message: expect.stringContaining('does the file start with its header row?') }]);
});

test('bytes that are not UTF-8 in a prompt (binary junk, a Latin-1 file) are refused, not sent garbled', () => {
  const latin1 = Buffer.concat([Buffer.from('id,prompt\na,x\nb,caf'), Buffer.from([0xe9]), Buffer.from(' au lait\n')]);
  expect(check('m.csv', latin1).issues).toEqual([{ line: 3, field: 'prompt', message: expect.stringContaining('not UTF-8') }]);
});

test('an empty JSON array is refused, as a CSV with only its header is', () => {
  expect(check('m.json', '[ ]').issues).toEqual([{ line: 1, field: '(file)', message: expect.stringContaining('empty JSON array') }]);
});
