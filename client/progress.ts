// What a running batch's rows are doing, from their own search attributes.
import type { Client } from '@temporalio/client';
import { WorkflowType } from '../contracts/naming';
import type { ItemStage } from '../contracts/rows';
import { RowStageKey } from '../contracts/search-attributes';

/** Rows in flight by stage, from the rows' own search attributes (visibility lags by a moment). */
export async function rowStages(client: Client, batchId: string): Promise<Partial<Record<ItemStage, number>>> {
  const stages: Partial<Record<ItemStage, number>> = {};
  const query = `WorkflowType = '${WorkflowType.item}' AND ExecutionStatus = 'Running' AND BatchId = '${batchId.replace(/'/g, '')}'`;
  for await (const wf of client.workflow.list({ query, pageSize: 200 })) {
    const stage = wf.typedSearchAttributes.get(RowStageKey) as ItemStage | undefined;
    if (stage) stages[stage] = (stages[stage] ?? 0) + 1;
  }
  return stages;
}
