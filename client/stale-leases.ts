// Which of an account's held leases nobody uses any more: read by `status` and by the slots workflow's activity.
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import type { Lease } from '../contracts/account-slots';

/** Why a held lease has nobody behind it any more. */
export type StaleReason = 'batch-closed' | 'batch-replaced' | 'row-closed';

export interface StaleLease {
  id: string;
  reason: StaleReason;
}

/** The workflow's description, or null when the server has no such workflow. */
export async function describeOrNull(client: Client, workflowId: string): Promise<WorkflowExecutionDescription | null> {
  try {
    return await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

/**
 * The held leases whose holder is gone: the batch that asked for it is closed (or a new batch with the same id
 * replaced it), or the row that used it has closed. A lease whose row has not started yet stays (its batch is alive).
 * Each workflow is described once, however many leases name it.
 */
export async function findStaleLeases(client: Client, leases: Lease[]): Promise<StaleLease[]> {
  const descriptions = new Map<string, Promise<WorkflowExecutionDescription | null>>();
  const describe = (id: string) => {
    if (!descriptions.has(id)) descriptions.set(id, describeOrNull(client, id));
    return descriptions.get(id)!;
  };
  const stale: StaleLease[] = [];
  await Promise.all(
    leases.map(async (lease) => {
      const batch = await describe(lease.holder);
      if (!batch || batch.status.name !== 'RUNNING') return void stale.push({ id: lease.id, reason: 'batch-closed' });
      const firstRunId = batch.raw.workflowExecutionInfo?.firstRunId;
      if (lease.holderRun && firstRunId && firstRunId !== lease.holderRun)
        return void stale.push({ id: lease.id, reason: 'batch-replaced' });
      if (!lease.row || lease.grantedAt === undefined) return;
      const row = await describe(lease.row);
      // Only the row execution that started after the grant used this lease; an older one is a previous run's.
      if (row && row.status.name !== 'RUNNING' && row.startTime.getTime() >= lease.grantedAt)
        stale.push({ id: lease.id, reason: 'row-closed' });
    }),
  );
  return stale;
}
