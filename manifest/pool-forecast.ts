// The plan over a pool of accounts: when a manifest's paid jobs finish, given each account's slots, modes, daily cap
// and working hours, and whether that is before a deadline. A discrete simulation, simple enough to check by hand:
//
// - A row's jobs take the durations `forecast` uses (`rowJobSeconds`), in the row's mode (or `defaultMode`). A row
//   holds one slot of ONE account from its first job to its last follow-up: its jobs run one after another there.
//   Media-only rows (taskId, imageUrl) pay nothing and take no slot.
// - Rows are offered in manifest order at every moment something changes (a slot frees, a window opens, a day
//   starts). A row no account can take yet waits, and the rows behind it that can be taken start: a relax row
//   waiting for the relax account does not hold back fast rows (the batch keeps many rows in flight).
// - An account takes a row only when it serves the row's mode, has a free slot, its `hours` are open and the row's
//   jobs (first job and every follow-up) all fit in what is left of its `dailyJobs` for that day: a row never
//   crosses the cap, so the cap is a spending limit the plan respects. A smaller row behind it may still fit and
//   start first. A row's jobs count on the day it starts. A row started inside the window runs to its end.
// - Of the accounts that can take a row, the least loaded wins (slots in use / slots), then the larger `weight`,
//   then the first in the file.
// - A row no account can ever take (a mode none serves, or more jobs than every daily cap of those that do) is
//   listed in `unservable`, with its jobs, and left out of the finish time.
// - Not modelled: `queueAhead` (a queued job runs no sooner), `minGapMs`/`jitterMs` (seconds, not minutes), the
//   batch's `--concurrency` (assumed to keep every slot fed), failures and retries.
import { ACCOUNT_MODES, dayKey, nextDayStart, nextWindowOpen, type AccountMode, type AccountSpec } from '../contracts/accounts';
import type { Mode } from '../mj-client/routing';
import { rowJobSeconds } from './forecast';
import type { ManifestRow } from './row';

export interface PoolPause {
  /** What closed the account to new rows: its working window, or its daily cap. */
  reason: 'hours' | 'dailyJobs';
  /** The first moment a row it could have run waited for it, and when it opened again. */
  from: string;
  until: string;
}

export interface AccountPlan {
  name: string;
  slots: number;
  modes: AccountMode[];
  rows: number;
  /** Paid jobs it runs (first jobs and follow-ups). */
  jobs: number;
  /** Its rows' chains added up: the slot time it is busy. */
  busySeconds: number;
  /** Paid jobs by its calendar day (its time zone), what `dailyJobs` caps. */
  jobsByDay: Record<string, number>;
  firstStartAt: string | null;
  finishAt: string | null;
  pauses: PoolPause[];
}

export interface UnservableRow {
  line: number;
  key: string;
  mode: Mode;
  jobs: number;
  reason: string;
}

export interface ScheduledRow {
  line: number;
  key: string;
  account: string;
  mode: Mode;
  jobs: number;
  startAt: string;
  finishAt: string;
}

export interface PoolForecast {
  startAt: string;
  /** When the last planned row's last job ends (the start, with nothing to run). */
  finishAt: string;
  durationSeconds: number;
  /** Null without a deadline, as are the three below. */
  deadline: string | null;
  meetsDeadline: boolean | null;
  /** Set when the deadline is missed: how late the last job ends. */
  missBySeconds: number | null;
  /** Set when the deadline holds: how much time is left after the last job. */
  marginSeconds: number | null;
  /** The planned rows' paid jobs (unservable rows' are in `unservable`). */
  paidJobs: { total: number; byMode: Record<string, number>; byAccount: Record<string, number> };
  accounts: AccountPlan[];
  unservable: UnservableRow[];
  /** Each planned row: its account and when it runs, in manifest order. */
  schedule: ScheduledRow[];
}

export interface PoolForecastInput {
  rows: ManifestRow[];
  accounts: AccountSpec[];
  /** ms epoch */
  startMs: number;
  deadlineMs?: number;
  /** The mode of rows that name none (as `forecast`'s). */
  defaultMode?: Mode;
}

interface Pending {
  row: ManifestRow;
  mode: Mode;
  jobs: number;
  chainMs: number;
  /** Accounts that serve its mode with a cap its jobs fit in. */
  candidates: AccountState[];
  scheduled?: ScheduledRow;
}

interface AccountState {
  spec: AccountSpec;
  index: number;
  modes: AccountMode[];
  weight: number;
  /** When each slot is free again (ms epoch). */
  slotFree: number[];
  usedByDay: Map<string, number>;
  /** What it has run so far (the rest of its AccountPlan is filled in at the end). */
  plan: Pick<AccountPlan, 'name' | 'slots' | 'modes' | 'rows' | 'jobs' | 'busySeconds'>;
  pauses: { reason: PoolPause['reason']; from: number; until: number }[];
  clock?: ClockAt;
  firstStart?: number;
  finish?: number;
}

/** An account's clock at one moment of the simulation, computed once per moment (the window math is costly). */
interface ClockAt {
  t: number;
  opensAt?: number;
  day?: string;
  nextDay?: number;
}

function clockOf(a: AccountState, t: number): ClockAt {
  if (a.clock?.t !== t) a.clock = { t };
  return a.clock;
}

/** Why an account cannot take a row of `jobs` jobs at `t`, and until when; undefined when it can. */
function blockerOf(a: AccountState, t: number, jobs: number): { reason: 'slots' | PoolPause['reason']; until: number } | undefined {
  if (!a.slotFree.some((f) => f <= t)) return { reason: 'slots', until: Math.min(...a.slotFree) };
  const clock = clockOf(a, t);
  clock.opensAt ??= nextWindowOpen(a.spec, t);
  if (clock.opensAt > t) return { reason: 'hours', until: clock.opensAt };
  const cap = a.spec.dailyJobs;
  if (cap === undefined) return undefined;
  clock.day ??= dayKey(a.spec, t);
  if ((a.usedByDay.get(clock.day) ?? 0) + jobs <= cap) return undefined;
  clock.nextDay ??= nextDayStart(a.spec, t);
  return { reason: 'dailyJobs', until: clock.nextDay };
}

function busyAt(a: AccountState, t: number): number {
  return a.slotFree.filter((f) => f > t).length;
}

/** Least loaded first (compared exactly, as cross products), then the larger weight, then file order. */
function better(a: AccountState, b: AccountState, t: number): boolean {
  const loadA = busyAt(a, t) * b.slotFree.length;
  const loadB = busyAt(b, t) * a.slotFree.length;
  if (loadA !== loadB) return loadA < loadB;
  if (a.weight !== b.weight) return a.weight > b.weight;
  return a.index < b.index;
}

function recordPause(a: AccountState, reason: PoolPause['reason'], from: number, until: number): void {
  const last = a.pauses[a.pauses.length - 1];
  if (last && last.reason === reason && last.until === until) return;
  a.pauses.push({ reason, from, until });
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Plans `rows` over `accounts` from `startMs`: see the model at the top of this file. */
export function poolForecast(input: PoolForecastInput): PoolForecast {
  const { startMs, deadlineMs } = input;
  const accounts: AccountState[] = input.accounts.map((spec, index) => {
    const modes = [...(spec.modes ?? ACCOUNT_MODES)];
    return {
      spec,
      index,
      modes,
      weight: spec.weight ?? 1,
      slotFree: Array.from({ length: Math.max(0, spec.slots) }, () => startMs),
      usedByDay: new Map(),
      plan: { name: spec.name, slots: spec.slots, modes, rows: 0, jobs: 0, busySeconds: 0 },
      pauses: [],
    };
  });

  const unservable: UnservableRow[] = [];
  const pending: Pending[] = [];
  for (const row of input.rows) {
    const mode = row.mode ?? input.defaultMode ?? 'fast';
    const seconds = rowJobSeconds(row, mode);
    if (seconds.length === 0) continue;
    const jobs = seconds.length;
    const serving = accounts.filter((a) => a.slotFree.length > 0 && a.modes.includes(mode));
    const candidates = serving.filter((a) => a.spec.dailyJobs === undefined || jobs <= a.spec.dailyJobs);
    if (candidates.length === 0) {
      const reason =
        serving.length === 0
          ? `no account serves ${mode}`
          : `its ${jobs} paid jobs exceed the daily cap of every account that serves ${mode} (at most ${Math.max(...serving.map((a) => a.spec.dailyJobs!))})`;
      unservable.push({ line: row.line, key: row.key, mode, jobs, reason });
      continue;
    }
    pending.push({ row, mode, jobs, chainMs: seconds.reduce((s, x) => s + x, 0) * 1000, candidates });
  }

  let head = 0;
  let t = startMs;
  while (head < pending.length) {
    let next = Infinity;
    // Rows of one mode and size are refused alike at one moment (each assignment only makes accounts busier).
    const refused = new Set<string>();
    for (let i = head; i < pending.length; i++) {
      const p = pending[i];
      if (p.scheduled) continue;
      if (accounts.every((a) => !a.slotFree.some((f) => f <= t))) {
        next = Math.min(next, ...accounts.flatMap((a) => a.slotFree));
        break;
      }
      const shape = `${p.mode}:${p.jobs}`;
      if (refused.has(shape)) continue;
      let chosen: AccountState | undefined;
      for (const a of p.candidates) {
        const blocker = blockerOf(a, t, p.jobs);
        if (blocker) {
          if (blocker.reason !== 'slots') recordPause(a, blocker.reason, t, blocker.until);
          next = Math.min(next, blocker.until);
        } else if (!chosen || better(a, chosen, t)) chosen = a;
      }
      if (!chosen) {
        refused.add(shape);
        continue;
      }
      const slot = chosen.slotFree.findIndex((f) => f <= t);
      const end = t + p.chainMs;
      chosen.slotFree[slot] = end;
      const day = (clockOf(chosen, t).day ??= dayKey(chosen.spec, t));
      chosen.usedByDay.set(day, (chosen.usedByDay.get(day) ?? 0) + p.jobs);
      chosen.plan.rows += 1;
      chosen.plan.jobs += p.jobs;
      chosen.plan.busySeconds += p.chainMs / 1000;
      chosen.firstStart ??= t;
      chosen.finish = Math.max(chosen.finish ?? end, end);
      p.scheduled = {
        line: p.row.line,
        key: p.row.key,
        account: chosen.spec.name,
        mode: p.mode,
        jobs: p.jobs,
        startAt: iso(t),
        finishAt: iso(end),
      };
    }
    while (head < pending.length && pending[head].scheduled) head++;
    if (head >= pending.length) break;
    // Every wait ends at a later moment (a slot frees, a window opens, a day starts); the guard keeps time moving.
    t = Number.isFinite(next) && next > t ? next : t + 1000;
  }
  const schedule = pending.map((p) => p.scheduled!);

  const finishMs = Math.max(startMs, ...accounts.map((a) => a.finish ?? startMs));
  const byMode: Record<string, number> = {};
  for (const s of schedule) byMode[s.mode] = (byMode[s.mode] ?? 0) + s.jobs;
  const byAccount = Object.fromEntries(accounts.map((a) => [a.spec.name, a.plan.jobs]));
  const accountPlans: AccountPlan[] = accounts.map((a) => ({
    ...a.plan,
    jobsByDay: Object.fromEntries(a.usedByDay),
    firstStartAt: a.firstStart === undefined ? null : iso(a.firstStart),
    finishAt: a.finish === undefined ? null : iso(a.finish),
    pauses: a.pauses.map((p) => ({ reason: p.reason, from: iso(p.from), until: iso(p.until) })),
  }));
  const lateMs = deadlineMs === undefined ? undefined : finishMs - deadlineMs;
  return {
    startAt: iso(startMs),
    finishAt: iso(finishMs),
    durationSeconds: Math.ceil((finishMs - startMs) / 1000),
    deadline: deadlineMs === undefined ? null : iso(deadlineMs),
    meetsDeadline: lateMs === undefined ? null : lateMs <= 0,
    missBySeconds: lateMs !== undefined && lateMs > 0 ? Math.ceil(lateMs / 1000) : null,
    marginSeconds: lateMs !== undefined && lateMs <= 0 ? Math.floor(Math.abs(lateMs) / 1000) : null,
    paidJobs: { total: schedule.reduce((s, r) => s + r.jobs, 0), byMode, byAccount },
    accounts: accountPlans,
    unservable,
    schedule,
  };
}
