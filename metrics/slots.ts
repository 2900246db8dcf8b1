// The accounts' slots for the gauges, read from the workflows that own them: the task queue's pool when the worker
// runs an accounts file, else every running slots workflow on the task queue (one per account name batches used).
import type { Client } from '@temporalio/client';
import { accountPoolState } from '../client/account-pool';
import { slotsQuery } from '../contracts/handlers';
import { WorkflowType } from '../contracts/naming';
import type { AccountSlotsReading } from './registry';

export function poolSlotsReader(client: Client, taskQueue: string): () => Promise<AccountSlotsReading[]> {
  return async () => {
    const state = await accountPoolState(client, taskQueue);
    return (state?.accounts ?? []).map((a) => ({ account: a.name, inUse: a.inUse, effectiveSlots: a.effectiveSlots }));
  };
}

export function accountSlotsReader(client: Client, taskQueue: string): () => Promise<AccountSlotsReading[]> {
  return async () => {
    const readings: AccountSlotsReading[] = [];
    const running = client.workflow.list({
      query: `WorkflowType = '${WorkflowType.accountSlots}' AND TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
    });
    for await (const wf of running) {
      // One that ended since it was listed is left out; the others still count.
      const s = await client.workflow
        .getHandle(wf.workflowId)
        .query(slotsQuery)
        .catch(() => undefined);
      if (s) readings.push({ account: s.account, inUse: s.held.length, effectiveSlots: s.slots });
    }
    return readings;
  };
}
