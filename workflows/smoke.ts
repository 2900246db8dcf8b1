import { proxyActivities, sleep } from '@temporalio/workflow';
import type { SmokeActivities } from '../activities/smoke';

const { storeSmokeObject } = proxyActivities<SmokeActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
});

export interface SmokeInput {
  /** S3 key to write under the configured bucket. */
  key: string;
  text: string;
}

export interface SmokeResult {
  bucket: string;
  key: string;
  bytes: number;
  sha256: string;
}

/** Proves the stack end to end: a durable timer on the Temporal server, then an activity that writes to S3 and reads it back. */
export async function smokeWorkflow(input: SmokeInput): Promise<SmokeResult> {
  await sleep('1s');
  return storeSmokeObject(input);
}
