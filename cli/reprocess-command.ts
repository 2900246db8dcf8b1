import { Command, InvalidArgumentError } from 'commander';
import { wholeNumber } from '../client/options';
import { checkBatchId, planReprocess } from '../client/reprocess';
import { parseThumbnailProfile, type ThumbnailSpec } from '../contracts/media';
import { loadConfig } from '../config/config';
import { createS3Client } from '../storage/s3-client';
import { batchRecordOrSay } from './batch-record';
import { launch, reportStartError } from './run-command';

interface ReprocessFlags {
  thumbnails?: ThumbnailSpec[];
  wait?: boolean;
  json?: boolean;
  batchId?: string;
  concurrency?: number;
}

/** `mj-batch reprocess <batchId>`: new thumbnails, sidecars and report from the originals an earlier batch stored. */
export function reprocessCommand(): Command {
  return new Command('reprocess')
    .description(
      'make new thumbnails (and sidecars, and the report) from the originals an earlier batch stored in S3: ' +
        'no Midjourney call, no download, nothing paid for (a worker must be running; the API may be unreachable)',
    )
    .argument('<batchId>', 'the batch whose stored originals to reprocess (its manifest and output prefix)')
    .option('--thumbnails <profile>', 'thumbnail sizes and formats, e.g. "1024:webp,256:jpeg" (default: the earlier batch\'s)', (v) => {
      try {
        return parseThumbnailProfile(v);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    })
    .option('--wait', 'follow the reprocess until it ends; the exit code says how it ended')
    .option('--json', 'print one JSON object (with --wait, the final result, as `run --wait --json`)')
    .option('--batch-id <id>', 'the new batch (and workflow) id; default <batchId>-reprocess-<UTC time>', (v) => {
      try {
        return checkBatchId(v);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    })
    .option('--concurrency <n>', "rows in flight at once (default: the earlier batch's)", wholeNumber(1))
    .action(async (batchId: string, flags: ReprocessFlags) => {
      const config = loadConfig();
      const s3 = createS3Client(config.s3);
      try {
        const record = await batchRecordOrSay(s3, config.s3.bucket, batchId, flags.json);
        if (!record) return;
        const { rows, input } = await planReprocess(s3, record, {
          thumbnails: flags.thumbnails,
          batchId: flags.batchId,
          concurrency: flags.concurrency,
          taskQueue: config.taskQueue,
        });
        if (!flags.json) process.stderr.write(`reprocessing the ${rows} row(s) of ${batchId} as ${input.batchId}\n`);
        // No account slots: the batch holds none and starts no slots workflow.
        await launch(config, record.manifest, input, { wait: flags.wait, json: flags.json, accountSlots: 0, queueAhead: 0 });
      } catch (err) {
        reportStartError(err, flags.json);
      } finally {
        s3.destroy();
      }
    });
}
