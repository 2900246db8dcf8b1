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
  /** A lease not released after this long is taken back (its batch was terminated, not cancelled). */
  leaseTtlMs: number;
  carried?: { held: Lease[]; waiting: Lease[]; reclaimed?: number };
}

export interface AccountSlotsState {
  account: string;
  slots: number;
  queueAhead: number;
  held: Lease[];
  waiting: number;
  /** Leases taken back because their batch or row had closed without giving them back. */
  reclaimed?: number;
}

export interface SlotsSize {
  slots: number;
  queueAhead: number;
}

/** Per task queue too: the slots workflow runs on the workers of the batches that share it. */
export const accountSlotsWorkflowId = (taskQueue: string, account: string) => `mj-account-slots/${taskQueue}/${account}`;

/** While rows wait and every slot is held, the holders of the held leases are checked at most this often. */
export const STALE_CHECK_MS = 60_000;
