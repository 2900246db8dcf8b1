// A stand-in for a batch as the holder of account pool leases (test only): it keeps every grant the pool sends it, in
// order, and answers them by query, so a test sees which lease went to which account and which were probes.
import { condition, defineQuery, setHandler } from '@temporalio/workflow';
import type { PoolGrant } from '../../contracts/account-pool';
import { poolGrantedSignal } from '../../contracts/handlers';

export const grantsQuery = defineQuery<PoolGrant[]>('grants');

/** Runs until terminated. */
export async function poolHolderWorkflow(): Promise<void> {
  const grants: PoolGrant[] = [];
  setHandler(poolGrantedSignal, (grant) => void grants.push(grant));
  setHandler(grantsQuery, () => grants);
  await condition(() => false);
}
