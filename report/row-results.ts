import { rowResultKey } from '../contracts/bucket-layout';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getObjectOrNull } from '../storage/objects';
import type { ItemResult, RowRef } from '../contracts/rows';

/** What is kept per row: the row as run, and how it ended. It is also how a re-run knows a row is already done. */
export interface RowRecord {
  batchId: string;
  row: RowRef;
  result: ItemResult;
  finishedAt: string;
}

export async function loadRowRecord(s3: S3Client, bucket: string, outputPrefix: string, rowKey: string): Promise<RowRecord | null> {
  const body = await getObjectOrNull(s3, bucket, rowResultKey(outputPrefix, rowKey));
  return body ? (JSON.parse(body.toString('utf8')) as RowRecord) : null;
}

export async function saveRowRecord(s3: S3Client, bucket: string, outputPrefix: string, record: RowRecord): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: rowResultKey(outputPrefix, record.row.key),
      Body: Buffer.from(`${JSON.stringify(record, null, 2)}\n`),
      ContentType: 'application/json',
    }),
  );
}
