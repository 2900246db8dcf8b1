// The account's slots workflow as the client meets it: its name, starting it, and what its leases look like.
import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { accountSlotsWorkflowId, STALE_CHECK_MS, type AccountSlotsInput, type AccountSlotsState } from '../contracts/account-slots';
import { checkLeasesSignal, setSlotsSignal, slotsQuery } from '../contracts/handlers';
import { WorkflowType } from '../contracts/naming';
import { findStaleLeases, type StaleLease } from './stale-leases';

/** A lease not given back after this long is taken back anyway (its batch was terminated, not cancelled). */
const LEASE_TTL_MS = 6 * 3_600_000;

/**
 * A name for the API account that reveals nothing about its key: MJ_ACCOUNT (`config.mj.account`) if set, else a short hash of the base
 * URL and key, so batches on the same key share one slots workflow.
 */
export function accountOf(mj: { baseUrl?: string; apiKey?: string; account?: string }): string {
  if (mj.account) return mj.account.replace(/[^A-Za-z0-9._-]/g, '_');
  return `acct-${createHash('sha256')
    .update(`${mj.baseUrl ?? ''}\n${mj.apiKey ?? ''}`)
    .digest('hex')
    .slice(0, 12)}`;
}

/**
 * Starts the account's slots workflow if it is not running, sets its slot count, and asks it to check the holders
 * of its leases as soon as the new batch's rows wait (so a terminated batch's slots come back at once).
 */
export async function ensureAccountSlots(
  client: Client,
  taskQueue: string,
  account: string,
  slots: number,
  queueAhead = 0,
  maxQueueAhead = 0,
): Promise<void> {
  const input: AccountSlotsInput = { account, slots, queueAhead, maxQueueAhead, leaseTtlMs: LEASE_TTL_MS };
  const handle = await client.workflow.signalWithStart(WorkflowType.accountSlots, {
    workflowId: accountSlotsWorkflowId(taskQueue, account),
    taskQueue,
    args: [input],
    signal: setSlotsSignal,
    signalArgs: [{ slots, queueAhead, maxQueueAhead }],
  });
  await handle.signal(checkLeasesSignal);
}

/** The account's slots as a batch's rows meet them: who holds them, how many rows wait, and leases nobody uses. */
export interface AccountSlotsStatus {
  account: string;
  slots: number;
  /** Leases granted beyond the slots now; with a range, sized from the measured refills within it. */
  queueAhead: number;
  queueAheadRange?: AccountSlotsState['queueAheadRange'];
  refill?: AccountSlotsState['refill'];
  held: number;
  /** Rows of every batch on the account waiting for a slot. */
  waiting: number;
  /** Held leases whose batch or row has closed: the slots workflow takes them back at its next check. */
  heldByClosedRows: StaleLease[];
  /** How long until that check, at the most. */
  reclaimWithinSeconds: number;
  reclaimed: number;
}

/** Reads the slots workflow; looks for leases held by closed rows only when rows wait and every slot is held. */
export async function accountSlotsStatus(client: Client, slotsWorkflowId: string): Promise<AccountSlotsStatus> {
  const s = await client.workflow.getHandle(slotsWorkflowId).query(slotsQuery);
  const full = s.waiting > 0 && s.held.length >= s.slots + s.queueAhead;
  return {
    account: s.account,
    slots: s.slots,
    queueAhead: s.queueAhead,
    ...(s.queueAheadRange ? { queueAheadRange: s.queueAheadRange } : {}),
    ...(s.refill ? { refill: s.refill } : {}),
    held: s.held.length,
    waiting: s.waiting,
    heldByClosedRows: full ? await findStaleLeases(client, s.held) : [],
    reclaimWithinSeconds: (2 * STALE_CHECK_MS) / 1000,
    reclaimed: s.reclaimed ?? 0,
  };
}
