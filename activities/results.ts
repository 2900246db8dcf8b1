import type { S3Client } from '@aws-sdk/client-s3';
import { loadRowRecord, saveRowRecord, type RowRecord } from '../report/row-results';
import type { ItemResult, RowRef } from '../contracts/rows';
import type { RowKeysCache } from './manifest';
import { recordRowFinished } from '../metrics/record';

export function createResultActivities({ s3, bucket }: { s3: S3Client; bucket: string; rowKeys?: RowKeysCache }) {
  return {
    /** The row's stored result, if it has one (a re-run skips rows that already succeeded). */
    async loadRowResult(input: { outputPrefix: string; rowKey: string }): Promise<ItemResult | null> {
      return (await loadRowRecord(s3, bucket, input.outputPrefix, input.rowKey))?.result ?? null;
    },

    async saveRowResult(input: { batchId: string; outputPrefix: string; row: RowRef; result: ItemResult }): Promise<void> {
      const record: RowRecord = { batchId: input.batchId, row: input.row, result: input.result, finishedAt: new Date().toISOString() };
      await saveRowRecord(s3, bucket, input.outputPrefix, record);
      recordRowFinished(input.result.status, input.result.failureClass);
    },
  };
}
