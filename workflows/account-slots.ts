import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createSlotLeaseActivities } from '../activities/slot-leases';
import { STALE_CHECK_MS, USAGE_WINDOW, type AccountSlotsInput, type Lease, type LeaseUsage } from '../contracts/account-slots';
import { queueAheadFor, usageStats } from './queue-ahead';
import {
  acquireSlotSignal,
  checkLeasesSignal,
  releaseSlotSignal,
  setSlotsSignal,
  slotGrantedSignal,
  slotsQuery,
} from '../contracts/handlers';

const leases = proxyActivities<ReturnType<typeof createSlotLeaseActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '2s', maximumInterval: '20s', maximumAttempts: 3 },
});

/**
 * The job slots of one API account, shared by every batch that uses it: a FIFO semaphore with leases. It lives as
 * long as the account is used (continuing as new to keep its history short); leases live in its state, so a crashed
 * worker loses none. A lease whose batch or row closed without giving it back is taken back within minutes when
 * rows wait for it (see `reclaimStale`), and any lease after its time to live.
 */
export async function accountSlotsWorkflow(input: AccountSlotsInput): Promise<never> {
  const held = new Map<string, Lease>((input.carried?.held ?? []).map((l) => [l.id, l]));
  const waiting: Lease[] = [...(input.carried?.waiting ?? [])];
  let slots = input.slots;
  let queueAhead = input.queueAhead ?? 0;
  let maxQueueAhead = input.maxQueueAhead ?? 0;
  // Rows whose lease says `reportUsage` release with their jobs' times; from the first such release on, the
  // queue-ahead follows the measured refill time (between `queueAhead` and `maxQueueAhead`).
  const usage: LeaseUsage[] = [...(input.carried?.usage ?? [])];
  const queueAheadNow = () => queueAheadFor(usage, slots, queueAhead, maxQueueAhead);
  const capacity = () => slots + queueAheadNow();
  const regrant: Lease[] = [];

  setHandler(acquireSlotSignal, (lease) => {
    const mine = held.get(lease.id);
    if (mine) {
      // A repeated ask (a batch run again under the same id asks for its rows' leases again): say yes again, and
      // the lease is the new asker's, so the check for closed holders does not take it from under it.
      Object.assign(mine, { holder: lease.holder, holderRun: lease.holderRun, row: lease.row, grantedAt: Date.now() });
      regrant.push(mine);
    } else if (!waiting.some((w) => w.id === lease.id))
      waiting.push({ id: lease.id, holder: lease.holder, holderRun: lease.holderRun, row: lease.row });
  });
  setHandler(releaseSlotSignal, (release) => {
    const id = typeof release === 'string' ? release : release.leaseId;
    const lease = held.get(id);
    if (typeof release !== 'string' && lease?.grantedAt !== undefined && (release.ranMs ?? 0) > 0) {
      // Only rows started with `reportUsage` send times, so histories from before adaptation replay as they ran.
      const ranMs = release.ranMs!;
      const overheadMs = Math.max(0, Date.now() - lease.grantedAt - ranMs - (release.queuedMs ?? 0));
      usage.push({ ranMs, overheadMs });
      if (usage.length > USAGE_WINDOW) usage.splice(0, usage.length - USAGE_WINDOW);
    }
    held.delete(id);
    const i = waiting.findIndex((w) => w.id === id);
    if (i >= 0) waiting.splice(i, 1);
  });
  setHandler(setSlotsSignal, (size) => {
    const next = typeof size === 'number' ? { slots: size, queueAhead } : size;
    if (Number.isInteger(next.slots) && next.slots >= 1) slots = next.slots;
    if (Number.isInteger(next.queueAhead) && next.queueAhead >= 0) queueAhead = next.queueAhead;
    if (Number.isInteger(next.maxQueueAhead) && next.maxQueueAhead! >= 0) maxQueueAhead = next.maxQueueAhead!;
  });
  // Only a client that knows the signal sets it, so histories from before it replay as they ran.
  let checkAsked = false;
  setHandler(checkLeasesSignal, () => {
    checkAsked = true;
  });
  let reclaimed = input.carried?.reclaimed ?? 0;
  setHandler(slotsQuery, () => ({
    account: input.account,
    slots,
    queueAhead: queueAheadNow(),
    queueAheadRange: { least: queueAhead, most: Math.max(queueAhead, maxQueueAhead) },
    ...(usage.length > 0 ? { refill: usageStats(usage) } : {}),
    held: [...held.values()],
    waiting: waiting.length,
    reclaimed,
  }));

  const tell = async (lease: Lease) => {
    try {
      await getExternalWorkflowHandle(lease.holder).signal(slotGrantedSignal, lease.id);
    } catch {
      held.delete(lease.id); // the batch is gone: the slot is free again
    }
  };

  /**
   * Takes back leases whose batch or row has closed without giving them back (a terminated batch, a lost release),
   * so waiting rows get them within minutes instead of after the time to live.
   */
  let lastCheck = 0;
  const reclaimStale = async () => {
    const now = Date.now();
    if (waiting.length === 0 || held.size < capacity() || (now - lastCheck < STALE_CHECK_MS && !checkAsked)) return;
    checkAsked = false;
    const old = [...held.values()].filter((l) => now - (l.grantedAt ?? now) >= STALE_CHECK_MS);
    // A terminated batch's leases are stale at any age: checking only old ones left young ones held for another
    // round, while the batch run again waited on too few slots. The check never takes a lease whose row may still start.
    const checked = old.length < held.size && patched('check-young-leases') ? [...held.values()] : old;
    if (checked.length === 0 || !patched('reclaim-stale-leases')) return;
    lastCheck = now;
    let stale: { id: string }[];
    try {
      stale = await leases.findStaleLeases(checked);
    } catch {
      return; // the check failed (Temporal busy, no worker): the next round tries again
    }
    for (const { id } of stale) {
      const lease = held.get(id);
      if (lease && checked.some((l) => l.id === id && l.grantedAt === lease.grantedAt)) {
        held.delete(id);
        reclaimed++;
      }
    }
  };

  for (;;) {
    await condition(
      () =>
        regrant.length > 0 ||
        (waiting.length > 0 && held.size < capacity()) ||
        (checkAsked && waiting.length > 0) ||
        workflowInfo().continueAsNewSuggested,
      STALE_CHECK_MS,
    );
    const now = Date.now();
    for (const [id, lease] of held) if (now - (lease.grantedAt ?? now) > input.leaseTtlMs) held.delete(id);
    await reclaimStale();
    while (regrant.length) await tell(regrant.shift()!);
    while (waiting.length > 0 && held.size < capacity()) {
      const lease = { ...waiting.shift()!, grantedAt: now };
      held.set(lease.id, lease);
      await tell(lease);
    }
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 10_000) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof accountSlotsWorkflow>({
        ...input,
        slots,
        queueAhead,
        maxQueueAhead,
        carried: { held: [...held.values()], waiting, reclaimed, ...(usage.length > 0 ? { usage } : {}) },
      });
    }
  }
}
