import type { EffectiveConfig } from '../config/config';
import { connectWorker } from '../config/temporal';
import { createS3Client } from '../storage/s3-client';
import { createWorker } from './worker';

/** Runs a worker until SIGINT/SIGTERM (the SDK's Runtime handles those signals and drains in-flight work). */
export async function runWorker(config: EffectiveConfig, log: (line: string) => void): Promise<void> {
  const connection = await connectWorker(config.temporal);
  const s3 = createS3Client(config.s3);
  try {
    const worker = await createWorker({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.taskQueue,
      deps: { s3, bucket: config.s3.bucket },
    });
    log(`worker polling task queue ${config.taskQueue} on ${config.temporal.address} (namespace ${config.temporal.namespace})`);
    await worker.run();
  } finally {
    s3.destroy();
    await connection.close();
  }
}
