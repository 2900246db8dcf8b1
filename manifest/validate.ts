import type { S3Client } from '@aws-sdk/client-s3';
import { parseRecords, type CsvDelimiter, type ManifestFormat } from './parse';
import { MAX_FOLDER_BYTES, rowFolder } from './output';
import { normalizeRow, type ManifestRow, type RowIssue } from './row';
import { readManifestBytes } from './source';

export interface ValidatedManifest {
  ref: string;
  sha256: string;
  format: ManifestFormat;
  /** The delimiter a CSV was read with (the one given, or the one its header line shows); absent for JSON and JSONL. */
  delimiter?: CsvDelimiter;
  columns: string[];
  /** Rows that passed, in manifest order. Nothing is submitted unless `issues` is empty. */
  rows: ManifestRow[];
  /** Every problem, each with its line and field, sorted by line. */
  issues: RowIssue[];
  /** Records found in the file (valid or not): a cross-check against rows silently lost. */
  recordCount: number;
}

/** Reads and checks a whole manifest before anything is submitted. */
export async function validateManifest(ref: string, s3?: S3Client, delimiter?: CsvDelimiter): Promise<ValidatedManifest> {
  const { bytes, sha256 } = await readManifestBytes(ref, s3);
  return validateManifestBytes(ref, bytes, sha256, delimiter);
}

/**
 * `delimiter`: a CSV's delimiter, when one was given (`--delimiter`, recorded in the batch input); unset, it is chosen
 * from the header line alone, so every read of the same bytes splits them the same way.
 */
export function validateManifestBytes(ref: string, bytes: Buffer, sha256: string, delimiter?: CsvDelimiter): ValidatedManifest {
  const parsed = parseRecords(ref, bytes, { delimiter });
  const issues = [...parsed.issues];
  const rows: ManifestRow[] = [];
  const firstLineOfKey = new Map<string, number>();
  const firstLineOfFolder = new Map<string, number>();
  for (const record of parsed.records) {
    const { row, issues: rowIssues } = normalizeRow(record.values, record.line, parsed.columns);
    issues.push(...rowIssues);
    if (!row) continue;
    const first = firstLineOfKey.get(row.key);
    if (first !== undefined) {
      issues.push(
        row.id
          ? { line: row.line, field: 'id', message: `duplicate id "${row.id}" (first used on line ${first})` }
          : { line: row.line, field: '(row)', message: `identical to the row on line ${first}; give both an id to run each` },
      );
      continue;
    }
    firstLineOfKey.set(row.key, row.line);
    // Two rows in one folder would overwrite each other's images.
    const folder = rowFolder(row);
    const sharedWith = firstLineOfFolder.get(folder);
    if (sharedWith !== undefined) {
      issues.push({
        line: row.line,
        field: 'output',
        message: `puts the row in the folder "${folder.slice(0, 80)}", as line ${sharedWith} does; their images would overwrite each other (add {id} to the template)`,
      });
      continue;
    }
    if (Buffer.byteLength(folder) > MAX_FOLDER_BYTES) {
      issues.push({
        line: row.line,
        field: 'output',
        message: `makes a folder name of ${Buffer.byteLength(folder)} bytes; S3 keys allow ${MAX_FOLDER_BYTES} for it here`,
      });
      continue;
    }
    firstLineOfFolder.set(folder, row.line);
    rows.push(row);
  }
  const seen = new Set<string>();
  const unique = issues.filter((i) => {
    const k = `${i.line}\u0000${i.field}\u0000${i.message}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
  unique.sort((a, b) => a.line - b.line);
  return {
    ref,
    sha256,
    format: parsed.format,
    ...(parsed.delimiter !== undefined ? { delimiter: parsed.delimiter } : {}),
    columns: parsed.columns,
    rows,
    issues: unique,
    recordCount: parsed.records.length,
  };
}
