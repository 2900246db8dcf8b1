import * as fs from 'node:fs';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { Command, Option } from 'commander';
import { loadConfig } from '../config/config';
import type { ResultLine } from '../report/results';
import { mapLimit } from '../report/map-limit';
import { getObjectOrNull } from '../storage/objects';
import { createS3Client } from '../storage/s3-client';
import { loadBatchRecord } from './batches';
import { EXIT } from './follow';
import { printJson, progress } from './output';

/**
 * Copies the contact sheet, the results and every thumbnail (and the originals if asked) into `dir`, keeping the
 * layout under the output prefix, so the sheet's relative links work from disk.
 */
export async function downloadReport(s3: S3Client, bucket: string, outputPrefix: string, dir: string, originals: boolean): Promise<{ files: number; contactSheetFile: string }> {
  const prefix = outputPrefix.replace(/\/+$/, '');
  const jsonl = await getObjectOrNull(s3, bucket, `${prefix}/results.jsonl`);
  if (!jsonl) throw new Error(`no report in s3://${bucket}/${prefix}/ yet (a batch writes it when it ends)`);
  const lines = jsonl.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ResultLine);
  const keys = new Set([`${prefix}/index.html`, `${prefix}/results.csv`, `${prefix}/results.jsonl`]);
  for (const l of lines) for (const img of l.images) {
    for (const t of img.thumbnails) keys.add(t);
    if (originals || img.thumbnails.length === 0) keys.add(img.key);
  }
  let files = 0;
  await mapLimit([...keys], 8, async (key) => {
    const body = await getObjectOrNull(s3, bucket, key);
    if (!body || !key.startsWith(`${prefix}/`)) return;
    const file = path.join(dir, key.slice(prefix.length + 1));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, body);
    files++;
  });
  return { files, contactSheetFile: path.resolve(dir, 'index.html') };
}

/** `mj-batch report <batchId>`: prints the results, or downloads the contact sheet to open locally. */
export function reportCommand(): Command {
  return new Command('report')
    .description('print a batch\'s results (CSV or JSONL), or download its contact sheet with thumbnails')
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
        if (!record) return fail(`no batch ${batchId} in s3://${bucket}/_batches/`);
        const prefix = record.input.outputPrefix;
        const uris = { resultsCsv: `s3://${bucket}/${prefix}/results.csv`, resultsJsonl: `s3://${bucket}/${prefix}/results.jsonl`, contactSheet: `s3://${bucket}/${prefix}/index.html` };
        if (flags.download) {
          let done;
          try {
            done = await downloadReport(s3, bucket, prefix, flags.download, Boolean(flags.originals));
          } catch (err) {
            return fail((err as Error).message);
          }
          if (flags.json) return printJson({ batchId, outputPrefix: prefix, ...uris, downloaded: { dir: path.resolve(flags.download), ...done } });
          progress(`downloaded ${done.files} files`);
          process.stdout.write(`contact sheet: file://${done.contactSheetFile}\n`);
          return;
        }
        const body = await getObjectOrNull(s3, bucket, `${prefix}/results.${flags.format}`);
        if (!body) return fail(`no report in s3://${bucket}/${prefix}/ yet (a batch writes it when it ends)`);
        if (flags.json) {
          // Counted from the JSONL: a CSV field may hold line breaks.
          const jsonl = flags.format === 'jsonl' ? body : await getObjectOrNull(s3, bucket, `${prefix}/results.jsonl`);
          return printJson({ batchId, outputPrefix: prefix, ...uris, rows: (jsonl?.toString('utf8') ?? '').split('\n').filter(Boolean).length });
        }
        process.stdout.write(body);
      } finally {
        s3.destroy();
      }
    });
}
