import { Command } from 'commander';
import { loadConfig } from '../config/config';
import { readManifestBytes } from '../manifest/source';
import { validateManifestBytes } from '../manifest/validate';
import { mapLimit } from '../report/map-limit';
import { loadRowRecord } from '../report/row-results';
import { forgetJobs } from '../storage/job-journal';
import { createS3Client } from '../storage/s3-client';
import type { FailureClass } from '../workflows/shared';
import { accountSlotsWorkflowId } from '../workflows/account-slots';
import { accountOf, loadBatchRecord } from './batches';
import { EXIT } from './follow';
import { addBatchOptions, concurrencyOf, launch, reportStartError, type RunFlags } from './run-command';
import { printJson } from './output';

export const FAILURE_CLASSES: readonly FailureClass[] = ['validation', 'banned', 'generation', 'timeout', 'submit', 'ambiguous', 'parent-not-ready', 'download', 'image', 'storage', 'cancelled'];

/** Rows a redrive takes: every unfinished row, except UNKNOWN_SUBMIT ones (they may have been paid) unless `ambiguous` is asked for. */
export function wantsRow(status: string | undefined, failureClass: FailureClass | undefined, classes: FailureClass[] | undefined): boolean {
  if (status === 'SUCCESS' || status === 'SKIPPED') return false;
  if (status === undefined) return !classes; // never recorded: the batch stopped before it
  const cls = status === 'UNKNOWN_SUBMIT' ? 'ambiguous' : failureClass;
  if (classes) return cls !== undefined && classes.includes(cls);
  return cls !== 'ambiguous';
}

/** `mj-batch redrive <batchId>`: a new batch over the failed rows of an earlier one, into the same output prefix. */
export function redriveCommand(): Command {
  return addBatchOptions(new Command('redrive')
    .description('start a batch from the failed rows of an earlier batch (same manifest, same output prefix)')
    .argument('<batchId>', 'the batch to redrive')
    .option('--class <classes>', `only these failure classes, comma-separated (${FAILURE_CLASSES.join(', ')}); UNKNOWN_SUBMIT rows are only taken with "ambiguous"`)
    .option('--new-jobs', 'pay for new jobs for these rows instead of adopting the ones already made (e.g. when their image URLs expired)'))
    .action(async (batchId: string, flags: RunFlags & { class?: string; newJobs?: boolean }) => {
      const config = loadConfig();
      const s3 = createS3Client(config.s3);
      try {
        const classes = flags.class?.split(',').map((c) => c.trim()).filter(Boolean) as FailureClass[] | undefined;
        const unknown = classes?.filter((c) => !FAILURE_CLASSES.includes(c));
        if (unknown?.length) {
          process.stderr.write(`mj-batch: unknown failure class ${unknown.join(', ')}; known: ${FAILURE_CLASSES.join(', ')}\n`);
          process.exitCode = EXIT.invalid;
          return;
        }
        const record = await loadBatchRecord(s3, config.s3.bucket, batchId);
        if (!record) {
          const message = `no batch ${batchId} in s3://${config.s3.bucket}/_batches/ (was it started with mj-batch run against this bucket?)`;
          if (flags.json) printJson({ error: message });
          else process.stderr.write(`mj-batch: ${message}\n`);
          process.exitCode = EXIT.notFound;
          return;
        }
        const previous = record.input;
        const { bytes, sha256 } = await readManifestBytes(previous.manifest.ref, s3);
        const manifest = validateManifestBytes(previous.manifest.ref, bytes, sha256);
        const candidates = manifest.rows.filter((r) => !previous.onlyKeys || previous.onlyKeys.includes(r.key));
        const stored = await mapLimit(candidates, 16, (row) => loadRowRecord(s3, config.s3.bucket, previous.outputPrefix, row.key));
        const keys = candidates.filter((_, i) => wantsRow(stored[i]?.result.status, stored[i]?.result.failureClass, classes)).map((r) => r.key);
        if (keys.length === 0) {
          if (flags.json) printJson({ batchId, rows: 0, message: 'nothing to redrive' });
          else process.stdout.write(`batch ${batchId}: no failed rows${classes ? ` of class ${classes.join(', ')}` : ''} to redrive\n`);
          return;
        }
        // Asking for ambiguous rows says "I checked, there is no such job": their unanswered submits are forgotten.
        // --new-jobs forgets every job of the rows taken, so they are paid for again instead of adopted.
        const forget = candidates.filter((r, i) => keys.includes(r.key) && (flags.newJobs || (classes?.includes('ambiguous') && stored[i]?.result.status === 'UNKNOWN_SUBMIT')));
        await mapLimit(forget, 16, (row) => forgetJobs(s3, config.s3.bucket, { outputPrefix: previous.outputPrefix, rowKey: row.key }, flags.newJobs ? 'all' : 'unanswered'));
        const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
        const input = {
          ...previous,
          batchId: flags.batchId ?? `${batchId}-redrive-${stamp}`,
          onlyKeys: keys,
          carried: undefined,
          concurrency: concurrencyOf(flags),
          accountSlotsWorkflowId: flags.accountSlots > 0 ? accountSlotsWorkflowId(config.taskQueue, accountOf(config.mj)) : undefined,
          item: { ...previous.item, submitPolicy: flags.submitPolicy, callbacks: flags.callbacks },
        };
        if (!flags.json) process.stderr.write(`redriving ${keys.length} row(s) of ${batchId} as ${input.batchId}\n`);
        await launch(config, record.manifest, input, flags);
      } catch (err) {
        reportStartError(err, flags.json);
      } finally {
        s3.destroy();
      }
    });
}
