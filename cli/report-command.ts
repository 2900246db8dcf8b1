import * as path from 'node:path';
import { Command, Option } from 'commander';
import { downloadReport, reportUris } from '../client/report';
import { loadBatchRecord } from '../client/batches';
import { BATCH_RECORDS_FOLDER, reportKeys } from '../contracts/bucket-layout';
import { loadConfig } from '../config/config';
import { getObjectOrNull } from '../storage/objects';
import { createS3Client } from '../storage/s3-client';
import { EXIT } from './exit-codes';
import { printJson, progress } from './output';

/** `mj-batch report <batchId>`: prints the results, or downloads the contact sheet to open locally. */
export function reportCommand(): Command {
  return new Command('report')
    .description("print a batch's results (CSV or JSONL), or download its contact sheet with thumbnails")
    .argument('<batchId>')
    .addOption(new Option('--format <format>', 'what to print').choices(['csv', 'jsonl']).default('csv'))
    .option('--download <dir>', 'copy index.html, the results and the thumbnails into this folder')
    .option('--originals', 'with --download, the full-size images too')
    .option('--json', 'print one JSON object describing the report (and the download)')
    .action(async (batchId: string, flags: { format: 'csv' | 'jsonl'; download?: string; originals?: boolean; json?: boolean }) => {
      const config = loadConfig();
      const s3 = createS3Client(config.s3);
      const bucket = config.s3.bucket;
      const fail = (message: string) => {
        if (flags.json) printJson({ batchId, error: message });
        else process.stderr.write(`mj-batch: ${message}\n`);
        process.exitCode = EXIT.notFound;
      };
      try {
        const record = await loadBatchRecord(s3, bucket, batchId);
        if (!record) return fail(`no batch ${batchId} in s3://${bucket}/${BATCH_RECORDS_FOLDER}`);
        const prefix = record.input.outputPrefix;
        const uris = reportUris(bucket, prefix);
        if (flags.download) {
          let done;
          try {
            done = await downloadReport(s3, bucket, prefix, flags.download, Boolean(flags.originals));
          } catch (err) {
            return fail((err as Error).message);
          }
          if (flags.json)
            return printJson({ batchId, outputPrefix: prefix, ...uris, downloaded: { dir: path.resolve(flags.download), ...done } });
          progress(`downloaded ${done.files} files`);
          process.stdout.write(`contact sheet: file://${done.contactSheetFile}\n`);
          return;
        }
        const body = await getObjectOrNull(s3, bucket, reportKeys(prefix)[flags.format]);
        if (!body) return fail(`no report in s3://${bucket}/${prefix}/ yet (a batch writes it when it ends)`);
        if (flags.json) {
          // Counted from the JSONL: a CSV field may hold line breaks.
          const jsonl = flags.format === 'jsonl' ? body : await getObjectOrNull(s3, bucket, reportKeys(prefix).jsonl);
          return printJson({
            batchId,
            outputPrefix: prefix,
            ...uris,
            rows: (jsonl?.toString('utf8') ?? '').split('\n').filter(Boolean).length,
          });
        }
        process.stdout.write(body);
      } finally {
        s3.destroy();
      }
    });
}
