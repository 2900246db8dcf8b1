// A report shard: the result lines of one range of manifest rows, as one JSONL object (a header line, then one line
// per row in manifest order, each saying whether it is one of the batch's rows). The batch's end merges the shards
// into the report instead of reading every row's result. No timestamps: a retried write stores the same bytes.
import { createHash } from 'node:crypto';
import type { BatchCounts, RowKeysRef } from '../contracts/batch';
import type { ResultLine } from './results';

/** What a shard was written for; the merge takes a shard only when every field is what it expects. */
export interface ShardHeader {
  mjBatchReportShard: 1;
  batchId: string;
  /** The batch run that wrote it (`runTag`): a shard an earlier run under the same batch id left is not merged. */
  runTag: string | null;
  manifestSha256: string;
  manifestRows: number;
  /** Which rows are the batch's (`selectionOf`): the lines' `mine` flags hold for this selection only. */
  selection: string;
  index: number;
  offset: number;
  /** Result lines that follow. */
  rows: number;
}

export interface ShardLine {
  /** One of this batch's rows (counted), not only in the report because the manifest has it. */
  mine: boolean;
  line: ResultLine;
}

/** The batch's rows as one string: a redrive's keys object by its sha256, an `onlyKeys` list by its hash, or all rows. */
export function selectionOf(input: { onlyKeys?: string[]; onlyKeysRef?: RowKeysRef }): string {
  if (input.onlyKeysRef) return `ref:${input.onlyKeysRef.sha256}`;
  if (input.onlyKeys) return `keys:${createHash('sha256').update(JSON.stringify(input.onlyKeys)).digest('hex')}`;
  return 'all';
}

export function encodeShard(header: ShardHeader, lines: ShardLine[]): string {
  if (header.rows !== lines.length) throw new Error(`a shard header says ${header.rows} rows, but it has ${lines.length} lines`);
  return [header, ...lines].map((l) => `${JSON.stringify(l)}\n`).join('');
}

/** A shard's header and lines, or null when the bytes are not a whole shard (truncated, another format, not JSON). */
export function decodeShard(body: string): { header: ShardHeader; lines: ShardLine[] } | null {
  if (!body.endsWith('\n')) return null;
  const texts = body.slice(0, -1).split('\n');
  try {
    const header = JSON.parse(texts[0]!) as ShardHeader;
    if (header?.mjBatchReportShard !== 1 || header.rows !== texts.length - 1) return null;
    const lines = texts.slice(1).map((t) => JSON.parse(t) as ShardLine);
    if (!lines.every((l) => typeof l?.mine === 'boolean' && typeof l.line?.key === 'string')) return null;
    return { header, lines };
  } catch {
    return null;
  }
}

/** The counts of the batch's rows, by how they ended (anything not listed is a failure, MISSING too). */
export function countLines(lines: ResultLine[]): BatchCounts {
  const counts: BatchCounts = { total: lines.length, succeeded: 0, failed: 0, unknownSubmit: 0, skipped: 0, cancelled: 0 };
  for (const l of lines) {
    if (l.status === 'SUCCESS') counts.succeeded++;
    else if (l.status === 'SKIPPED') counts.skipped++;
    else if (l.status === 'UNKNOWN_SUBMIT') counts.unknownSubmit++;
    else if (l.status === 'CANCELLED') counts.cancelled++;
    else counts.failed++;
  }
  return counts;
}
