// The pool of API accounts a task queue's batches share when an accounts file is in use: leases that name the account
// they were granted on, each account's health, pacing and caps, and the pool workflow's id. One account per lease:
// a row's first job goes where the pool says, and every follow-up of the row on the same account (task ids belong to
// one account).
import type { AccountMode, AccountSpec } from './accounts';
import type { Lease } from './account-slots';

/** A row's lease of the pool: one slot on one account for the row's chain of jobs. */
export interface PoolLease extends Lease {
  /** The row's mode: only an account that serves it is granted (unset: any account). */
  mode?: AccountMode;
  /** The paid jobs the row plans (its first job and follow-ups), charged to the account's day at the grant. */
  jobs?: number;
  /** Only this account (a row that must follow up on a task of that account). */
  account?: string;
}

/** Pool → holder: the lease is granted on `account`. `probe`: the account was parked and this row tries it. */
export interface PoolGrant {
  leaseId: string;
  account: string;
  probe?: boolean;
}

/**
 * Why an account refused a submit that provably created no job. `throttled`: 429, queue full, "no account
 * available" (the account is busy: fewer slots, parked if it keeps on); the others park it at once.
 */
export type RefusalReason = 'throttled' | 'quota' | 'unauthorized' | 'forbidden' | 'unknown-account';

/**
 * Row → pool: the lease back. With `refusal`, the account refused the row's submit. With `again`, the row still
 * needs a slot (its first job was refused, or it must move to `account` of an earlier version's task) and waits for
 * a new grant, sent to `holder`.
 */
export interface PoolReturn {
  leaseId: string;
  account: string;
  refusal?: { reason: RefusalReason; message: string };
  again?: { holder: string; account?: string };
}

/** Row → pool: a submit was accepted on `account` after a refusal or as a probe (the account is healthy again). */
export interface PoolAccepted {
  leaseId: string;
  account: string;
}

export type AccountStatus = 'active' | 'parked' | 'outside-hours' | 'capped';

/** One account as `mj-batch accounts` shows it. */
export interface AccountState {
  name: string;
  status: AccountStatus;
  /** Why it is parked (the last refusal), and until when it waits for its next probe (ISO). */
  parked?: { reason: RefusalReason; message: string; since: string; probeAt: string; probes: number };
  /** Outside hours or capped: when it takes rows again (ISO). */
  opensAt?: string;
  modes: AccountMode[];
  slots: number;
  /** Slots it is given now: `slots`, less after throttling (AIMD), back up one per round of clean rows. */
  effectiveSlots: number;
  queueAhead: number;
  inUse: number;
  /** Paid jobs charged today (its time zone), and its cap. */
  jobsToday: number;
  dailyJobs?: number;
  refusalsLastHour: number;
}

export interface AccountPoolState {
  accounts: AccountState[];
  /** Leases waiting for a slot. */
  waiting: number;
  /** When nothing can be granted although rows wait: why, and when the next account opens (ISO), if known. */
  stalled?: { reason: string; until?: string };
  reclaimed: number;
}

/** What the pool workflow carries into its next run (continue-as-new). */
export interface AccountRuntime {
  effectiveSlots: number;
  cleanRows: number;
  consecutiveRefusals: number;
  refusals: number[];
  parked?: { reason: RefusalReason; message: string; since: number; probeAt: number; backoffMs: number; probes: number; probing?: string };
  day?: string;
  jobsToday: number;
  nextGrantAt: number;
}

export interface AccountPoolInput {
  accounts: AccountSpec[];
  /** A lease not released after this long is taken back (its batch was terminated, not cancelled). */
  leaseTtlMs: number;
  /** A parked account's first probe after this long, doubling up to `maxProbeMs` (defaults below). */
  firstProbeMs?: number;
  maxProbeMs?: number;
  carried?: { held: PoolLease[]; waiting: PoolLease[]; runtime: Record<string, AccountRuntime>; reclaimed: number };
}

/** Refusals in a row (no accepted submit between them) that park a throttled account. */
export const PARK_AFTER_REFUSALS = 4;
export const FIRST_PROBE_MS = 30_000;
export const MAX_PROBE_MS = 10 * 60_000;

/** One pool per task queue: the worker's accounts file says which accounts its activities can reach. */
export const accountPoolWorkflowId = (taskQueue: string) => `mj-account-pool/${taskQueue}`;
