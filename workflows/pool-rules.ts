// The pool's decisions, pure and deterministic (the pool workflow runs them; unit tests call them directly): which
// account takes a lease, what a refusal or a clean row does to an account's effective slots (AIMD) and health, and
// when an account that cannot take rows now takes them again.
import { dayKey, isWithinHours, nextDayStart, nextWindowOpen, type AccountSpec } from '../contracts/accounts';
import {
  FIRST_PROBE_MS,
  MAX_PROBE_MS,
  PARK_AFTER_REFUSALS,
  type AccountRuntime,
  type AccountStatus,
  type PoolLease,
  type RefusalReason,
} from '../contracts/account-pool';

const HOUR_MS = 3_600_000;

export interface ProbeTimes {
  firstProbeMs?: number;
  maxProbeMs?: number;
}

export function freshRuntime(spec: AccountSpec): AccountRuntime {
  return { effectiveSlots: spec.slots, cleanRows: 0, consecutiveRefusals: 0, refusals: [], jobsToday: 0, nextGrantAt: 0 };
}

/** A new day in the account's zone starts its count again; refusals older than an hour are forgotten. */
export function roll(spec: AccountSpec, rt: AccountRuntime, now: number): void {
  const day = dayKey(spec, now);
  if (rt.day !== day) {
    rt.day = day;
    rt.jobsToday = 0;
  }
  while (rt.refusals.length > 0 && rt.refusals[0]! <= now - HOUR_MS) rt.refusals.shift();
  // A slot count lowered in the file lowers the effective slots with it.
  rt.effectiveSlots = Math.max(1, Math.min(rt.effectiveSlots, spec.slots));
}

export function statusOf(spec: AccountSpec, rt: AccountRuntime, now: number): { status: AccountStatus; opensAt?: number } {
  if (rt.parked) return { status: 'parked', opensAt: rt.parked.probeAt };
  if (!isWithinHours(spec, now)) return { status: 'outside-hours', opensAt: nextWindowOpen(spec, now) };
  if (spec.dailyJobs !== undefined && rt.jobsToday >= spec.dailyJobs) return { status: 'capped', opensAt: nextDayStart(spec, now) };
  return { status: 'active' };
}

/** Leases it may hold: its effective slots, plus its queue-ahead only while it is not throttled. */
export function capacityOf(spec: AccountSpec, rt: AccountRuntime): number {
  return rt.effectiveSlots + (rt.effectiveSlots >= spec.slots ? (spec.queueAhead ?? 0) : 0);
}

const serves = (spec: AccountSpec, lease: PoolLease) =>
  (lease.account === undefined || lease.account === spec.name) &&
  (lease.mode === undefined || (spec.modes ?? ['fast', 'relax', 'turbo']).includes(lease.mode));

/** Whether the account can take `lease` now: `probe` when it is parked and its next probe is due. */
export function canTake(spec: AccountSpec, rt: AccountRuntime, inUse: number, lease: PoolLease, now: number): boolean | 'probe' {
  if (!serves(spec, lease)) return false;
  if (rt.parked) {
    if (now < rt.parked.probeAt || rt.parked.probing !== undefined) return false;
    // Fix: a probe is a paid submit like any other, so it too waits for the account's hours, room under its daily
    // cap and its spacing (it used to be granted at any hour and past the cap).
    return allowsNow(spec, rt, lease, now) ? 'probe' : false;
  }
  return inUse < capacityOf(spec, rt) && allowsNow(spec, rt, lease, now);
}

/** The account's hours, daily cap and spacing allow `lease` now (slots and health aside). */
function allowsNow(spec: AccountSpec, rt: AccountRuntime, lease: PoolLease, now: number): boolean {
  const capped = spec.dailyJobs !== undefined && rt.jobsToday >= spec.dailyJobs;
  if (capped || !isWithinHours(spec, now) || now < rt.nextGrantAt) return false;
  // A row bigger than the cap is let in on a fresh day, or it could never run.
  const jobs = lease.jobs ?? 1;
  return spec.dailyJobs === undefined || rt.jobsToday === 0 || rt.jobsToday + jobs <= spec.dailyJobs;
}

export interface Candidate {
  spec: AccountSpec;
  rt: AccountRuntime;
  inUse: number;
}

/**
 * The account for `lease` (index into `accounts`, which are in the file's order): a due probe first (one row tries a
 * parked account as soon as it may), else the least loaded by share of its slots, then the higher weight, then the
 * earlier in the file.
 */
export function pickAccount(accounts: readonly Candidate[], lease: PoolLease, now: number): { index: number; probe: boolean } | undefined {
  let best: { index: number; load: number; weight: number } | undefined;
  for (let i = 0; i < accounts.length; i++) {
    const a = accounts[i]!;
    const take = canTake(a.spec, a.rt, a.inUse, lease, now);
    if (take === 'probe') return { index: i, probe: true };
    if (!take) continue;
    const load = a.inUse / a.spec.slots;
    const weight = a.spec.weight ?? 1;
    if (!best || load < best.load || (load === best.load && weight > best.weight)) best = { index: i, load, weight };
  }
  return best ? { index: best.index, probe: false } : undefined;
}

/** Starts (or extends) a park: the next probe after the backoff, which doubles with every probe refused. */
function park(rt: AccountRuntime, reason: RefusalReason, message: string, now: number, times: ProbeTimes): void {
  const first = times.firstProbeMs ?? FIRST_PROBE_MS;
  const max = times.maxProbeMs ?? MAX_PROBE_MS;
  const backoffMs = rt.parked ? Math.min(max, rt.parked.backoffMs * 2) : first;
  rt.parked = {
    reason,
    message,
    since: rt.parked?.since ?? now,
    probeAt: now + backoffMs,
    backoffMs,
    probes: rt.parked ? rt.parked.probes + (rt.parked.probing !== undefined ? 1 : 0) : 0,
  };
}

/**
 * A refusal that provably created no job. Throttling halves the effective slots (never below 1) and parks the
 * account after a few in a row; quota, key and permission refusals park it at once. A refused probe parks it longer.
 */
export function onRefusal(
  spec: AccountSpec,
  rt: AccountRuntime,
  leaseId: string,
  reason: RefusalReason,
  message: string,
  now: number,
  times: ProbeTimes,
): void {
  rt.refusals.push(now);
  rt.cleanRows = 0;
  rt.consecutiveRefusals++;
  if (rt.parked) {
    if (rt.parked.probing === leaseId) park(rt, reason, message, now, times);
    return;
  }
  if (reason === 'throttled') {
    rt.effectiveSlots = Math.max(1, Math.floor(rt.effectiveSlots / 2));
    if (rt.consecutiveRefusals < PARK_AFTER_REFUSALS) return;
  }
  park(rt, reason, message, now, times);
  rt.effectiveSlots = 1;
}

/** A submit accepted: the account is healthy; a parked one rejoins with half its slots and grows back from there. */
export function onAccepted(spec: AccountSpec, rt: AccountRuntime): void {
  rt.consecutiveRefusals = 0;
  if (rt.parked) {
    rt.parked = undefined;
    rt.effectiveSlots = Math.max(1, Math.ceil(spec.slots / 2));
    rt.cleanRows = 0;
  }
}

/** A lease given back with no refusal on it: one more clean row; a round of them (its effective slots) adds a slot. */
export function onCleanRow(spec: AccountSpec, rt: AccountRuntime): void {
  // Fix: rows granted before a park that end cleanly used to grow a parked account's slots; it rejoins with
  // half of them (onAccepted) and grows from there.
  if (rt.parked) return;
  rt.consecutiveRefusals = 0;
  rt.cleanRows++;
  if (rt.effectiveSlots < spec.slots && rt.cleanRows >= rt.effectiveSlots) {
    rt.effectiveSlots++;
    rt.cleanRows = 0;
  }
}

/** After a grant: the account's next submit no sooner than `minGapMs` plus up to `jitterMs` at random. */
export function spaceNextGrant(spec: AccountSpec, rt: AccountRuntime, now: number, random: number): void {
  const gap = (spec.minGapMs ?? 0) + Math.floor(random * (spec.jitterMs ?? 0));
  if (gap > 0) rt.nextGrantAt = now + gap;
}

/** The next instant something may change for the waiting leases without a signal (a probe due, a window or day opening, a gap ending). */
export function nextWake(accounts: readonly Candidate[], now: number): number | undefined {
  let wake: number | undefined;
  const consider = (t: number | undefined) => {
    if (t !== undefined && t > now && (wake === undefined || t < wake)) wake = t;
  };
  for (const a of accounts) {
    const { status, opensAt } = statusOf(a.spec, a.rt, now);
    consider(opensAt);
    // Fix: what canTake waits for that the status does not show (the pool used to poll for these): a parked account's
    // due probe waits for its window or next day, and a row too big for what is left of a cap waits for the next day.
    if (status === 'parked') consider(statusOf(a.spec, { ...a.rt, parked: undefined }, now).opensAt);
    if (a.spec.dailyJobs !== undefined && a.rt.jobsToday > 0) consider(nextDayStart(a.spec, now));
    consider(a.rt.nextGrantAt);
  }
  return wake;
}
