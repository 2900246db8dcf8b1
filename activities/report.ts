import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import { reportKeys, reportShardKey } from '../contracts/bucket-layout';
import {
  reportShardCount,
  reportShardRange,
  type BatchInput,
  type ReportResult,
  type ReportShardRange,
  type ReportShardResult,
  type RowKeysRef,
} from '../contracts/batch';
import { readManifestBytes } from '../manifest/source';
import { validateManifestBytes, type ValidatedManifest } from '../manifest/validate';
import { contactSheet } from '../report/contact-sheet';
import { writeContactSheet } from '../report/contact-sheet-store';
import { mapLimit } from '../report/map-limit';
import { resultLine, toCsv, toJsonl } from '../report/results';
import { loadRowRecord } from '../report/row-results';
import { countLines, decodeShard, encodeShard, selectionOf, type ShardHeader, type ShardLine } from '../report/shards';
import { getObjectOrNull } from '../storage/objects';
import { rowKeysCache, toRowRef, wantedRowKeys, type RowKeysCache } from './manifest';

/** What the report activities need to know of a batch. */
export interface ReportInput {
  batchId: string;
  manifestRef: string;
  sha256: string;
  outputPrefix: string;
  /** A redrive's rows (inputs from before `onlyKeysRef`). */
  onlyKeys?: string[];
  /** A redrive's rows, as the keys object the batch input names; it takes precedence over `onlyKeys`. */
  onlyKeysRef?: RowKeysRef;
  /** The batch input's `manifest.delimiter`, when `run --delimiter` named one; unset, it is chosen from the header. */
  delimiter?: BatchInput['manifest']['delimiter'];
  /**
   * Names the batch run that writes the shards (the same in every continue-as-new run, e.g. its start time): the merge
   * rebuilds a shard another run under the same batch id left, rather than merge lines older than this run's rows.
   */
  runTag?: string;
}

export interface WriteReportInput extends ReportInput {
  /**
   * How many shards the batch wrote (`writeReportShard`): set, the report is merged from shards (every range of the
   * manifest, `reportShardRange`; one not there is rebuilt). Unset: read from every row's result, as before shards.
   */
  shards?: number;
}

export interface WriteReportShardInput extends ReportInput {
  shard: ReportShardRange;
}

/** Row results read at once (a shard's write), and shards read at once (the merge). */
const ROW_READS = 16;
const SHARD_READS = 4;

const put = (s3: S3Client, bucket: string, key: string, body: string, type: string) =>
  s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(body), ContentType: type }));

export function createReportActivities({ s3, bucket, rowKeys = rowKeysCache }: { s3: S3Client; bucket: string; rowKeys?: RowKeysCache }) {
  // The last manifest a shard or a merge parsed: a batch's shards all read the same one, pinned by its sha256.
  let parsed: { id: string; manifest: ValidatedManifest } | undefined;

  async function readManifest(input: ReportInput, reuse: boolean): Promise<ValidatedManifest> {
    const id = JSON.stringify([input.manifestRef, input.sha256, input.delimiter ?? '']);
    if (reuse && parsed?.id === id) return parsed.manifest;
    const { bytes, sha256 } = await readManifestBytes(input.manifestRef, s3);
    if (sha256 !== input.sha256)
      throw ApplicationFailure.nonRetryable(`${input.manifestRef} changed since the batch started`, 'Manifest.changed');
    const manifest = validateManifestBytes(input.manifestRef, bytes, sha256, input.delimiter);
    if (reuse) parsed = { id, manifest };
    return manifest;
  }

  /** The result lines of manifest positions [offset, offset + limit), from the rows' stored results. */
  async function linesFromRowResults(
    input: ReportInput,
    manifest: ValidatedManifest,
    wanted: ReadonlySet<string> | undefined,
    offset: number,
    limit: number,
    reads: number,
  ): Promise<ShardLine[]> {
    const rows = manifest.rows.slice(offset, offset + limit).map((r) => toRowRef(input.outputPrefix, r));
    const records = await mapLimit(rows, reads, (row) => loadRowRecord(s3, bucket, input.outputPrefix, row.key));
    return rows.map((row, i) => ({ mine: !wanted || wanted.has(row.key), line: resultLine(row, records[i] ?? null) }));
  }

  const headerOf = (input: ReportInput, manifest: ValidatedManifest, index: number, offset: number, rows: number): ShardHeader => ({
    mjBatchReportShard: 1,
    batchId: input.batchId,
    runTag: input.runTag ?? null,
    manifestSha256: input.sha256,
    manifestRows: manifest.rows.length,
    selection: selectionOf(input),
    index,
    offset,
    rows,
  });

  /** Writes one shard from its rows' results (nothing for a range past the manifest's end) and returns its lines. */
  async function writeShard(
    input: ReportInput,
    manifest: ValidatedManifest,
    wanted: ReadonlySet<string> | undefined,
    range: ReportShardRange,
    reads: number,
  ): Promise<ShardLine[]> {
    const lines = await linesFromRowResults(input, manifest, wanted, range.offset, range.limit, reads);
    if (lines.length > 0) {
      const body = encodeShard(headerOf(input, manifest, range.index, range.offset, lines.length), lines);
      await put(s3, bucket, reportShardKey(input.outputPrefix, input.batchId, range.index), body, 'application/x-ndjson');
    }
    return lines;
  }

  /** Every manifest row's line, shard by shard; a shard missing, unreadable or written for other inputs is rebuilt. */
  async function mergeShards(
    input: ReportInput,
    manifest: ValidatedManifest,
    wanted: ReadonlySet<string> | undefined,
  ): Promise<ShardLine[]> {
    const indexes = Array.from({ length: reportShardCount(manifest.rows.length) }, (_, i) => i);
    const parts = await mapLimit(indexes, SHARD_READS, async (index): Promise<ShardLine[] | null> => {
      const { offset, limit } = reportShardRange(index);
      const rows = manifest.rows.slice(offset, offset + limit);
      const stored = await getObjectOrNull(s3, bucket, reportShardKey(input.outputPrefix, input.batchId, index));
      const shard = stored && decodeShard(stored.toString('utf8'));
      const expected = headerOf(input, manifest, index, offset, rows.length);
      const fits =
        shard &&
        (Object.keys(expected) as (keyof ShardHeader)[]).every((k) => shard.header[k] === expected[k]) &&
        shard.lines.every((l, i) => l.line.key === rows[i]!.key);
      return fits ? shard.lines : null;
    });
    // Rebuilt one at a time, each reading its rows' results as a shard's write does.
    for (const [index, part] of parts.entries())
      parts[index] = part ?? (await writeShard(input, manifest, wanted, reportShardRange(index), ROW_READS));
    return parts.flatMap((p) => p!);
  }

  /** results.csv, results.jsonl and the contact sheet of every manifest row; the counts are those of the batch's rows. */
  async function writeReportFiles(input: ReportInput, lines: ShardLine[]): Promise<ReportResult> {
    const all = lines.map((l) => l.line);
    const mine = lines.filter((l) => l.mine).map((l) => l.line);
    const keys = reportKeys(input.outputPrefix);
    await Promise.all([
      put(s3, bucket, keys.csv, toCsv(all), 'text/csv; charset=utf-8'),
      put(s3, bucket, keys.jsonl, toJsonl(all), 'application/x-ndjson'),
      // index.html, and its pages when the report has more rows than one holds.
      writeContactSheet(s3, bucket, input.outputPrefix, contactSheet(`mj-batch ${input.batchId}`, input.outputPrefix, all)),
    ]);
    return {
      rows: mine.length,
      reportRows: all.length,
      counts: countLines(mine),
      resultsCsv: `s3://${bucket}/${keys.csv}`,
      resultsJsonl: `s3://${bucket}/${keys.jsonl}`,
      contactSheet: `s3://${bucket}/${keys.html}`,
    };
  }

  return {
    /**
     * The result lines of one range of manifest rows (in manifest order), from their stored results, as one shard
     * object (`reportShardKey`). A retry writes the same bytes. Returns the range's counts, never its lines.
     */
    async writeReportShard(input: WriteReportShardInput): Promise<ReportShardResult> {
      const { index, offset, limit } = input.shard;
      if (![index, offset, limit].every(Number.isSafeInteger) || index < 0 || offset < 0 || limit < 1)
        throw ApplicationFailure.nonRetryable(
          `report shard ${JSON.stringify(input.shard)}: index and offset must be whole numbers from 0, limit from 1`,
          'Report.badShard',
        );
      const manifest = await readManifest(input, true);
      const wanted = await wantedRowKeys(s3, bucket, input, rowKeys);
      const lines = await writeShard(input, manifest, wanted, input.shard, ROW_READS);
      const mine = lines.filter((l) => l.mine).map((l) => l.line);
      return { index, reportRows: lines.length, rows: mine.length, counts: countLines(mine), manifestRows: manifest.rows.length };
    },

    /**
     * results.csv, results.jsonl and index.html for every row of the manifest (so a redrive's report still lists the
     * rows an earlier batch finished); the counts are those of this batch's rows. With `shards`, merged from the
     * batch's shards (a lost one is rebuilt from its rows' results); without, from every row's stored result.
     */
    async writeReport(input: WriteReportInput): Promise<ReportResult> {
      const sharded = input.shards !== undefined;
      const manifest = await readManifest(input, sharded);
      // Before any shard or row result is read: a missing or changed keys object fails the report at once.
      const wanted = await wantedRowKeys(s3, bucket, input, rowKeys);
      const lines = sharded
        ? await mergeShards(input, manifest, wanted)
        : await linesFromRowResults(input, manifest, wanted, 0, manifest.rows.length, ROW_READS);
      return writeReportFiles(input, lines);
    },
  };
}
