import { Context } from '@temporalio/activity';
import type { Lease } from '../contracts/account-slots';
import { findStaleLeases, type StaleLease } from '../client/stale-leases';

/** The account slots workflow's check, with the worker's own client. */
export function createSlotLeaseActivities() {
  return {
    async findStaleLeases(leases: Lease[]): Promise<StaleLease[]> {
      return findStaleLeases(Context.current().client, leases);
    },
  };
}
