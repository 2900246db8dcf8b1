import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createSlotLeaseActivities } from '../activities/slot-leases';
import { ACCOUNT_MODES, type AccountSpec } from '../contracts/accounts';
import { STALE_CHECK_MS } from '../contracts/account-slots';
import type { AccountPoolInput, AccountPoolState, AccountRuntime, PoolLease } from '../contracts/account-pool';
import {
  accountPoolQuery,
  poolAcceptedSignal,
  poolAcquireSignal,
  poolGrantedSignal,
  poolReturnSignal,
  releaseSlotSignal,
  setAccountsSignal,
} from '../contracts/handlers';
import {
  freshRuntime,
  nextWake,
  onAccepted,
  onCleanRow,
  onRefusal,
  pickAccount,
  roll,
  spaceNextGrant,
  statusOf,
  type Candidate,
} from './pool-rules';

const leases = proxyActivities<ReturnType<typeof createSlotLeaseActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '2s', maximumInterval: '20s', maximumAttempts: 3 },
});

/** A granted lease: the account it is on, what it charged to which day, whether it was refused or is a probe. */
interface Held extends PoolLease {
  on: string;
  charged: number;
  chargedDay?: string;
  refused?: boolean;
  /** Granted as the probe of a parked account. */
  probe?: boolean;
}

/**
 * The slots of every account in the accounts file, shared by the task queue's batches: each row's lease is granted
 * on a healthy account that serves its mode and has room (least loaded first), and the row keeps it for its chain.
 * Per account it keeps effective slots (halved on throttling, grown back by clean rows), parks an account that keeps
 * refusing and lets one row probe it after a backoff, and holds rows back outside an account's hours or at its daily
 * cap. Waits are durable timers; leases live in its state and survive continue-as-new.
 */
export async function accountPoolWorkflow(input: AccountPoolInput): Promise<never> {
  const specs = new Map<string, AccountSpec>(input.accounts.map((a) => [a.name, a]));
  const runtime = new Map<string, AccountRuntime>(Object.entries(input.carried?.runtime ?? {}));
  const held = new Map<string, Held>((input.carried?.held ?? []).map((l) => [l.id, l as Held]));
  const waiting: PoolLease[] = [...(input.carried?.waiting ?? [])];
  let reclaimed = input.carried?.reclaimed ?? 0;
  let changed = true;

  const rtOf = (name: string) => {
    let rt = runtime.get(name);
    if (!rt) {
      rt = freshRuntime(specs.get(name)!);
      runtime.set(name, rt);
    }
    return rt;
  };
  const inUse = (name: string) => {
    let n = 0;
    for (const l of held.values()) if (l.on === name) n++;
    return n;
  };
  /** Every account as of `now`; `view`: copies, for a query (which must not change the workflow's state). */
  const candidates = (now: number, view = false): Candidate[] =>
    [...specs.values()].map((spec) => {
      const kept = runtime.get(spec.name);
      const rt = view ? (kept ? { ...kept, refusals: [...kept.refusals] } : freshRuntime(spec)) : rtOf(spec.name);
      roll(spec, rt, now);
      return { spec, rt, inUse: inUse(spec.name) };
    });

  /** Gives a lease back to its account: what it charged today is refunded when no job was made on it. */
  const drop = (id: string, refund: boolean): Held | undefined => {
    const lease = held.get(id);
    if (!lease) return undefined;
    held.delete(id);
    const rt = runtime.get(lease.on);
    if (refund && rt && rt.day === lease.chargedDay) rt.jobsToday = Math.max(0, rt.jobsToday - lease.charged);
    if (rt?.parked?.probing === id) rt.parked.probing = undefined;
    changed = true;
    return lease;
  };

  setHandler(setAccountsSignal, (accounts) => {
    for (const spec of accounts) specs.set(spec.name, spec);
    for (const name of [...specs.keys()]) if (!accounts.some((a) => a.name === name)) specs.delete(name);
    changed = true;
  });
  setHandler(poolAcquireSignal, (lease) => {
    const mine = held.get(lease.id);
    if (mine) {
      // Asked again (a batch run again under the same id): the lease is the new asker's, granted again.
      Object.assign(mine, { holder: lease.holder, holderRun: lease.holderRun, row: lease.row, grantedAt: Date.now() });
      void tell(mine, mine.probe === true);
    } else if (!waiting.some((w) => w.id === lease.id)) waiting.push(lease);
    changed = true;
  });
  setHandler(releaseSlotSignal, (release) => {
    // Pool leases do not ask for job times (`reportUsage`), but a release may carry them.
    const id = typeof release === 'string' ? release : release.leaseId;
    const i = waiting.findIndex((w) => w.id === id);
    if (i >= 0) waiting.splice(i, 1);
    const lease = drop(id, false);
    const spec = lease && specs.get(lease.on);
    if (lease && spec && !lease.refused) {
      const rt = rtOf(lease.on);
      if (lease.probe && rt.parked) onAccepted(spec, rt);
      else onCleanRow(spec, rt);
    }
    changed = true;
  });
  setHandler(poolReturnSignal, (back) => {
    const lease = held.get(back.leaseId);
    const spec = specs.get(back.account);
    if (back.refusal && spec && lease?.on === back.account) {
      const rt = rtOf(back.account);
      lease.refused = true;
      onRefusal(spec, rt, back.leaseId, back.refusal.reason, back.refusal.message, Date.now(), input);
    }
    if (back.again) {
      drop(back.leaseId, true); // no job was made on it: the row asks again before its first job
      // First in line: it has waited already. (A lease taken back meanwhile is asked for again as it is.)
      const { on: _on, charged: _c, chargedDay: _d, refused: _r, probe: _p, grantedAt: _g, ...asked } = lease ?? { id: back.leaseId };
      waiting.unshift({ ...asked, id: back.leaseId, holder: back.again.holder, account: back.again.account });
    }
    changed = true;
  });
  setHandler(poolAcceptedSignal, ({ account }) => {
    const spec = specs.get(account);
    if (spec) onAccepted(spec, rtOf(account));
    changed = true;
  });
  setHandler(accountPoolQuery, (): AccountPoolState => {
    const now = Date.now();
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
    const accounts = candidates(now, true).map(({ spec, rt, inUse: used }) => {
      const { status, opensAt } = statusOf(spec, rt, now);
      return {
        name: spec.name,
        status,
        ...(rt.parked
          ? {
              parked: {
                reason: rt.parked.reason,
                message: rt.parked.message,
                since: iso(rt.parked.since)!,
                probeAt: iso(rt.parked.probeAt)!,
                probes: rt.parked.probes,
              },
            }
          : {}),
        ...(status === 'outside-hours' || status === 'capped' ? { opensAt: iso(opensAt) } : {}),
        modes: spec.modes ?? ['fast', 'relax', 'turbo'],
        slots: spec.slots,
        effectiveSlots: rt.effectiveSlots,
        queueAhead: spec.queueAhead ?? 0,
        inUse: used,
        jobsToday: rt.jobsToday,
        ...(spec.dailyJobs !== undefined ? { dailyJobs: spec.dailyJobs } : {}),
        refusalsLastHour: rt.refusals.length,
      };
    });
    return { accounts, waiting: waiting.length, ...(stalled ? { stalled } : {}), reclaimed };
  });

  /** Tells the holder its lease is granted; a holder that is gone gives the slot back. */
  const tell = async (lease: Held, probe: boolean) => {
    try {
      await getExternalWorkflowHandle(lease.holder).signal(poolGrantedSignal, {
        leaseId: lease.id,
        account: lease.on,
        ...(probe ? { probe } : {}),
      });
    } catch {
      drop(lease.id, true);
    }
  };

  let stalled: AccountPoolState['stalled'];
  /** Grants what can be granted now, in order of asking (a lease no account can take now lets later ones by). */
  const grant = async (now: number) => {
    const pool = candidates(now);
    const told: Promise<void>[] = [];
    for (let i = 0; i < waiting.length;) {
      const lease = waiting[i]!;
      // A pin to an account no longer in the file: any account (the row then pays again for what it cannot reach).
      if (lease.account !== undefined && !specs.has(lease.account)) delete lease.account;
      const pick = pickAccount(pool, lease, now);
      if (!pick) {
        i++;
        continue;
      }
      waiting.splice(i, 1);
      const { spec, rt } = pool[pick.index]!;
      const jobs = lease.jobs ?? 1;
      rt.jobsToday += jobs;
      spaceNextGrant(spec, rt, now, Math.random());
      if (pick.probe) rt.parked!.probing = lease.id;
      const granted: Held = {
        ...lease,
        on: spec.name,
        charged: jobs,
        chargedDay: rt.day,
        grantedAt: now,
        ...(pick.probe ? { probe: true } : {}),
      };
      held.set(lease.id, granted);
      pool[pick.index]!.inUse++;
      told.push(tell(granted, pick.probe));
    }
    await Promise.all(told);
    stalled = undefined;
    // Stalled: no active account serves any waiting lease (all parked, outside hours or capped, or pinned elsewhere).
    const serves = (a: Candidate, l: PoolLease) =>
      (l.account === undefined || l.account === a.spec.name) && (l.mode === undefined || (a.spec.modes ?? ACCOUNT_MODES).includes(l.mode));
    if (waiting.length > 0 && !pool.some((a) => statusOf(a.spec, a.rt, now).status === 'active' && waiting.some((l) => serves(a, l)))) {
      const until = nextWake(pool, now);
      stalled = {
        reason: `no account can take rows: ${pool.map((a) => `${a.spec.name} ${statusOf(a.spec, a.rt, now).status}`).join(', ')}`,
        ...(until !== undefined ? { until: new Date(until).toISOString() } : {}),
      };
    }
  };

  /** Takes back leases whose batch or row closed without giving them back, when rows wait and every slot is held. */
  let lastCheck = 0;
  const reclaimStale = async (now: number) => {
    if (waiting.length === 0 || now - lastCheck < STALE_CHECK_MS) return;
    lastCheck = now;
    for (const [id, lease] of held) if (now - (lease.grantedAt ?? now) > input.leaseTtlMs) drop(id, false);
    const checked = [...held.values()].filter((l) => now - (l.grantedAt ?? now) >= STALE_CHECK_MS);
    if (checked.length === 0) return;
    try {
      for (const { id } of await leases.findStaleLeases(checked)) {
        if (drop(id, false)) reclaimed++;
      }
    } catch {
      // The check failed (Temporal busy, no worker): the next round tries again.
    }
  };

  for (;;) {
    const now = Date.now();
    const wake = waiting.length > 0 ? nextWake(candidates(now), now) : undefined;
    const timeout = Math.max(1, Math.min(STALE_CHECK_MS, wake === undefined ? STALE_CHECK_MS : wake - now));
    await condition(() => changed || workflowInfo().continueAsNewSuggested, timeout);
    changed = false;
    await reclaimStale(Date.now());
    await grant(Date.now());
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 10_000) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof accountPoolWorkflow>({
        ...input,
        accounts: [...specs.values()],
        carried: { held: [...held.values()], waiting, runtime: Object.fromEntries(runtime), reclaimed },
      });
    }
  }
}
