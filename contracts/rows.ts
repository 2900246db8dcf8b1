// What a row is, how it is run and how it ended: the item workflow's input and result, carried by the batch, the
// activities, the results and the report. Types only (and one pure helper): workflow code imports this file.
import type { ManifestRow } from '../manifest/row';
import type { StoredImage, ThumbnailSpec } from './media';

/** at-least-once retries an ambiguous submit (it may pay twice); at-most-once marks the row UNKNOWN_SUBMIT instead. */
export type SubmitPolicy = 'at-least-once' | 'at-most-once';

export type ItemStatus = 'SUCCESS' | 'FAILED' | 'UNKNOWN_SUBMIT' | 'SKIPPED' | 'CANCELLED';

/** Why a row failed; `redrive --class` selects by these. */
export type FailureClass =
  | 'validation'
  | 'banned'
  | 'generation'
  | 'timeout'
  | 'submit'
  | 'ambiguous'
  | 'parent-not-ready'
  | 'download'
  | 'image'
  | 'storage'
  | 'cancelled';

/** Every failure class, in the order help texts list them. */
export const FAILURE_CLASSES: readonly FailureClass[] = [
  'validation',
  'banned',
  'generation',
  'timeout',
  'submit',
  'ambiguous',
  'parent-not-ready',
  'download',
  'image',
  'storage',
  'cancelled',
];

/** `held`: waiting for the account to take jobs again (quota, key, ban); the row has not failed. */
export type ItemStage = 'queued' | 'submitting' | 'held' | 'generating' | 'follow-ups' | 'media' | 'done' | 'failed';

/** A manifest row as the workflows carry it: checked, with its S3 folder resolved. */
export interface RowRef extends Omit<ManifestRow, 'output'> {
  /** The row's folder in the bucket. */
  prefix: string;
}

/** What the item workflow needs to know about a task (kept small: it is recorded in history). */
export interface TaskSnapshot {
  taskId: string;
  status: string;
  progress: number;
  imageUrl?: string;
  failReason?: string;
  /** The buttons' customIds with what they do. */
  buttons: { customId: string; intent?: string }[];
  finalPrompt?: string;
  /** Describe's suggestions or Shorten's analysis. */
  text?: string;
  /** The speed mode the API says the job ran in (Plus proxies report it; gateways do not). */
  modeRan?: string;
}

export interface ItemOptions {
  submitPolicy: SubmitPolicy;
  /** Adaptive poll interval bounds and the deadline per job. */
  pollMinMs: number;
  pollMaxMs: number;
  jobDeadlineMs: number;
  thumbnails?: ThumbnailSpec[];
  /** Ask the proxy to POST task changes to the worker's callback receiver. */
  callbacks: boolean;
  /** Skip rows whose stored result says they already succeeded. */
  skipDone: boolean;
  /** The task queue of the media worker (CPU-heavy sharp work kept apart from orchestration). */
  mediaTaskQueue: string;
}

export interface ItemInput {
  batchId: string;
  /** Where per-row results live: `<outputPrefix>/_rows/<key>.json`. */
  outputPrefix: string;
  row: RowRef;
  options: ItemOptions;
  /** The account slot the batch acquired for this row: the row gives it back once it needs no more jobs. */
  slotLease?: { workflowId: string; leaseId: string };
}

export interface ItemResult {
  rowKey: string;
  line: number;
  status: ItemStatus;
  failureClass?: FailureClass;
  reason?: string;
  taskIds: string[];
  images: StoredImage[];
  text?: string;
  /** The mode the row asked for, and the modes its jobs ran in where the API said (`fast|relax` if they differ). */
  modeRequested?: string;
  modeRan?: string;
}

/** A row that asked for a mode and ran, where the API says so, in another: paid at another price, or slower. */
export function modeMismatch(r: Pick<ItemResult, 'modeRequested' | 'modeRan'>): boolean {
  return !!r.modeRequested && !!r.modeRan && r.modeRan !== r.modeRequested;
}
