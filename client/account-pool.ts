// The task queue's pool of accounts as the client meets it: starting it with the accounts file's specs, and reading
// each account's state (for `mj-batch accounts`, `status` and the board).
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { AccountSpec } from '../contracts/accounts';
import { accountPoolWorkflowId, type AccountPoolInput, type AccountPoolState } from '../contracts/account-pool';
import { accountPoolQuery, setAccountsSignal } from '../contracts/handlers';
import { WorkflowType } from '../contracts/naming';

/** A lease not given back after this long is taken back anyway (its batch was terminated, not cancelled). */
const LEASE_TTL_MS = 6 * 3_600_000;

export interface PoolTimings {
  /** A parked account's first probe after this long (default 30 s), doubling up to `maxProbeMs` (default 10 min). */
  firstProbeMs?: number;
  maxProbeMs?: number;
}

/**
 * Starts the task queue's pool if it is not running and gives it the accounts (specs only: the keys stay with the
 * worker). Returns the pool's workflow id, for the batch's input.
 */
export async function ensureAccountPool(
  client: Client,
  taskQueue: string,
  accounts: AccountSpec[],
  timings: PoolTimings = {},
): Promise<string> {
  const workflowId = accountPoolWorkflowId(taskQueue);
  const input: AccountPoolInput = { accounts, leaseTtlMs: LEASE_TTL_MS, ...timings };
  await client.workflow.signalWithStart(WorkflowType.accountPool, {
    workflowId,
    taskQueue,
    args: [input],
    signal: setAccountsSignal,
    signalArgs: [accounts],
  });
  return workflowId;
}

/** The pool's state by its workflow id, or null when it is not running (never started, or terminated). */
export async function accountPoolStateById(client: Client, workflowId: string): Promise<AccountPoolState | null> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    if ((await handle.describe()).status.name !== 'RUNNING') return null;
    return await handle.query(accountPoolQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

/** The task queue's pool's state, or null when no pool runs there (no batch has used an accounts file there). */
export function accountPoolState(client: Client, taskQueue: string): Promise<AccountPoolState | null> {
  return accountPoolStateById(client, accountPoolWorkflowId(taskQueue));
}
