import type { Client } from '@temporalio/client';
import type { EffectiveConfig } from '../config/config';
import { waitForBatch } from '../client/batches';
import { summaryOf, type BatchSummary } from '../client/summary';
import { Board } from './board';
import { exitCodeOf } from './exit-codes';
import { printJson, printLines } from './output';

/**
 * Follows a batch to its end: a live board on a terminal, plain lines otherwise (on stderr with --json, so stdout
 * stays one JSON object), then the summary. Sets the exit code from how the batch ended.
 */
export async function followBatch(
  client: Client,
  config: EffectiveConfig,
  batchId: string,
  flags: { json?: boolean; intervalMs?: number },
  extra: Record<string, unknown> = {},
): Promise<BatchSummary> {
  const board = flags.json ? new Board(process.stderr, false) : new Board(process.stdout);
  const { result, ok } = await waitForBatch(
    client,
    batchId,
    (p, stages, slots, pool) => board.update(p, stages, slots, pool),
    flags.intervalMs ?? 1000,
    true,
  );
  const summary = summaryOf(config, result);
  if (flags.json) printJson({ ...extra, ...summary });
  else {
    printLines([
      `batch ${batchId} ${result.cancelled ? 'was cancelled' : result.failedEarly ? 'stopped: too many failed rows' : 'finished'}`,
      `  rows      ${summary.rows}: ${summary.succeeded} succeeded (${summary.skipped} already done), ${summary.failed} failed, ${summary.unknownSubmit} unknown submit, ${summary.cancelled} cancelled`,
      ...(summary.modeMismatches
        ? [
            `  WARNING   ${summary.modeMismatches} row(s) ran in another speed mode than asked (see mode_requested / mode_ran in the results; \`mj-batch doctor\` checks the mode paths)`,
          ]
        : []),
      `  results   ${summary.resultsCsv}`,
      `            ${summary.resultsJsonl}`,
      `  sheet     ${summary.contactSheet}   (mj-batch report ${batchId} --download <dir> to open it locally)`,
      ...(summary.temporalUiUrl ? [`  Web UI    ${summary.temporalUiUrl}`] : []),
    ]);
  }
  process.exitCode = exitCodeOf(result, ok);
  return summary;
}
