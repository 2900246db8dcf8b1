import { parse as parseCsv, type CsvError } from 'csv-parse/sync';
import type { RowIssue } from './row';

export type ManifestFormat = 'csv' | 'json' | 'jsonl';

/** One record as the file holds it, with the line it starts on. */
export interface RawRecord {
  line: number;
  values: Record<string, unknown>;
}

export interface ParsedRecords {
  format: ManifestFormat;
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

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function columnsOf(records: RawRecord[]): string[] {
  const seen = new Set<string>();
  for (const r of records) for (const k of Object.keys(r.values)) seen.add(k);
  return [...seen];
}

/** Splits the manifest into records, each with its starting line; anything unreadable becomes an issue with a line. */
export function parseRecords(ref: string, bytes: Buffer): ParsedRecords {
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const format = detectFormat(ref, text);
  if (!text.trim()) return { format, columns: [], records: [], issues: [{ line: 1, field: '(file)', message: 'the manifest is empty' }] };
  if (format === 'jsonl') return parseJsonl(text);
  if (format === 'json') return parseJsonArray(text);
  return parseCsvText(text);
}

function parseJsonl(text: string): ParsedRecords {
  const records: RawRecord[] = [];
  const issues: RowIssue[] = [];
  text.split(/\r\n|\n|\r/).forEach((lineText, i) => {
    if (!lineText.trim()) return;
    try {
      const value: unknown = JSON.parse(lineText);
      if (!value || typeof value !== 'object' || Array.isArray(value)) issues.push({ line: i + 1, field: '(row)', message: 'each line must be a JSON object' });
      else records.push({ line: i + 1, values: value as Record<string, unknown> });
    } catch (err) {
      issues.push({ line: i + 1, field: '(row)', message: `not valid JSON: ${(err as Error).message}` });
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
  try {
    value = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const pos = /position (\d+)/.exec(message);
    return { format: 'json', columns: [], records: [], issues: [{ line: pos ? lineAt(text, Number(pos[1])) : 1, field: '(file)', message: `not valid JSON: ${message}` }] };
  }
  if (!Array.isArray(value)) return { format: 'json', columns: [], records: [], issues: [{ line: 1, field: '(file)', message: 'a JSON manifest must be an array of objects' }] };
  const offsets = elementOffsets(text);
  const records: RawRecord[] = [];
  const issues: RowIssue[] = [];
  value.forEach((item, i) => {
    const line = offsets[i] === undefined ? 1 : lineAt(text, offsets[i]!);
    if (!item || typeof item !== 'object' || Array.isArray(item)) issues.push({ line, field: '(row)', message: `element ${i + 1} is not an object` });
    else records.push({ line, values: item as Record<string, unknown> });
  });
  return { format: 'json', columns: columnsOf(records), records, issues };
}

function parseCsvText(text: string): ParsedRecords {
  const issues: RowIssue[] = [];
  // Where the last good record ended: a record that fails to parse starts on the next line, wherever it is detected.
  let lastGoodEnd = 0;
  let rows: { record: string[]; info: { lines: number }; raw: string }[];
  try {
    rows = parseCsv(text, {
      info: true,
      raw: true,
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      // Mixed line endings are common in hand-edited files; any of them ends a record.
      record_delimiter: ['\r\n', '\n', '\r'],
      skip_records_with_error: true,
      on_record: (record: string[], context: { lines: number }) => {
        lastGoodEnd = context.lines;
        return record;
      },
      on_skip: (err: CsvError | undefined) => {
        if (!err) return;
        const end = (err as CsvError & { lines?: number }).lines ?? lastGoodEnd + 1;
        const start = Math.min(lastGoodEnd + 1, end);
        const span = end > start ? ` (lines ${start}–${end} could not be read as rows)` : '';
        issues.push({ line: start, field: '(row)', message: `${csvMessage(err)}${span}` });
        lastGoodEnd = end;
      },
    }) as unknown as { record: string[]; info: { lines: number }; raw: string }[];
  } catch (err) {
    const e = err as CsvError & { lines?: number };
    return { format: 'csv', columns: [], records: [], issues: [{ line: e.lines ?? 1, field: '(file)', message: csvMessage(e) }] };
  }
  if (rows.length === 0) return { format: 'csv', columns: [], records: [], issues: issues.length ? issues : [{ line: 1, field: '(file)', message: 'the manifest is empty' }] };
  const header = rows[0]!.record.map((h) => h.trim());
  const columns: string[] = [];
  header.forEach((name, i) => {
    if (!name) issues.push({ line: 1, field: `(column ${i + 1})`, message: 'the header has an empty column name' });
    else if (columns.includes(name)) issues.push({ line: 1, field: name, message: `column "${name}" appears twice in the header` });
    columns.push(name);
  });
  const records: RawRecord[] = [];
  for (const { record, info, raw } of rows.slice(1)) {
    // info.lines is where the record ends; its own line breaks (in quoted fields) say where it starts.
    const line = info.lines - (raw.replace(/(\r\n|\n|\r)$/, '').match(/\r\n|\n|\r/g)?.length ?? 0);
    if (record.length !== header.length) {
      issues.push({ line, field: '(row)', message: `has ${record.length} columns; the header has ${header.length}` });
      continue;
    }
    records.push({ line, values: Object.fromEntries(header.map((h, i) => [h, record[i]])) });
  }
  if (records.length === 0 && issues.length === 0) issues.push({ line: 1, field: '(file)', message: 'the manifest has a header but no rows' });
  return { format: 'csv', columns, records, issues };
}

function csvMessage(err: CsvError): string {
  switch (err.code) {
    case 'CSV_QUOTE_NOT_CLOSED': return 'a quoted field is never closed (a stray " swallows every row after it)';
    case 'CSV_INVALID_CLOSING_QUOTE': return 'a quote inside a field is not escaped (write "" for a literal ")';
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE': return 'text follows a closing quote';
    default: return err.message;
  }
}
