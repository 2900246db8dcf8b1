import { parse as parseCsv, type CsvError } from 'csv-parse/sync';
import { KNOWN_COLUMNS, type RowIssue } from './row';

// Control characters other than tab and line breaks, and U+FFFD (what bytes that are not UTF-8 decode to).
const NOT_TEXT = /[\u0000-\u0008\u000b-\u001f\u007f\ufffd]/;

export type ManifestFormat = 'csv' | 'json' | 'jsonl';

/** What separates a CSV's cells: a comma, or what spreadsheets export in many locales (a semicolon), or a tab. */
export type CsvDelimiter = ',' | ';' | '\t';
export const CSV_DELIMITERS: readonly CsvDelimiter[] = [',', ';', '\t'];
const DELIMITER_NAMES: Record<CsvDelimiter, string> = { ',': 'comma', ';': 'semicolon', '\t': 'tab' };

/** "comma", "semicolon", "tab": how messages name a delimiter (a tab is invisible when quoted). */
export function delimiterName(d: CsvDelimiter): string {
  return DELIMITER_NAMES[d];
}

/** A delimiter as a user writes it: `,` `;` `tab` or `\t` (or a tab itself), `comma`, `semicolon`; anything else is an Error. */
export function parseDelimiter(text: string): CsvDelimiter {
  const t = text === '\t' ? text : text.trim().toLowerCase();
  if (t === ',' || t === 'comma') return ',';
  if (t === ';' || t === 'semicolon') return ';';
  if (t === '\t' || t === '\\t' || t === 'tab') return '\t';
  throw new Error(`unknown delimiter "${text}"; use ",", ";" or "tab"`);
}

export interface ParseOptions {
  /** A CSV's delimiter; unset, it is chosen from the header line (see chooseDelimiter). */
  delimiter?: CsvDelimiter;
}

/** One record as the file holds it, with the line it starts on. */
export interface RawRecord {
  line: number;
  values: Record<string, unknown>;
}

export interface ParsedRecords {
  format: ManifestFormat;
  /** A CSV's delimiter (given, or detected from its header); absent for JSON and JSONL, and when none could be chosen. */
  delimiter?: CsvDelimiter;
  columns: string[];
  records: RawRecord[];
  issues: RowIssue[];
}

export function detectFormat(ref: string, text: string): ManifestFormat {
  const lower = ref.toLowerCase().replace(/\?.*$/, '');
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  if (lower.endsWith('.json')) return 'json';
  const first = text.trimStart()[0];
  return first === '[' ? 'json' : first === '{' ? 'jsonl' : 'csv';
}

/** offset → 1-based line, for text whose line breaks are all "\n" (see parseRecords); one pass, then a binary search per call. */
function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

function columnsOf(records: RawRecord[]): string[] {
  const seen = new Set<string>();
  for (const r of records) for (const k of Object.keys(r.values)) seen.add(k);
  return [...seen];
}

/** Splits the manifest into records, each with its starting line; anything unreadable becomes an issue with a line. */
export function parseRecords(ref: string, bytes: Buffer, options: ParseOptions = {}): ParsedRecords {
  // UTF-16 (Excel's "Unicode text") decoded as UTF-8 is a NUL between every character: say what it is instead.
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return {
      format: detectFormat(ref, ''),
      columns: [],
      records: [],
      issues: [
        { line: 1, field: '(file)', message: 'the file is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8' },
      ],
    };
  }
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // One kind of line break from here on ("\r\n", "\n" and a lone "\r" each end one line, as in an editor), so every
  // line count below agrees with the file: csv-parse counts a "\r\n" inside a quoted field as two lines.
  text = text.replace(/\r\n?/g, '\n');
  const format = detectFormat(ref, text);
  if (!text.trim()) return { format, columns: [], records: [], issues: [{ line: 1, field: '(file)', message: 'the manifest is empty' }] };
  if (format !== 'csv' && options.delimiter !== undefined)
    return {
      format,
      columns: [],
      records: [],
      issues: [
        {
          line: 1,
          field: '(file)',
          message: `a CSV delimiter (${delimiterName(options.delimiter)}) was given, but the manifest is ${format.toUpperCase()}, not CSV`,
        },
      ],
    };
  if (format === 'jsonl') return parseJsonl(text);
  if (format === 'json') return parseJsonArray(text);
  // A header of binary junk is no header at any delimiter: parseCsvText says what it is, as it always did.
  if (NOT_TEXT.test(text.replace(/^\n+/, '').split('\n', 1)[0]!)) return parseCsvText(text, options.delimiter ?? ',');
  const chosen = chooseDelimiter(text, options.delimiter);
  if ('delimiter' in chosen) return { ...parseCsvText(text, chosen.delimiter), delimiter: chosen.delimiter };
  if (!chosen.noKnownColumn) return { format: 'csv', columns: [], records: [], issues: [chosen.issue] };
  // No delimiter splits the header into a known column: read it as before (at commas), so what csv-parse finds wrong
  // with the file (an unclosed quote in the header, say) is said too, and "none of the columns" names all three tried.
  const parsed = parseCsvText(text, ',', CSV_DELIMITERS);
  return parsed.columns.length ? { ...parsed, delimiter: ',' } : parsed;
}

const MAX_HEADER_CHARS = 1 << 20;

/**
 * The header record's cells as csv-parse would split them at `d` (a `"` opens a quoted field only at a cell's
 * start, `""` is a literal quote inside one), trimmed: from the first non-empty line to the first line break
 * outside quotes. `text`'s line breaks are all "\n" (see parseRecords).
 */
export function headerCells(text: string, d: CsvDelimiter): string[] {
  let i = 0;
  while (text[i] === '\n') i++; // csv-parse skips empty lines before the header too
  // A header is short: past this, a quote that never closes is swallowing the file (csv-parse says so).
  const end = Math.min(text.length, i + MAX_HEADER_CHARS);
  const cells: string[] = [];
  let cell = '';
  let atStart = true;
  for (; i < end; i++) {
    const c = text[i]!;
    if (atStart && c === '"') {
      atStart = false;
      for (i++; i < end; i++) {
        if (text[i] !== '"') cell += text[i];
        else if (text[i + 1] === '"') cell += text[++i];
        else break;
      }
      continue;
    }
    if (c === '\n') break;
    if (c === d) {
      cells.push(cell.trim());
      cell = '';
      atStart = true;
      continue;
    }
    cell += c;
    atStart = false;
  }
  cells.push(cell.trim());
  return cells;
}

function knownIn(cells: string[]): string[] {
  return [...new Set(cells.filter((c) => (KNOWN_COLUMNS as readonly string[]).includes(c)))];
}

/** A delimiter's reading of the header: how many cells, and which of them are the manifest's columns. */
interface Reading {
  delimiter: CsvDelimiter;
  cells: string[];
  known: string[];
}

function noKnownColumnMessage(tried: readonly CsvDelimiter[]): string {
  const names = tried.map((d) => `${delimiterName(d)}s`).join(', ');
  return `the header names none of the manifest's columns (${KNOWN_COLUMNS.join(', ')}), split at ${names.replace(/, ([^,]*)$/, ' or $1')}; does the file start with its header row?`;
}

const readingText = (r: Reading) =>
  `${delimiterName(r.delimiter)}-separated it names ${r.known.length ? r.known.join(', ') : 'none of them'}`;

/**
 * The CSV's delimiter, from its header line only (so every read of the same bytes, by the client and by the worker's
 * activities, splits the same way): of the delimiters the header holds outside quotes, the one that splits it into the
 * most known column names; a header holding none of them is one column (split at commas, as before). Two delimiters
 * that name as many known columns are ambiguous, and none that names one is unknown: each is an issue naming what was
 * tried. A given delimiter wins, unless another one names more of the manifest's columns (the file is then most likely
 * not what was asked, and a worker reading it without the delimiter would split it differently).
 */
export function chooseDelimiter(
  text: string,
  given?: CsvDelimiter,
): { delimiter: CsvDelimiter } | { issue: RowIssue; noKnownColumn?: true } {
  const readings: Reading[] = CSV_DELIMITERS.map((delimiter) => {
    const cells = headerCells(text, delimiter);
    return { delimiter, cells, known: knownIn(cells) };
  });
  // A delimiter the header does not hold splits it into one cell: it is a candidate only when no delimiter is held.
  const held = readings.filter((r) => r.cells.length > 1);
  const candidates = held.length ? held : readings.slice(0, 1);
  const best = Math.max(...candidates.map((r) => r.known.length));
  const columns = `the manifest's columns (${KNOWN_COLUMNS.join(', ')})`;
  const issue = (message: string): { issue: RowIssue } => ({ issue: { line: 1, field: '(file)', message } });
  if (given !== undefined) {
    const mine = readings.find((r) => r.delimiter === given)!;
    const better = candidates.filter((r) => r.known.length > mine.known.length);
    if (mine.known.length === 0)
      return issue(
        `split at ${delimiterName(given)}s (the delimiter given), the header names none of ${columns}${
          better.length
            ? `; ${better.map(readingText).join('; ')}: is that the file's delimiter?`
            : '; does the file start with its header row?'
        }`,
      );
    if (better.length > 0)
      return issue(
        `split at ${delimiterName(given)}s (the delimiter given), the header names ${mine.known.join(', ')}; ${better
          .map(readingText)
          .join('; ')}: is that the file's delimiter?`,
      );
    return { delimiter: given };
  }
  if (best === 0) return { ...issue(noKnownColumnMessage(CSV_DELIMITERS)), noKnownColumn: true };
  const top = candidates.filter((r) => r.known.length === best);
  if (top.length > 1)
    return issue(
      `the header can be read in ${top.length} ways (${top
        .map((r) => `${delimiterName(r.delimiter)}-separated: ${r.known.join(', ')}`)
        .join('; ')}); name the delimiter (--delimiter)`,
    );
  return { delimiter: top[0]!.delimiter };
}

function parseJsonl(text: string): ParsedRecords {
  const records: RawRecord[] = [];
  const issues: RowIssue[] = [];
  text.split('\n').forEach((lineText, i) => {
    if (!lineText.trim()) return;
    try {
      const value: unknown = JSON.parse(lineText);
      if (!value || typeof value !== 'object' || Array.isArray(value))
        issues.push({ line: i + 1, field: '(row)', message: 'each line must be a JSON object' });
      else records.push({ line: i + 1, values: value as Record<string, unknown> });
    } catch (err) {
      const syntax = jsonSyntaxError(lineText);
      issues.push({
        line: i + 1,
        field: '(row)',
        message: syntax ? `not valid JSON at column ${syntax.offset + 1}: ${syntax.reason}` : `not valid JSON: ${(err as Error).message}`,
      });
    }
  });
  return { format: 'jsonl', columns: columnsOf(records), records, issues };
}

/** Offsets where each top-level element of a JSON array starts (strings and nesting skipped). */
function elementOffsets(text: string): number[] {
  const offsets: number[] = [];
  let depth = 0;
  let inString = false;
  let expectingElement = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (/\s/.test(c)) continue;
    if (depth === 1 && expectingElement && c !== ']') {
      offsets.push(i);
      expectingElement = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectingElement = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectingElement = true;
  }
  return offsets;
}

function parseJsonArray(text: string): ParsedRecords {
  let value: unknown;
  const lineAt = lineIndex(text);
  try {
    value = JSON.parse(text);
  } catch (err) {
    // V8's messages give no position for some errors ("Unexpected token", "Unexpected end") and paste the source into others.
    const syntax = jsonSyntaxError(text);
    const issue: RowIssue = syntax
      ? {
          line: lineAt(syntax.offset),
          field: '(file)',
          message: `not valid JSON at column ${syntax.offset - text.lastIndexOf('\n', syntax.offset - 1)}: ${syntax.reason}`,
        }
      : { line: 1, field: '(file)', message: `not valid JSON: ${(err as Error).message}` };
    return { format: 'json', columns: [], records: [], issues: [issue] };
  }
  if (!Array.isArray(value))
    return {
      format: 'json',
      columns: [],
      records: [],
      issues: [{ line: 1, field: '(file)', message: 'a JSON manifest must be an array of objects' }],
    };
  // As a CSV with only its header: a manifest with nothing to run is a mistake (a wrong export, a filter that matched nothing).
  if (value.length === 0)
    return {
      format: 'json',
      columns: [],
      records: [],
      issues: [{ line: 1, field: '(file)', message: 'the manifest is an empty JSON array: it has no rows' }],
    };
  const offsets = elementOffsets(text);
  const records: RawRecord[] = [];
  const issues: RowIssue[] = [];
  value.forEach((item, i) => {
    const line = offsets[i] === undefined ? 1 : lineAt(offsets[i]!);
    if (!item || typeof item !== 'object' || Array.isArray(item))
      issues.push({ line, field: '(row)', message: `element ${i + 1} is not an object` });
    else records.push({ line, values: item as Record<string, unknown> });
  });
  return { format: 'json', columns: columnsOf(records), records, issues };
}

/** `tried`: the delimiters the header was tried at, for the message when it names none of the columns. */
function parseCsvText(text: string, delimiter: CsvDelimiter, tried: readonly CsvDelimiter[] = [delimiter]): ParsedRecords {
  const issues: RowIssue[] = [];
  // Where the last good record ended: a record that fails to parse starts on the next line, wherever it is detected.
  let lastGoodEnd = 0;
  let lastSkip: { raw: string; start: number; issue: RowIssue; message: string } | undefined;
  const lines = text.split('\n');
  let rows: { record: string[]; info: { lines: number }; raw: string }[];
  try {
    rows = parseCsv(text, {
      info: true,
      raw: true,
      bom: true,
      delimiter,
      skip_empty_lines: true,
      relax_column_count: true,
      // Every line break is a "\n" by now (parseRecords), whatever mix the file had.
      record_delimiter: '\n',
      skip_records_with_error: true,
      on_record: (record: string[], context: { lines: number }) => {
        lastGoodEnd = context.lines;
        lastSkip = undefined;
        return record;
      },
      on_skip: (err: CsvError | undefined, raw?: string) => {
        if (!err) return;
        const end = (err as CsvError & { lines?: number }).lines ?? lastGoodEnd + 1;
        // After a bad closing quote csv-parse reads the same record again, still inside the quote: one problem, not two.
        const again = lastSkip !== undefined && raw?.startsWith(lastSkip.raw) === true ? lastSkip : undefined;
        let start = again ? again.start : Math.min(lastGoodEnd + 1, end);
        // Blank lines before it are skipped, not part of it.
        while (!again && start < end && lines[start - 1] === '') start++;
        const span = end > start ? ` (lines ${start}–${end} could not be read as rows)` : '';
        // In binary junk a stray quote is an accident: the junk is what is wrong.
        const message = NOT_TEXT.test(lines[start - 1] ?? '')
          ? 'is not text: it holds control characters or bytes that are not UTF-8 (binary data?)'
          : csvMessage(err);
        if (again) again.issue.message = `${again.message}${span}`;
        else {
          const issue: RowIssue = { line: start, field: '(row)', message: `${message}${span}` };
          issues.push(issue);
          lastSkip = raw === undefined ? undefined : { raw, start, issue, message };
        }
        lastGoodEnd = end;
      },
    }) as unknown as { record: string[]; info: { lines: number }; raw: string }[];
  } catch (err) {
    const e = err as CsvError & { lines?: number };
    return { format: 'csv', columns: [], records: [], issues: [{ line: e.lines ?? 1, field: '(file)', message: csvMessage(e) }] };
  }
  if (rows.length === 0)
    return {
      format: 'csv',
      columns: [],
      records: [],
      issues: issues.length ? issues : [{ line: 1, field: '(file)', message: 'the manifest is empty' }],
    };
  const header = rows[0]!.record.map((h) => h.trim());
  // Without a readable header no row can be read: say so once, rather than "prompt is empty" on every line.
  const refused = (message: string) => ({
    format: 'csv' as const,
    columns: [],
    records: [],
    issues: [...issues, { line: 1, field: '(file)', message }],
  });
  if (header.some((h) => NOT_TEXT.test(h))) {
    return refused(
      'line 1 is not a CSV header: it holds control characters or bytes that are not UTF-8 (a binary file, or text in another encoding?)',
    );
  }
  if (!header.some((h) => (KNOWN_COLUMNS as readonly string[]).includes(h))) return refused(noKnownColumnMessage(tried));
  const columns: string[] = [];
  header.forEach((name, i) => {
    if (!name) issues.push({ line: 1, field: `(column ${i + 1})`, message: 'the header has an empty column name' });
    else if (columns.includes(name)) issues.push({ line: 1, field: name, message: `column "${name}" appears twice in the header` });
    columns.push(name);
  });
  const records: RawRecord[] = [];
  for (const { record, info, raw } of rows.slice(1)) {
    // info.lines is where the record ends; its own line breaks (in quoted fields) say where it starts. Its raw text
    // also holds the blank lines skipped before it, which are not part of it.
    const line = info.lines - (raw.replace(/^\n+/, '').replace(/\n$/, '').match(/\n/g)?.length ?? 0);
    if (record.length !== header.length) {
      // A line of binary junk has the wrong number of columns too, but that is not what is wrong with it.
      const binary = record.some((cell) => NOT_TEXT.test(cell));
      issues.push({
        line,
        field: '(row)',
        message: binary
          ? 'is not text: it holds control characters or bytes that are not UTF-8 (binary data?)'
          : `has ${record.length} columns; the header has ${header.length}`,
      });
      continue;
    }
    records.push({ line, values: Object.fromEntries(header.map((h, i) => [h, record[i]])) });
  }
  if (records.length === 0 && issues.length === 0)
    issues.push({ line: 1, field: '(file)', message: 'the manifest has a header but no rows' });
  return { format: 'csv', columns, records, issues };
}

function csvMessage(err: CsvError): string {
  switch (err.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted field is never closed (a stray " swallows every row after it)';
    case 'CSV_INVALID_CLOSING_QUOTE':
      return 'a quote inside a field is not escaped (write "" for a literal ")';
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return 'text follows a closing quote';
    case 'INVALID_OPENING_QUOTE':
      return 'a quote in the middle of an unquoted field (quote the whole field, and write "" for a literal ")';
    default:
      return err.message;
  }
}

/** A character as a message shows it: itself when visible, else its code point (a BOM or a NUL quoted is invisible). */
function shownChar(text: string, at: number): string {
  if (at >= text.length) return 'the end of the file';
  const cp = text.codePointAt(at)!;
  const code = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  if (cp === 0x22) return 'a "';
  if (cp === 0xfeff) return `${code} (a byte order mark: were files joined together?)`;
  if (cp === 0xfffd) return `${code} (bytes that are not UTF-8: binary data?)`;
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029) return `the control character ${code} (binary data?)`;
  return `"${String.fromCodePoint(cp)}"`;
}

/**
 * Where JSON.parse stopped, and why, in words: only called once JSON.parse has refused `text`. A missing "," or
 * closing bracket is reported right after the value it should follow (the line to fix), not where the next one starts.
 * Iterative, so deep nesting cannot overflow the stack.
 */
export function jsonSyntaxError(text: string): { offset: number; reason: string } | undefined {
  const closers: string[] = [];
  let i = 0;
  let lastComma = -1;
  let valueEnd = 0;
  let expect: 'value' | 'firstValue' | 'key' | 'firstKey' | 'colon' | 'next' = 'value';
  const token = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
  const skipString = (): { offset: number; reason: string } | undefined => {
    const start = i++;
    for (;;) {
      if (i >= text.length) return { offset: start, reason: 'a string is never closed (a missing ")' };
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return undefined;
      }
      if (c === 0x5c) {
        const next = text[i + 1];
        if (next !== undefined && '"\\/bfnrt'.includes(next)) i += 2;
        else if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else return { offset: i, reason: `a string has a bad escape "\\${next ?? ''}" (write \\\\ for a backslash)` };
      } else if (c === 0x0a) return { offset: start, reason: 'a string is not closed on its line (a missing or stray ")' };
      else if (c < 0x20) return { offset: i, reason: `a string contains ${shownChar(text, i)}` };
      else i++;
    }
  };
  for (;;) {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
    const c = text[i];
    if (expect === 'value' || expect === 'firstValue') {
      if (c === ']' && expect === 'firstValue') {
        closers.pop();
        i++;
        valueEnd = i;
        expect = 'next';
      } else if (c === '[' || c === '{') {
        closers.push(c === '[' ? ']' : '}');
        i++;
        expect = c === '[' ? 'firstValue' : 'firstKey';
      } else if (c === '"') {
        const bad = skipString();
        if (bad) return bad;
        valueEnd = i;
        expect = 'next';
      } else {
        token.lastIndex = i;
        if (c !== undefined && token.test(text)) {
          i = token.lastIndex;
          valueEnd = i;
          expect = 'next';
        } else if (c === ']' && closers[closers.length - 1] === ']' && lastComma >= 0 && !text.slice(lastComma + 1, i).trim())
          return { offset: lastComma, reason: 'a comma before "]" (JSON allows no trailing comma)' };
        else if (c === undefined)
          return {
            offset: Math.max(0, valueEnd - 1),
            reason: closers.length ? 'the file ends before every "[" and "{" is closed' : 'there is no value',
          };
        else
          return {
            offset: i,
            reason: `expected a value, found ${shownChar(text, i)}${c === "'" ? ' (JSON needs double quotes)' : /[A-Za-z]/.test(c) ? ' (text must be in double quotes)' : ''}`,
          };
      }
    } else if (expect === 'key' || expect === 'firstKey') {
      if (c === '}' && expect === 'firstKey') {
        closers.pop();
        i++;
        valueEnd = i;
        expect = 'next';
      } else if (c === '"') {
        const bad = skipString();
        if (bad) return bad;
        expect = 'colon';
      } else if (c === '}') return { offset: lastComma, reason: 'a comma before "}" (JSON allows no trailing comma)' };
      else
        return { offset: Math.min(i, text.length - 1), reason: `expected a property name in double quotes, found ${shownChar(text, i)}` };
    } else if (expect === 'colon') {
      if (c !== ':')
        return { offset: Math.min(i, text.length - 1), reason: `expected ":" after a property name, found ${shownChar(text, i)}` };
      i++;
      expect = 'value';
    } else {
      const closer = closers[closers.length - 1];
      if (closer === undefined)
        return c === undefined ? undefined : { offset: i, reason: `${shownChar(text, i)} after the end of the JSON value` };
      if (c === ',') {
        lastComma = i++;
        expect = closer === ']' ? 'value' : 'key';
      } else if (c === closer) {
        closers.pop();
        i++;
        valueEnd = i;
      } else if (c === undefined)
        return { offset: Math.max(0, valueEnd - 1), reason: `the file ends before every "[" and "{" is closed (a missing "${closer}")` };
      else
        return {
          offset: valueEnd - 1,
          reason: `expected "," or "${closer}" after this value, found ${shownChar(text, i)}${/["{[\d-]/.test(c) ? ' (a missing comma?)' : ''}`,
        };
    }
  }
}
