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
  /**
   * A hash of everything that decides what the row pays for and stores (`rowVersion` in manifest/version.ts): a re-run
   * skips the row only when its stored result has the same one. Unset in rows read before versions existed.
   */
  version?: string;
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
  /** Of a finished job, from the API's own times: how long it waited in the API's queue, and how long it ran. */
  queuedMs?: number;
  ranMs?: number;
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
  /** A reprocess: new thumbnails from the stored originals, no job and no download (`reprocessRowWorkflow`). */
  reprocess?: boolean;
  /**
   * Submit a row again although the same version was refused by moderation before (`redrive --class banned`); a plain
   * re-run does not, since a refusal is paid for and counts against the account.
   */
  resubmitBanned?: boolean;
}

export interface ItemInput {
  batchId: string;
  /** Where per-row results live: `<outputPrefix>/_rows/<key>.json`. */
  outputPrefix: string;
  row: RowRef;
  options: ItemOptions;
  /**
   * The account slot the batch acquired for this row: the row gives it back once it needs no more jobs. With an
   * accounts file, `workflowId` is the pool's and `account` the account the lease is on (every job of the row goes
   * there); `probe`: the account was parked and this row tries it.
   */
  slotLease?: {
    workflowId: string;
    leaseId: string;
    account?: string;
    probe?: boolean;
    /** Release with the row's job times (`SlotRelease`), so the slots workflow sizes its queue-ahead from them. */
    reportUsage?: boolean;
  };
  /**
   * The batch's workflow id, when the batch started this row to outlive its run (continue-as-new does not wait for
   * rows in flight): the row tells it by `rowFinished` once its result is stored. Unset, the batch waits for the child.
   */
  reportTo?: string;
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
  /** The row's version when it ran (see `RowRef.version`); unset in results stored before versions existed. */
  version?: string;
  /** Images of earlier versions (or of another row that wrote this folder) that this one replaced, where they are kept. */
  superseded?: SupersededVersion[];
  /** The account (accounts file) the row's jobs ran on; unset with one implicit account. */
  account?: string;
}

/**
 * The images of one earlier version of a row that a later version no longer shows. Each is kept under
 * `<row folder>/_versions/<version>/` (`supersededKey`): copied there, original, thumbnails and sidecar, before the
 * later version wrote anything; the keys here are those copies.
 */
export interface SupersededVersion {
  /** The earlier version, or, for another row's images found in this folder, that row's version or key. */
  version: string;
  /** The row they belonged to (this row, or another that wrote the same folder). */
  rowKey: string;
  images: StoredImage[];
}

/** A row that asked for a mode and ran, where the API says so, in another: paid at another price, or slower. */
export function modeMismatch(r: Pick<ItemResult, 'modeRequested' | 'modeRan'>): boolean {
  return !!r.modeRequested && !!r.modeRan && r.modeRan !== r.modeRequested;
}
