import type { S3Client } from '@aws-sdk/client-s3';
import { loadBatchRecord, type BatchRecord } from '../client/batches';
import { BATCH_RECORDS_FOLDER } from '../contracts/bucket-layout';
import { EXIT } from './exit-codes';
import { printJson } from './output';

/** The batch's record, or undefined after saying there is none (exit `notFound`): what redrive and reprocess start from. */
export async function batchRecordOrSay(s3: S3Client, bucket: string, batchId: string, json?: boolean): Promise<BatchRecord | undefined> {
  const record = await loadBatchRecord(s3, bucket, batchId);
  if (record) return record;
  const message = `no batch ${batchId} in s3://${bucket}/${BATCH_RECORDS_FOLDER} (was it started with mj-batch run against this bucket?)`;
  if (json) printJson({ error: message });
  else process.stderr.write(`mj-batch: ${message}\n`);
  process.exitCode = EXIT.notFound;
  return undefined;
}
