// How a finished batch is summed up for people and scripts (`run --wait --json`, `watch`, `status`).
import type { BatchResult } from '../contracts/batch';
import type { EffectiveConfig } from '../config/config';
import { readStackState } from '../stack/state';

/** The Temporal Web UI: TEMPORAL_UI_URL, or the local stack's when the stack's server is the one in use. */
export function temporalUiUrl(config: EffectiveConfig): string | undefined {
  if (config.temporalUiUrl) return config.temporalUiUrl;
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
    batchId: result.batchId,
    rows: result.rows,
    succeeded: c.succeeded + c.skipped,
    failed: c.failed,
    unknownSubmit: c.unknownSubmit,
    skipped: c.skipped,
    cancelled: c.cancelled,
    modeMismatches: c.modeMismatches ?? 0,
    failedEarly: result.failedEarly,
    resultsCsv: result.resultsCsv,
    resultsJsonl: result.resultsJsonl,
    contactSheet: result.contactSheet,
    temporalUiUrl: batchUiUrl(config, result.batchId),
  };
}
