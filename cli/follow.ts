import type { Client } from '@temporalio/client';
import type { EffectiveConfig } from '../config/config';
import { readStackState } from '../stack/state';
import type { BatchResult } from '../workflows/batch';
import { Board } from './board';
import { waitForBatch } from './batches';
import { printJson, printLines } from './output';

export const EXIT = { ok: 0, invalid: 1, notFound: 2, overThreshold: 3, cancelled: 4, running: 5, notRunning: 6 } as const;

/** The Temporal Web UI: TEMPORAL_UI_URL, or the local stack's when the stack's server is the one in use. */
export function temporalUiUrl(config: EffectiveConfig, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TEMPORAL_UI_URL) return env.TEMPORAL_UI_URL.replace(/\/+$/, '');
  return config.temporal.source === 'stack' ? readStackState(config.stackDir)?.temporal.uiUrl : undefined;
}

export function batchUiUrl(config: EffectiveConfig, batchId: string): string | undefined {
  const ui = temporalUiUrl(config);
  return ui ? `${ui}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(batchId)}` : undefined;
}

export interface BatchSummary {
  batchId: string;
  rows: number;
  succeeded: number;
  failed: number;
  unknownSubmit: number;
  skipped: number;
  cancelled: number;
  /** Rows whose jobs ran in another speed mode than asked (where the API reports the mode). */
  modeMismatches: number;
  failedEarly: boolean;
  resultsCsv: string;
  resultsJsonl: string;
  contactSheet: string;
  temporalUiUrl?: string;
}

export function summaryOf(config: EffectiveConfig, result: BatchResult): BatchSummary {
  const c = result.counts;
  return {
    batchId: result.batchId, rows: result.rows, succeeded: c.succeeded + c.skipped, failed: c.failed, unknownSubmit: c.unknownSubmit,
    skipped: c.skipped, cancelled: c.cancelled, modeMismatches: c.modeMismatches ?? 0, failedEarly: result.failedEarly,
    resultsCsv: result.resultsCsv, resultsJsonl: result.resultsJsonl, contactSheet: result.contactSheet, temporalUiUrl: batchUiUrl(config, result.batchId),
  };
}

export function exitCodeOf(result: BatchResult, ok: boolean): number {
  return result.cancelled ? EXIT.cancelled : !ok || result.failedEarly ? EXIT.overThreshold : EXIT.ok;
}

/**
 * Follows a batch to its end: a live board on a terminal, plain lines otherwise (on stderr with --json, so stdout
 * stays one JSON object), then the summary. Sets the exit code from how the batch ended.
 */
export async function followBatch(client: Client, config: EffectiveConfig, batchId: string, flags: { json?: boolean; intervalMs?: number }, extra: Record<string, unknown> = {}): Promise<BatchSummary> {
  const board = flags.json ? new Board(process.stderr, false) : new Board(process.stdout);
  const { result, ok } = await waitForBatch(client, batchId, (p, stages, slots) => board.update(p, stages, slots), flags.intervalMs ?? 1000, true);
  const summary = summaryOf(config, result);
  if (flags.json) printJson({ ...extra, ...summary });
  else {
    printLines([
      `batch ${batchId} ${result.cancelled ? 'was cancelled' : result.failedEarly ? 'stopped: too many failed rows' : 'finished'}`,
      `  rows      ${summary.rows}: ${summary.succeeded} succeeded (${summary.skipped} already done), ${summary.failed} failed, ${summary.unknownSubmit} unknown submit, ${summary.cancelled} cancelled`,
      ...(summary.modeMismatches ? [`  WARNING   ${summary.modeMismatches} row(s) ran in another speed mode than asked (see mode_requested / mode_ran in the results; \`mj-batch doctor\` checks the mode paths)`] : []),
      `  results   ${summary.resultsCsv}`,
      `            ${summary.resultsJsonl}`,
      `  sheet     ${summary.contactSheet}   (mj-batch report ${batchId} --download <dir> to open it locally)`,
      ...(summary.temporalUiUrl ? [`  Web UI    ${summary.temporalUiUrl}`] : []),
    ]);
  }
  process.exitCode = exitCodeOf(result, ok);
  return summary;
}
