// What the activities record. Nothing happens until the worker plugs a recorder in (metrics/worker-metrics.ts, when
// MJ_BATCH_METRICS_LISTEN is set): with metrics off every call below is one check of an unset variable.
import type { Kind } from '../manifest/row';
import { jobAction, modeLabel, refusalReason } from './labels';

export interface JobLabels {
  /** The proxy's action name: IMAGINE, BLEND, DESCRIBE, SHORTEN, UPSCALE, VARIATION, ... (metrics/labels.ts). */
  action: string;
  /** fast, relax, turbo, or `default` when the row names none (the account's own default applies). */
  mode: string;
  /** The account's name (never its key). */
  account: string;
}

export type MediaActivity = 'storeImage' | 'rethumbnailImage';

export interface MetricsRecorder {
  jobSubmitted(labels: JobLabels): void;
  rowFinished(labels: { status: string; failureClass: string }): void;
  submitRefused(labels: { reason: string; account: string }): void;
  mediaTimed(labels: { activity: MediaActivity; outcome: 'ok' | 'failed' }, seconds: number): void;
  mediaBytes(direction: 'download' | 'upload', bytes: number): void;
}

let recorder: MetricsRecorder | undefined;

/** One recorder per process (the worker's); `undefined` turns recording off again. */
export function useRecorder(next: MetricsRecorder | undefined): void {
  recorder = next;
}

export function metricsOn(): boolean {
  return recorder !== undefined;
}

/** A paid job the API accepted (not one adopted from an earlier attempt): a new job, or a button pressed. */
export function recordJobSubmitted(
  job: { op: 'new'; kind: Kind } | { op: 'action'; customId: string },
  mode: string | undefined,
  account: string,
): void {
  recorder?.jobSubmitted({ action: jobAction(job), mode: modeLabel(mode), account });
}

/** A row's result was stored: its status and failure class (`none` for a row that has none). */
export function recordRowFinished(status: string, failureClass: string | undefined): void {
  recorder?.rowFinished({ status, failureClass: failureClass ?? 'none' });
}

/** A submit failed: counted when the API refused it (nothing was created), by the reason it gave. */
export function recordSubmitFailed(err: unknown, account: string): void {
  if (!recorder) return;
  const reason = refusalReason(err);
  if (reason !== undefined) recorder.submitRefused({ reason, account });
}

export function recordMediaBytes(direction: 'download' | 'upload', bytes: number): void {
  if (bytes > 0) recorder?.mediaBytes(direction, bytes);
}

/** Runs a media activity's work and records how long it took and whether it failed. */
export async function timedMedia<T>(activity: MediaActivity, work: () => Promise<T>): Promise<T> {
  if (!recorder) return work();
  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  try {
    const result = await work();
    recorder?.mediaTimed({ activity, outcome: 'ok' }, seconds());
    return result;
  } catch (err) {
    recorder?.mediaTimed({ activity, outcome: 'failed' }, seconds());
    throw err;
  }
}
