import { Command } from 'commander';
import { accountOf } from '../client/account-slots';
import { concurrencyOf } from '../client/options';
import { planRedrive, REDRIVE_ONLY_WHEN_ASKED } from '../client/redrive';
import { accountSlotsWorkflowId } from '../contracts/account-slots';
import { FAILURE_CLASSES, type FailureClass } from '../contracts/rows';
import { loadConfig } from '../config/config';
import { createS3Client } from '../storage/s3-client';
import { batchRecordOrSay } from './batch-record';
import { EXIT } from './exit-codes';
import { printJson } from './output';
import { addBatchOptions, launch, reportStartError, type RunFlags } from './run-command';

/** `mj-batch redrive <batchId>`: a new batch over the failed rows of an earlier one, into the same output prefix. */
export function redriveCommand(): Command {
  return addBatchOptions(
    new Command('redrive')
      .description('start a batch from the failed rows of an earlier batch (same manifest, same output prefix)')
      .argument('<batchId>', 'the batch to redrive')
      .option(
        '--class <classes>',
        `only these failure classes, comma-separated (${FAILURE_CLASSES.join(', ')}); without it every failed row but ` +
          `${REDRIVE_ONLY_WHEN_ASKED.join(' and ')} ones: UNKNOWN_SUBMIT rows are only taken with "ambiguous" (they may ` +
          `already be paid for), moderated prompts only with "banned" (resubmitting one is a paid refusal and a strike on the account)`,
      )
      .option(
        '--new-jobs',
        'pay for new jobs for these rows instead of adopting the ones already made (e.g. when their image URLs expired)',
      ),
  ).action(async (batchId: string, flags: RunFlags & { class?: string; newJobs?: boolean }) => {
    const config = loadConfig();
    const s3 = createS3Client(config.s3);
    try {
      const classes = flags.class
        ?.split(',')
        .map((c) => c.trim())
        .filter(Boolean) as FailureClass[] | undefined;
      const unknown = classes?.filter((c) => !FAILURE_CLASSES.includes(c));
      if (unknown?.length) {
        process.stderr.write(`mj-batch: unknown failure class ${unknown.join(', ')}; known: ${FAILURE_CLASSES.join(', ')}\n`);
        process.exitCode = EXIT.invalid;
        return;
      }
      const record = await batchRecordOrSay(s3, config.s3.bucket, batchId, flags.json);
      if (!record) return;
      const { keys, input } = await planRedrive(s3, config.s3.bucket, record, {
        classes,
        newJobs: flags.newJobs,
        batchId: flags.batchId,
        concurrency: concurrencyOf(flags),
        submitPolicy: flags.submitPolicy,
        callbacks: flags.callbacks,
        accountSlotsWorkflowId: flags.accountSlots > 0 ? accountSlotsWorkflowId(config.taskQueue, accountOf(config.mj)) : undefined,
      });
      if (keys.length === 0) {
        if (flags.json) printJson({ batchId, rows: 0, message: 'nothing to redrive' });
        else
          process.stdout.write(
            `batch ${batchId}: no failed rows${classes ? ` of class ${classes.join(', ')}` : ''} to redrive` +
              `${classes ? '' : ` (${REDRIVE_ONLY_WHEN_ASKED.join(' and ')} rows are taken only with --class)`}\n`,
          );
        return;
      }
      if (!flags.json) process.stderr.write(`redriving ${keys.length} row(s) of ${batchId} as ${input.batchId}\n`);
      await launch(config, record.manifest, input, flags);
    } catch (err) {
      reportStartError(err, flags.json);
    } finally {
      s3.destroy();
    }
  });
}
