import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getObjectOrNull } from '../storage/objects';
import type { ItemResult, RowRef } from '../workflows/shared';

/** What is kept per row: the row as run, and how it ended. It is also how a re-run knows a row is already done. */
export interface RowRecord {
  batchId: string;
  row: RowRef;
  result: ItemResult;
  finishedAt: string;
}

export function rowRecordKey(outputPrefix: string, rowKey: string): string {
  return `${outputPrefix.replace(/\/+$/, '')}/_rows/${rowKey}.json`;
}

export async function loadRowRecord(s3: S3Client, bucket: string, outputPrefix: string, rowKey: string): Promise<RowRecord | null> {
  const body = await getObjectOrNull(s3, bucket, rowRecordKey(outputPrefix, rowKey));
  return body ? (JSON.parse(body.toString('utf8')) as RowRecord) : null;
}

export async function saveRowRecord(s3: S3Client, bucket: string, outputPrefix: string, record: RowRecord): Promise<void> {
  await s3.send(new PutObjectCommand({
    Bucket: bucket, Key: rowRecordKey(outputPrefix, record.row.key), Body: Buffer.from(`${JSON.stringify(record, null, 2)}\n`), ContentType: 'application/json',
  }));
}
