// What `mj-batch accounts` shows, built from whichever source knows the accounts (the pool, the accounts file, or
// the single account's slots workflow) and printed as text: pure, so the formatting is tested without a server.
// Times are UTC ISO (to the second), each with how long until then: the pool's own clock is UTC too.
import type { AccountSlotsStatus } from '../client/account-slots';
import type { AccountPoolState, AccountState } from '../contracts/account-pool';
import { ACCOUNT_MODES, type AccountSpec } from '../contracts/accounts';

/** `idle`: no batch has used the account yet (the pool or the slots workflow does not run). */
export type AccountViewStatus = AccountState['status'] | 'idle';

/**
 * One account with AccountState's keys. One account's slots workflow counts neither jobs nor refusals, so from it
 * `jobsToday` and `refusalsLastHour` are left out rather than shown as 0.
 */
export interface AccountView extends Omit<AccountState, 'status' | 'jobsToday' | 'refusalsLastHour'> {
  status: AccountViewStatus;
  /** One account's slots: the queue-ahead's range and the refills it is sized from. */
  queueAheadRange?: AccountSlotsStatus['queueAheadRange'];
  refill?: AccountSlotsStatus['refill'];
  jobsToday?: number;
  refusalsLastHour?: number;
}

export interface AccountsReport {
  /** `pool`: the running pool; `file`: the accounts file, no pool yet; `slots`: the single account (no file). */
  source: 'pool' | 'file' | 'slots';
  taskQueue: string;
  /** The accounts file (source `file`). */
  file?: string;
  accounts: AccountView[];
  /** Rows waiting for a slot. */
  waiting: number;
  stalled?: AccountPoolState['stalled'];
}

export function reportFromPool(taskQueue: string, pool: AccountPoolState): AccountsReport {
  return {
    source: 'pool',
    taskQueue,
    accounts: pool.accounts,
    waiting: pool.waiting,
    ...(pool.stalled ? { stalled: pool.stalled } : {}),
  };
}

/** The file's accounts as the pool will start them: every slot free, nothing charged yet. */
export function reportFromFile(taskQueue: string, file: string, specs: AccountSpec[]): AccountsReport {
  return {
    source: 'file',
    taskQueue,
    file,
    accounts: specs.map((s) => ({
      name: s.name,
      status: 'idle',
      modes: s.modes ?? [...ACCOUNT_MODES],
      slots: s.slots,
      effectiveSlots: s.slots,
      queueAhead: s.queueAhead ?? 0,
      inUse: 0,
      jobsToday: 0,
      ...(s.dailyJobs !== undefined ? { dailyJobs: s.dailyJobs } : {}),
      refusalsLastHour: 0,
    })),
    waiting: 0,
  };
}

/** The single account: from its slots workflow when it runs, else idle with the slots a batch would give it. */
export function reportFromSlots(
  taskQueue: string,
  slots: AccountSlotsStatus | { account: string; slots: number; queueAhead: number },
): AccountsReport {
  const running = 'held' in slots;
  return {
    source: 'slots',
    taskQueue,
    accounts: [
      {
        name: slots.account,
        status: running ? 'active' : 'idle',
        modes: [...ACCOUNT_MODES],
        slots: slots.slots,
        effectiveSlots: slots.slots,
        queueAhead: slots.queueAhead,
        ...(running && slots.queueAheadRange ? { queueAheadRange: slots.queueAheadRange } : {}),
        ...(running && slots.refill ? { refill: slots.refill } : {}),
        inUse: running ? slots.held : 0,
      },
    ],
    waiting: running ? slots.waiting : 0,
  };
}

/** How the single account's queue-ahead is sized: `queue-ahead 2-8, sized from refills (p90 3.1 s, jobs 2 s)`. */
function queueAheadLine(a: AccountView): string {
  const range = a.queueAheadRange;
  if (!range || range.most <= range.least) return '';
  const s = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  return a.refill && a.refill.samples > 0
    ? `queue-ahead ${range.least}-${range.most}, sized from ${a.refill.samples} refills (p90 ${s(a.refill.overheadMsP90)}, jobs ${s(a.refill.ranMsMedian)})`
    : `queue-ahead ${range.least}-${range.most}, sized from refills once rows report them`;
}

/** `2025-06-01T22:00:00Z (in 4 min)`; `(due)` once it has passed. */
export function when(iso: string, now: number): string {
  const ms = Date.parse(iso) - now;
  const plain = new Date(Date.parse(iso)).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `${plain} (${ms <= 0 ? 'due' : `in ${duration(ms)}`})`;
}

/** How long `ms` is, rounded for reading: `45 s`, `12 min`, `3 h 5 min`. */
export function duration(ms: number): string {
  const s = Math.ceil(ms / 1000);
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** Why an account takes no rows, and until when: empty for an active or idle one. */
export function accountCondition(a: AccountView, now: number): string {
  if (a.status === 'parked' && a.parked) {
    const p = a.parked;
    return (
      `parked since ${when(p.since, now).replace(/ \(.*\)$/, '')} (${p.reason}: ${p.message.slice(0, 120)}), ` +
      `next probe ${when(p.probeAt, now)}, ${p.probes} probe(s) so far`
    );
  }
  if (a.status === 'outside-hours') return a.opensAt ? `outside its hours, opens ${when(a.opensAt, now)}` : 'outside its hours';
  if (a.status === 'capped') return a.opensAt ? `daily cap reached, opens ${when(a.opensAt, now)}` : 'daily cap reached';
  return '';
}

const IDLE = { pool: 'idle (no batch has used the pool yet)', slots: 'idle (no batch has used its slots yet)' };

/** The report as text: a heading, one line per account, then the stall if any. */
export function accountsLines(r: AccountsReport, now = Date.now()): string[] {
  const heading =
    r.source === 'pool'
      ? `pool of task queue ${r.taskQueue}: ${r.accounts.length} account(s), ${r.waiting} row(s) waiting for a slot`
      : r.source === 'file'
        ? `accounts file ${r.file}: no pool runs on task queue ${r.taskQueue} yet`
        : `single account on task queue ${r.taskQueue} (no accounts file): ${r.waiting} row(s) waiting for a slot`;
  const statusOf = (a: AccountView) => (a.status === 'idle' ? IDLE[r.source === 'slots' ? 'slots' : 'pool'] : a.status);
  const nameWidth = Math.max(4, ...r.accounts.map((a) => a.name.length));
  const statusWidth = Math.max(...r.accounts.map((a) => statusOf(a).length), 6);
  const lines = [heading];
  for (const a of r.accounts) {
    const cells = [
      `in use ${a.inUse}/${a.effectiveSlots} (slots ${a.slots}${a.effectiveSlots < a.slots ? `, fewer after throttling` : ''}${a.queueAhead ? `, +${a.queueAhead} queue-ahead` : ''})`,
      queueAheadLine(a),
      a.jobsToday !== undefined ? `jobs today ${a.jobsToday}${a.dailyJobs !== undefined ? `/${a.dailyJobs}` : ''}` : '',
      a.refusalsLastHour !== undefined ? `refusals in the last hour ${a.refusalsLastHour}` : '',
      a.modes.length < ACCOUNT_MODES.length ? `modes ${a.modes.join(',')}` : '',
      accountCondition(a, now),
    ].filter(Boolean);
    lines.push(`  ${a.name.padEnd(nameWidth)}  ${statusOf(a).padEnd(statusWidth)}  ${cells.join('; ')}`);
  }
  if (r.stalled) lines.push(`  ${stallLine(r.stalled, now)}`);
  if (r.stalled?.until || r.accounts.some((a) => a.parked || a.opensAt)) lines.push('  (times in UTC)');
  return lines;
}

/** Why no row gets a slot although rows wait; they wait, none fails. */
export function stallLine(stalled: NonNullable<AccountPoolState['stalled']>, now: number): string {
  return `STALLED: ${stalled.reason}; ${stalled.until ? `next window ${when(stalled.until, now)}` : 'no next window known'}; rows wait, none fails`;
}
