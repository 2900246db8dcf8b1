import { allHandlersFinished, condition, continueAsNew, defineQuery, defineSignal, getExternalWorkflowHandle, setHandler, workflowInfo } from '@temporalio/workflow';

/** One job slot of the account, held by one row of one batch. */
export interface Lease {
  id: string;
  /** The workflow to tell when the lease is granted (the batch). */
  holder: string;
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
  carried?: { held: Lease[]; waiting: Lease[] };
}

export interface AccountSlotsState {
  account: string;
  slots: number;
  queueAhead: number;
  held: Lease[];
  waiting: number;
}

export const acquireSlotSignal = defineSignal<[Lease]>('acquireSlot');
export const releaseSlotSignal = defineSignal<[string]>('releaseSlot');
/** A number (older callers) sets the slots only. */
export const setSlotsSignal = defineSignal<[number | SlotsSize]>('setSlots');
export interface SlotsSize {
  slots: number;
  queueAhead: number;
}

/** Sent to the holder with the lease id. */
export const slotGrantedSignal = defineSignal<[string]>('slotGranted');
export const slotsQuery = defineQuery<AccountSlotsState>('slots');

/** Per task queue too: the slots workflow runs on the workers of the batches that share it. */
export const accountSlotsWorkflowId = (taskQueue: string, account: string) => `mj-account-slots/${taskQueue}/${account}`;

/**
 * The job slots of one API account, shared by every batch that uses it: a FIFO semaphore with leases. It lives as
 * long as the account is used (continuing as new to keep its history short); leases live in its state, so a crashed
 * worker loses none, and a lease whose batch vanished is reclaimed after its time to live.
 */
export async function accountSlotsWorkflow(input: AccountSlotsInput): Promise<never> {
  const held = new Map<string, Lease>((input.carried?.held ?? []).map((l) => [l.id, l]));
  const waiting: Lease[] = [...(input.carried?.waiting ?? [])];
  let slots = input.slots;
  let queueAhead = input.queueAhead ?? 0;
  const capacity = () => slots + queueAhead;
  const regrant: Lease[] = [];

  setHandler(acquireSlotSignal, (lease) => {
    if (held.has(lease.id)) regrant.push(held.get(lease.id)!); // a repeated ask: say yes again
    else if (!waiting.some((w) => w.id === lease.id)) waiting.push({ id: lease.id, holder: lease.holder });
  });
  setHandler(releaseSlotSignal, (id) => {
    held.delete(id);
    const i = waiting.findIndex((w) => w.id === id);
    if (i >= 0) waiting.splice(i, 1);
  });
  setHandler(setSlotsSignal, (size) => {
    const next = typeof size === 'number' ? { slots: size, queueAhead } : size;
    if (Number.isInteger(next.slots) && next.slots >= 1) slots = next.slots;
    if (Number.isInteger(next.queueAhead) && next.queueAhead >= 0) queueAhead = next.queueAhead;
  });
  setHandler(slotsQuery, () => ({ account: input.account, slots, queueAhead, held: [...held.values()], waiting: waiting.length }));

  const tell = async (lease: Lease) => {
    try {
      await getExternalWorkflowHandle(lease.holder).signal(slotGrantedSignal, lease.id);
    } catch {
      held.delete(lease.id); // the batch is gone: the slot is free again
    }
  };

  for (;;) {
    await condition(() => regrant.length > 0 || (waiting.length > 0 && held.size < capacity()) || workflowInfo().continueAsNewSuggested, 60_000);
    const now = Date.now();
    for (const [id, lease] of held) if (now - (lease.grantedAt ?? now) > input.leaseTtlMs) held.delete(id);
    while (regrant.length) await tell(regrant.shift()!);
    while (waiting.length > 0 && held.size < capacity()) {
      const lease = { ...waiting.shift()!, grantedAt: now };
      held.set(lease.id, lease);
      await tell(lease);
    }
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 10_000) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof accountSlotsWorkflow>({ ...input, slots, queueAhead, carried: { held: [...held.values()], waiting } });
    }
  }
}
