import { reportKeys } from '../contracts/bucket-layout';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import { readManifestBytes } from '../manifest/source';
import { validateManifestBytes } from '../manifest/validate';
import { contactSheet } from '../report/contact-sheet';
import { writeContactSheet } from '../report/contact-sheet-store';
import { loadRowRecord, saveRowRecord, type RowRecord } from '../report/row-results';
import { resultLine, toCsv, toJsonl } from '../report/results';
import type { BatchCounts, BatchInput, RowKeysRef } from '../contracts/batch';
import type { ItemResult, RowRef } from '../contracts/rows';
import { mapLimit } from '../report/map-limit';
import { rowKeysCache, toRowRef, wantedRowKeys, type RowKeysCache } from './manifest';
import type { ReportResult } from '../contracts/batch';

export interface WriteReportInput {
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
}

export function createResultActivities({ s3, bucket, rowKeys = rowKeysCache }: { s3: S3Client; bucket: string; rowKeys?: RowKeysCache }) {
  return {
    /** The row's stored result, if it has one (a re-run skips rows that already succeeded). */
    async loadRowResult(input: { outputPrefix: string; rowKey: string }): Promise<ItemResult | null> {
      return (await loadRowRecord(s3, bucket, input.outputPrefix, input.rowKey))?.result ?? null;
    },

    async saveRowResult(input: { batchId: string; outputPrefix: string; row: RowRef; result: ItemResult }): Promise<void> {
      const record: RowRecord = { batchId: input.batchId, row: input.row, result: input.result, finishedAt: new Date().toISOString() };
      await saveRowRecord(s3, bucket, input.outputPrefix, record);
    },

    /**
     * results.csv, results.jsonl and index.html for every row of the manifest, from the stored row results (so a
     * redrive's report still lists the rows an earlier batch finished). The counts are those of this batch's rows.
     */
    async writeReport(input: WriteReportInput): Promise<ReportResult> {
      const { bytes, sha256 } = await readManifestBytes(input.manifestRef, s3);
      if (sha256 !== input.sha256)
        throw ApplicationFailure.nonRetryable(`${input.manifestRef} changed since the batch started`, 'Manifest.changed');
      const manifest = validateManifestBytes(input.manifestRef, bytes, sha256, input.delimiter);
      // Before the row results are read: a missing or changed keys object fails the report at once.
      const wanted = await wantedRowKeys(s3, bucket, input, rowKeys);
      const rows = manifest.rows.map((r) => toRowRef(input.outputPrefix, r));
      const records = await mapLimit(rows, 16, (row) => loadRowRecord(s3, bucket, input.outputPrefix, row.key));
      const lines = rows.map((row, i) => resultLine(row, records[i] ?? null));
      const mine = wanted ? lines.filter((l) => wanted.has(l.key)) : lines;
      const counts: BatchCounts = { total: mine.length, succeeded: 0, failed: 0, unknownSubmit: 0, skipped: 0, cancelled: 0 };
      for (const l of mine) {
        if (l.status === 'SUCCESS') counts.succeeded++;
        else if (l.status === 'SKIPPED') counts.skipped++;
        else if (l.status === 'UNKNOWN_SUBMIT') counts.unknownSubmit++;
        else if (l.status === 'CANCELLED') counts.cancelled++;
        else counts.failed++;
      }
      const put = (key: string, body: string, type: string) =>
        s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(body), ContentType: type }));
      const keys = reportKeys(input.outputPrefix);
      await Promise.all([
        put(keys.csv, toCsv(lines), 'text/csv; charset=utf-8'),
        put(keys.jsonl, toJsonl(lines), 'application/x-ndjson'),
        // index.html, and its pages when the report has more rows than one holds.
        writeContactSheet(s3, bucket, input.outputPrefix, contactSheet(`mj-batch ${input.batchId}`, input.outputPrefix, lines)),
      ]);
      return {
        rows: mine.length,
        reportRows: lines.length,
        counts,
        resultsCsv: `s3://${bucket}/${keys.csv}`,
        resultsJsonl: `s3://${bucket}/${keys.jsonl}`,
        contactSheet: `s3://${bucket}/${keys.html}`,
      };
    },
  };
}
