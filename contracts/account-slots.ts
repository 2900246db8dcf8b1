// The account's job slots: leases, the slots workflow's input and state, and its workflow id.

/** One job slot of the account, held by one row of one batch. */
export interface Lease {
  id: string;
  /** The workflow to tell when the lease is granted (the batch). */
  holder: string;
  /** The holder's first run id: a later batch with the same id is another holder. */
  holderRun?: string;
  /** The row workflow that will use the lease, so a lease whose row has closed can be taken back. */
  row?: string;
  grantedAt?: number;
}

export interface AccountSlotsInput {
  account: string;
  slots: number;
  /**
   * Leases granted beyond the slots: jobs that wait in the API's own queue, so a slot starts its next job the moment
   * one ends instead of when the workflow notices (default 0; the proxies queue up to 10 per account).
   */
  queueAhead?: number;
  /**
   * The most leases granted beyond the slots when the measured refill time asks for more than `queueAhead` (which
   * stays the least): `queueAheadFor`. Unset or not above `queueAhead`: a fixed queue-ahead.
   */
  maxQueueAhead?: number;
  /** A lease not released after this long is taken back (its batch was terminated, not cancelled). */
  leaseTtlMs: number;
  carried?: { held: Lease[]; waiting: Lease[]; reclaimed?: number; usage?: LeaseUsage[] };
}

/** A release with the row's job times (rows whose lease says `reportUsage`). */
export interface SlotRelease {
  leaseId: string;
  /** Summed over the row's jobs, from the API's own times (absent when the API gave none). */
  queuedMs?: number;
  ranMs?: number;
}

/**
 * One lease's life as the slots workflow saw it: `ranMs` on a slot, and `overheadMs`, the time it was held with no
 * job in the API (grant → child start → submit, and the job's end → the row noticing → the release).
 */
export interface LeaseUsage {
  ranMs: number;
  overheadMs: number;
}

/** Median job time and p90 refill time of the recent leases the queue-ahead is sized from. */
export interface RefillStats {
  samples: number;
  ranMsMedian: number;
  overheadMsP90: number;
}

/** Leases whose usage the queue-ahead is sized from (the most recent), and how many it needs before adapting. */
export const USAGE_WINDOW = 30;
export const USAGE_MIN_SAMPLES = 5;

export interface AccountSlotsState {
  account: string;
  slots: number;
  /** Leases granted beyond the slots now (sized from `usage` when `maxQueueAhead` allows). */
  queueAhead: number;
  /** The least and most queue-ahead (absent in slots workflows from before adaptation). */
  queueAheadRange?: { least: number; most: number };
  refill?: RefillStats;
  held: Lease[];
  waiting: number;
  /** Leases taken back because their batch or row had closed without giving them back. */
  reclaimed?: number;
}

export interface SlotsSize {
  slots: number;
  queueAhead: number;
  maxQueueAhead?: number;
}

/** Per task queue too: the slots workflow runs on the workers of the batches that share it. */
export const accountSlotsWorkflowId = (taskQueue: string, account: string) => `mj-account-slots/${taskQueue}/${account}`;

/** While rows wait and every slot is held, the holders of the held leases are checked at most this often. */
export const STALE_CHECK_MS = 60_000;
