// The account pool's decisions (workflows/pool-rules.ts), called directly: which account takes a lease, what
// refusals and clean rows do to effective slots and health, parks and probes, hours and daily caps, spacing, and
// when the pool must wake up by itself.
import type { AccountSpec } from '../../../contracts/accounts';
import {
  FIRST_PROBE_MS,
  MAX_PROBE_MS,
  PARK_AFTER_REFUSALS,
  type AccountRuntime,
  type PoolLease,
  type RefusalReason,
} from '../../../contracts/account-pool';
import {
  canTake,
  capacityOf,
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
} from '../../../workflows/pool-rules';

// Instants are written as UTC; comments give the local time where it matters.
const at = (iso: string) => Date.parse(iso);
const NOW = at('2025-06-01T12:00:00Z');
const SEC = 1000;
const HOUR = 3_600_000;
const DEFAULT_TIMES = {};

const spec = (over: Partial<AccountSpec> = {}): AccountSpec => ({
  name: 'a',
  baseUrl: 'https://mj-a.example',
  apiKeyEnv: 'MJ_KEY_A',
  slots: 3,
  ...over,
});
const lease = (over: Partial<PoolLease> = {}): PoolLease => ({ id: 'lease-1', holder: 'batch-1', ...over });

/** An account's runtime as the pool holds it after `roll` at `now` (its day set). */
function runtimeOf(s: AccountSpec, over: Partial<AccountRuntime> = {}, now = NOW): AccountRuntime {
  const rt = freshRuntime(s);
  roll(s, rt, now);
  return Object.assign(rt, over);
}
function candidate(over: Partial<AccountSpec>, inUse = 0, rt: Partial<AccountRuntime> = {}): Candidate {
  const s = spec(over);
  return { spec: s, rt: runtimeOf(s, rt), inUse };
}
/** Refuses `n` submits of the account in a row, at `now`. */
function refuse(s: AccountSpec, rt: AccountRuntime, n: number, reason: RefusalReason = 'throttled', now = NOW, times = DEFAULT_TIMES) {
  for (let i = 0; i < n; i++) onRefusal(s, rt, `lease-r${i}`, reason, `refused: ${reason}`, now, times);
}

describe('freshRuntime and roll', () => {
  test('a fresh account has all its slots, no refusals, no jobs, no spacing', () => {
    expect(freshRuntime(spec({ slots: 12 }))).toEqual({
      effectiveSlots: 12,
      cleanRows: 0,
      consecutiveRefusals: 0,
      refusals: [],
      jobsToday: 0,
      nextGrantAt: 0,
    });
  });

  test('jobs are counted per day (UTC by default): the same day keeps the count, the next one starts again', () => {
    const s = spec({ dailyJobs: 10 });
    const rt = runtimeOf(s, { jobsToday: 7 }, at('2025-06-01T00:00:00Z'));
    expect(rt.day).toBe('2025-06-01');
    roll(s, rt, at('2025-06-01T23:59:59Z'));
    expect(rt.jobsToday).toBe(7);
    roll(s, rt, at('2025-06-02T00:00:00Z'));
    expect([rt.day, rt.jobsToday]).toEqual(['2025-06-02', 0]);
  });

  test("the day is the account's own, across both DST changes (America/New_York)", () => {
    const s = spec({ timezone: 'America/New_York', dailyJobs: 10 });
    // 2025-03-09 springs forward: that day's midnight is 05:00Z (EST), the next one 04:00Z (EDT).
    const rt = runtimeOf(s, {}, at('2025-03-09T05:00:00Z'));
    expect(rt.day).toBe('2025-03-09');
    rt.jobsToday = 4;
    roll(s, rt, at('2025-03-10T03:59:59Z')); // 23:59:59 EDT
    expect([rt.day, rt.jobsToday]).toEqual(['2025-03-09', 4]);
    roll(s, rt, at('2025-03-10T04:00:00Z')); // 00:00 EDT, an hour before a fixed UTC-5 day would end
    expect([rt.day, rt.jobsToday]).toEqual(['2025-03-10', 0]);

    // 2025-11-02 falls back: it starts at 04:00Z (EDT) and lasts 25 hours, to 05:00Z the next day (EST).
    rt.jobsToday = 0;
    roll(s, rt, at('2025-11-02T04:00:00Z'));
    rt.jobsToday = 9;
    roll(s, rt, at('2025-11-03T04:59:59Z')); // 23:59:59 EST, still the 2nd
    expect([rt.day, rt.jobsToday]).toEqual(['2025-11-02', 9]);
    roll(s, rt, at('2025-11-03T05:00:00Z'));
    expect([rt.day, rt.jobsToday]).toEqual(['2025-11-03', 0]);
  });

  test('a day whose midnight the clock skips (America/Santiago, 2025-09-07 starts at 01:00) starts the count at its first instant', () => {
    const s = spec({ timezone: 'America/Santiago', dailyJobs: 5 });
    const rt = runtimeOf(s, { jobsToday: 5 }, at('2025-09-06T12:00:00Z'));
    expect(statusOf(s, rt, at('2025-09-06T12:00:00Z'))).toEqual({ status: 'capped', opensAt: at('2025-09-07T04:00:00Z') });
    roll(s, rt, at('2025-09-07T03:59:59Z')); // 23:59:59 -04 on the 6th
    expect(rt.jobsToday).toBe(5);
    roll(s, rt, at('2025-09-07T04:00:00Z')); // 01:00 -03 on the 7th
    expect([rt.day, rt.jobsToday]).toEqual(['2025-09-07', 0]);
    expect(statusOf(s, rt, at('2025-09-07T04:00:00Z')).status).toBe('active');
  });

  test('refusals older than an hour are forgotten', () => {
    const s = spec();
    const rt = runtimeOf(s, { refusals: [NOW - 2 * HOUR, NOW - HOUR, NOW - HOUR + 1, NOW - 5 * SEC] });
    roll(s, rt, NOW);
    expect(rt.refusals).toEqual([NOW - HOUR + 1, NOW - 5 * SEC]);
    roll(s, rt, NOW + HOUR - 5 * SEC - 1);
    expect(rt.refusals).toEqual([NOW - 5 * SEC]);
    roll(s, rt, NOW + HOUR - 5 * SEC);
    expect(rt.refusals).toEqual([]);
  });

  test('slots lowered in the file lower the effective slots; a raise does not add any (they grow back by clean rows)', () => {
    const rt = runtimeOf(spec({ slots: 12 }));
    roll(spec({ slots: 4 }), rt, NOW);
    expect(rt.effectiveSlots).toBe(4);
    roll(spec({ slots: 12 }), rt, NOW);
    expect(rt.effectiveSlots).toBe(4);
    rt.effectiveSlots = 0;
    roll(spec({ slots: 12 }), rt, NOW);
    expect(rt.effectiveSlots).toBe(1);
  });
});

describe('statusOf', () => {
  test('an account with no hours, no cap, not parked is active', () => {
    expect(statusOf(spec(), runtimeOf(spec()), NOW)).toEqual({ status: 'active' });
  });

  test('parked (until its next probe) comes before outside hours and capped', () => {
    const s = spec({ hours: '08:00-09:00', dailyJobs: 1 });
    const parked = {
      reason: 'quota' as const,
      message: 'out of quota',
      since: NOW,
      probeAt: NOW + 30 * SEC,
      backoffMs: 30 * SEC,
      probes: 0,
    };
    expect(statusOf(s, runtimeOf(s, { parked, jobsToday: 1 }), NOW)).toEqual({ status: 'parked', opensAt: NOW + 30 * SEC });
  });

  test('outside its hours: when the window opens next (in its zone), before the cap is looked at', () => {
    const s = spec({ hours: '08:00-23:30', timezone: 'Europe/Berlin', dailyJobs: 3 }); // CEST, UTC+2 in June
    const rt = runtimeOf(s, { jobsToday: 3 });
    expect(statusOf(s, rt, at('2025-06-01T05:59:59Z'))).toEqual({ status: 'outside-hours', opensAt: at('2025-06-01T06:00:00Z') });
    expect(statusOf(s, rt, at('2025-06-01T21:30:00Z'))).toEqual({ status: 'outside-hours', opensAt: at('2025-06-02T06:00:00Z') });
    expect(statusOf(s, rt, at('2025-06-01T06:00:00Z'))).toEqual({ status: 'capped', opensAt: at('2025-06-01T22:00:00Z') });
  });

  test('a window past midnight is open late and early, closed in the day', () => {
    const s = spec({ hours: '22:00-06:00' });
    const rt = runtimeOf(s);
    expect(statusOf(s, rt, at('2025-06-01T22:00:00Z')).status).toBe('active');
    expect(statusOf(s, rt, at('2025-06-02T00:30:00Z')).status).toBe('active');
    expect(statusOf(s, rt, at('2025-06-02T05:59:59Z')).status).toBe('active');
    expect(statusOf(s, rt, at('2025-06-02T06:00:00Z'))).toEqual({ status: 'outside-hours', opensAt: at('2025-06-02T22:00:00Z') });
    expect(statusOf(s, rt, at('2025-06-02T21:59:59Z'))).toEqual({ status: 'outside-hours', opensAt: at('2025-06-02T22:00:00Z') });
  });

  test('at its daily cap: capped until its next day starts; under it, active', () => {
    const s = spec({ dailyJobs: 3 });
    expect(statusOf(s, runtimeOf(s, { jobsToday: 2 }), NOW)).toEqual({ status: 'active' });
    expect(statusOf(s, runtimeOf(s, { jobsToday: 3 }), NOW)).toEqual({ status: 'capped', opensAt: at('2025-06-02T00:00:00Z') });
    expect(statusOf(s, runtimeOf(s, { jobsToday: 5 }), NOW)).toEqual({ status: 'capped', opensAt: at('2025-06-02T00:00:00Z') });
  });
});

describe('capacityOf', () => {
  test('its effective slots plus its queue-ahead while it runs at full slots', () => {
    expect(capacityOf(spec({ slots: 3 }), runtimeOf(spec({ slots: 3 })))).toBe(3);
    expect(capacityOf(spec({ slots: 3, queueAhead: 2 }), runtimeOf(spec({ slots: 3 })))).toBe(5);
  });

  test('no queue-ahead while throttled (effective slots below slots)', () => {
    const s = spec({ slots: 4, queueAhead: 5 });
    expect(capacityOf(s, runtimeOf(s, { effectiveSlots: 3 }))).toBe(3);
    expect(capacityOf(s, runtimeOf(s, { effectiveSlots: 1 }))).toBe(1);
  });
});

describe('canTake', () => {
  test('a lease pinned to an account goes to that account only', () => {
    const s = spec({ name: 'b' });
    expect(canTake(s, runtimeOf(s), 0, lease({ account: 'b' }), NOW)).toBe(true);
    expect(canTake(s, runtimeOf(s), 0, lease({ account: 'a' }), NOW)).toBe(false);
  });

  test('modes: all three by default; only the listed ones otherwise; a lease without a mode goes anywhere', () => {
    const all = spec();
    const relaxOnly = spec({ modes: ['relax'] });
    for (const mode of ['fast', 'relax', 'turbo'] as const) expect(canTake(all, runtimeOf(all), 0, lease({ mode }), NOW)).toBe(true);
    expect(canTake(relaxOnly, runtimeOf(relaxOnly), 0, lease({ mode: 'relax' }), NOW)).toBe(true);
    expect(canTake(relaxOnly, runtimeOf(relaxOnly), 0, lease({ mode: 'fast' }), NOW)).toBe(false);
    expect(canTake(relaxOnly, runtimeOf(relaxOnly), 0, lease(), NOW)).toBe(true);
  });

  test('a free slot: below its capacity (queue-ahead included at full slots, not when throttled)', () => {
    const s = spec({ slots: 3, queueAhead: 1 });
    expect(canTake(s, runtimeOf(s), 3, lease(), NOW)).toBe(true);
    expect(canTake(s, runtimeOf(s), 4, lease(), NOW)).toBe(false);
    expect(canTake(s, runtimeOf(s, { effectiveSlots: 2 }), 1, lease(), NOW)).toBe(true);
    expect(canTake(s, runtimeOf(s, { effectiveSlots: 2 }), 2, lease(), NOW)).toBe(false);
  });

  test('not before the spacing since its last grant has passed', () => {
    const s = spec();
    const rt = runtimeOf(s, { nextGrantAt: NOW + 1 });
    expect(canTake(s, rt, 0, lease(), NOW)).toBe(false);
    expect(canTake(s, rt, 0, lease(), NOW + 1)).toBe(true);
  });

  test('outside its hours it takes nothing; inside a window past midnight it does', () => {
    const s = spec({ hours: '22:00-06:00', timezone: 'Asia/Shanghai' }); // UTC+8: open 14:00Z to 22:00Z
    expect(canTake(s, runtimeOf(s), 0, lease(), at('2025-06-01T13:59:00Z'))).toBe(false);
    expect(canTake(s, runtimeOf(s), 0, lease(), at('2025-06-01T14:00:00Z'))).toBe(true);
    expect(canTake(s, runtimeOf(s), 0, lease(), at('2025-06-01T21:59:00Z'))).toBe(true);
    expect(canTake(s, runtimeOf(s), 0, lease(), at('2025-06-01T22:00:00Z'))).toBe(false);
  });

  test("the daily cap counts the row's planned jobs (one by default): a row that would go past it waits", () => {
    const s = spec({ dailyJobs: 10 });
    expect(canTake(s, runtimeOf(s, { jobsToday: 9 }), 0, lease(), NOW)).toBe(true);
    expect(canTake(s, runtimeOf(s, { jobsToday: 7 }), 0, lease({ jobs: 3 }), NOW)).toBe(true);
    expect(canTake(s, runtimeOf(s, { jobsToday: 8 }), 0, lease({ jobs: 3 }), NOW)).toBe(false);
    expect(canTake(s, runtimeOf(s, { jobsToday: 10 }), 0, lease(), NOW)).toBe(false);
  });

  test('a row bigger than the whole cap is let in on a fresh day (or it could never run), and only then', () => {
    const s = spec({ dailyJobs: 3 });
    expect(canTake(s, runtimeOf(s), 0, lease({ jobs: 5 }), NOW)).toBe(true);
    expect(canTake(s, runtimeOf(s, { jobsToday: 1 }), 0, lease({ jobs: 5 }), NOW)).toBe(false);
    // Yesterday's count is gone once the pool rolls the account into today.
    const rt = runtimeOf(s, { jobsToday: 3 }, at('2025-05-31T20:00:00Z'));
    expect(canTake(s, rt, 0, lease({ jobs: 5 }), NOW)).toBe(false);
    roll(s, rt, NOW);
    expect(canTake(s, rt, 0, lease({ jobs: 5 }), NOW)).toBe(true);
  });

  describe('a parked account', () => {
    const parkedAt = (probeAt: number, probing?: string): Partial<AccountRuntime> => ({
      effectiveSlots: 1,
      parked: { reason: 'quota', message: 'out of quota', since: NOW - 30 * SEC, probeAt, backoffMs: 30 * SEC, probes: 0, probing },
    });

    test('takes nothing before its probe is due, then one probe, and no other while that probe is out', () => {
      const s = spec();
      expect(canTake(s, runtimeOf(s, parkedAt(NOW + 1)), 0, lease(), NOW)).toBe(false);
      expect(canTake(s, runtimeOf(s, parkedAt(NOW)), 0, lease(), NOW)).toBe('probe');
      expect(canTake(s, runtimeOf(s, parkedAt(NOW - 5 * SEC, 'lease-0')), 0, lease(), NOW)).toBe(false);
    });

    test('a probe still has to be a row the account serves', () => {
      const s = spec({ modes: ['fast'] });
      expect(canTake(s, runtimeOf(s, parkedAt(NOW)), 0, lease({ mode: 'relax' }), NOW)).toBe(false);
      expect(canTake(s, runtimeOf(s, parkedAt(NOW)), 0, lease({ account: 'b' }), NOW)).toBe(false);
      expect(canTake(s, runtimeOf(s, parkedAt(NOW)), 0, lease({ account: 'a', mode: 'fast' }), NOW)).toBe('probe');
    });

    test('a probe is a paid submit: not outside the hours, not past the daily cap, not before the spacing', () => {
      const hours = spec({ hours: '13:00-14:00' });
      expect(canTake(hours, runtimeOf(hours, parkedAt(NOW)), 0, lease(), NOW)).toBe(false);
      expect(canTake(hours, runtimeOf(hours, parkedAt(NOW)), 0, lease(), at('2025-06-01T13:30:00Z'))).toBe('probe');
      const capped = spec({ dailyJobs: 4 });
      expect(canTake(capped, runtimeOf(capped, { ...parkedAt(NOW), jobsToday: 4 }), 0, lease(), NOW)).toBe(false);
      expect(canTake(capped, runtimeOf(capped, { ...parkedAt(NOW), jobsToday: 3 }), 0, lease({ jobs: 2 }), NOW)).toBe(false);
      expect(canTake(capped, runtimeOf(capped, { ...parkedAt(NOW), jobsToday: 3 }), 0, lease(), NOW)).toBe('probe');
      const spaced = spec({ minGapMs: 20 * SEC });
      expect(canTake(spaced, runtimeOf(spaced, { ...parkedAt(NOW), nextGrantAt: NOW + SEC }), 0, lease(), NOW)).toBe(false);
      expect(canTake(spaced, runtimeOf(spaced, { ...parkedAt(NOW), nextGrantAt: NOW + SEC }), 0, lease(), NOW + SEC)).toBe('probe');
    });
  });
});

describe('pickAccount', () => {
  const pick = (accounts: Candidate[], l: PoolLease = lease(), now = NOW) => pickAccount(accounts, l, now);

  test('the least loaded by share of its slots', () => {
    expect(pick([candidate({ name: 'a', slots: 4 }, 2), candidate({ name: 'b', slots: 2 }, 0)])).toEqual({ index: 1, probe: false });
    expect(pick([candidate({ name: 'a', slots: 4 }, 1), candidate({ name: 'b', slots: 2 }, 1)])).toEqual({ index: 0, probe: false });
    expect(pick([candidate({ name: 'a', slots: 12 }, 5), candidate({ name: 'b', slots: 3 }, 1)])).toEqual({ index: 1, probe: false });
  });

  test('equal shares: the higher weight (default 1), then the earlier in the file', () => {
    // 1/3 and 2/6 are the same share.
    const a = (w?: number) => candidate({ name: 'a', slots: 3, weight: w }, 1);
    const b = (w?: number) => candidate({ name: 'b', slots: 6, weight: w }, 2);
    expect(pick([a(), b()])).toEqual({ index: 0, probe: false });
    expect(pick([a(), b(2)])).toEqual({ index: 1, probe: false });
    expect(pick([a(0.5), b()])).toEqual({ index: 1, probe: false });
    expect(pick([a(3), b(2)])).toEqual({ index: 0, probe: false });
    expect(pick([a(2), b(2), candidate({ name: 'c', slots: 3, weight: 2 }, 1)])).toEqual({ index: 0, probe: false });
  });

  test('a weight never beats a lower load', () => {
    expect(pick([candidate({ name: 'a', weight: 100 }, 1), candidate({ name: 'b' }, 0)])).toEqual({ index: 1, probe: false });
  });

  test('accounts that cannot take the lease are passed over; none that can: undefined', () => {
    const full = candidate({ name: 'full', slots: 1 }, 1);
    const relax = candidate({ name: 'relax', modes: ['relax'] }, 0);
    const closed = candidate({ name: 'closed', hours: '01:00-02:00' }, 0);
    const capped = candidate({ name: 'capped', dailyJobs: 1 }, 0, { jobsToday: 1 });
    const spaced = candidate({ name: 'spaced' }, 0, { nextGrantAt: NOW + SEC });
    const busy = candidate({ name: 'busy', slots: 3 }, 2);
    expect(pick([full, relax, closed, capped, spaced, busy], lease({ mode: 'fast' }))).toEqual({ index: 5, probe: false });
    expect(pick([full, relax, closed, capped, spaced], lease({ mode: 'fast' }))).toBeUndefined();
    expect(pick([])).toBeUndefined();
  });

  test('a pinned lease goes to its account however loaded it is, or nowhere', () => {
    const accounts = [candidate({ name: 'a', slots: 3 }, 0), candidate({ name: 'b', slots: 3 }, 2)];
    expect(pick(accounts, lease({ account: 'b' }))).toEqual({ index: 1, probe: false });
    accounts[1]!.inUse = 3;
    expect(pick(accounts, lease({ account: 'b' }))).toBeUndefined();
    expect(pick(accounts, lease({ account: 'nowhere' }))).toBeUndefined();
  });

  test('a due probe is chosen before a free healthy account, even an earlier and idle one', () => {
    const parked = {
      reason: 'throttled' as const,
      message: 'queue full',
      since: NOW - 60 * SEC,
      probeAt: NOW,
      backoffMs: 30 * SEC,
      probes: 0,
    };
    const accounts = [candidate({ name: 'a' }, 0), candidate({ name: 'b' }, 2, { effectiveSlots: 1, parked })];
    expect(pick(accounts)).toEqual({ index: 1, probe: true });
    // Not yet due, or already probing: the healthy account.
    expect(pick(accounts, lease(), NOW - 1)).toEqual({ index: 0, probe: false });
    accounts[1]!.rt.parked!.probing = 'lease-0';
    expect(pick(accounts)).toEqual({ index: 0, probe: false });
  });
});

describe('onRefusal', () => {
  test('throttling halves the effective slots, rounding down, never below 1', () => {
    const s = spec({ slots: 12 });
    const rt = runtimeOf(s);
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      refuse(s, rt, 1);
      seen.push(rt.effectiveSlots);
      onAccepted(s, rt); // accepted in between: never three in a row
    }
    expect(seen).toEqual([6, 3, 1, 1, 1]);
    expect(rt.parked).toBeUndefined();
    const five = spec({ slots: 5 });
    const rt5 = runtimeOf(five);
    refuse(five, rt5, 1);
    expect(rt5.effectiveSlots).toBe(2);
  });

  test('every refusal is counted (for the last hour) and ends the run of clean rows', () => {
    const s = spec({ slots: 4 });
    const rt = runtimeOf(s, { effectiveSlots: 2, cleanRows: 1 });
    refuse(s, rt, 1, 'throttled', NOW);
    refuse(s, rt, 1, 'throttled', NOW + SEC);
    expect(rt.refusals).toEqual([NOW, NOW + SEC]);
    expect(rt.cleanRows).toBe(0);
    expect(rt.consecutiveRefusals).toBe(2);
  });

  test(`${PARK_AFTER_REFUSALS} throttled refusals in a row park the account with one effective slot`, () => {
    const s = spec({ slots: 64 });
    const rt = runtimeOf(s);
    refuse(s, rt, PARK_AFTER_REFUSALS - 1);
    expect(rt.parked).toBeUndefined();
    expect(rt.effectiveSlots).toBe(Math.max(1, 64 >> (PARK_AFTER_REFUSALS - 1)));
    onRefusal(s, rt, 'lease-last', 'throttled', 'queue full', NOW + SEC, DEFAULT_TIMES);
    expect(rt.parked).toEqual({
      reason: 'throttled',
      message: 'queue full',
      since: NOW + SEC,
      probeAt: NOW + SEC + FIRST_PROBE_MS,
      backoffMs: FIRST_PROBE_MS,
      probes: 0,
    });
    expect(rt.effectiveSlots).toBe(1);
    expect(statusOf(s, rt, NOW + SEC)).toEqual({ status: 'parked', opensAt: NOW + SEC + FIRST_PROBE_MS });
  });

  test('an accepted submit or a clean row between refusals starts the count again', () => {
    const s = spec({ slots: 12 });
    const rt = runtimeOf(s);
    refuse(s, rt, PARK_AFTER_REFUSALS - 1);
    onAccepted(s, rt);
    refuse(s, rt, PARK_AFTER_REFUSALS - 1);
    onCleanRow(s, rt);
    refuse(s, rt, PARK_AFTER_REFUSALS - 1);
    expect(rt.parked).toBeUndefined();
    refuse(s, rt, 1);
    expect(rt.parked?.reason).toBe('throttled');
  });

  test.each<RefusalReason>(['quota', 'unauthorized', 'forbidden', 'unknown-account'])('%s parks the account at once', (reason) => {
    const s = spec({ slots: 6 });
    const rt = runtimeOf(s);
    onRefusal(s, rt, 'lease-1', reason, `the API said ${reason}`, NOW, { firstProbeMs: 1000 });
    expect(rt.parked).toEqual({ reason, message: `the API said ${reason}`, since: NOW, probeAt: NOW + 1000, backoffMs: 1000, probes: 0 });
    expect(rt.effectiveSlots).toBe(1);
  });

  test('while parked, refusals of leases granted before the park are counted but do not move the next probe', () => {
    const s = spec();
    const rt = runtimeOf(s);
    onRefusal(s, rt, 'lease-1', 'quota', 'out of quota', NOW, DEFAULT_TIMES);
    const parked = { ...rt.parked };
    onRefusal(s, rt, 'lease-2', 'throttled', 'queue full', NOW + SEC, DEFAULT_TIMES);
    onRefusal(s, rt, 'lease-3', 'unauthorized', 'bad key', NOW + 2 * SEC, DEFAULT_TIMES);
    expect(rt.parked).toEqual(parked);
    expect(rt.refusals).toEqual([NOW, NOW + SEC, NOW + 2 * SEC]);
  });

  test('a refused probe parks it again for twice as long, up to the longest backoff; the park keeps its start', () => {
    const s = spec();
    const rt = runtimeOf(s);
    const times = { firstProbeMs: 1000, maxProbeMs: 5000 };
    refuse(s, rt, PARK_AFTER_REFUSALS, 'throttled', NOW, times);
    expect(rt.parked).toMatchObject({ since: NOW, probeAt: NOW + 1000, probes: 0 });
    const seen: { probeAt: number; probes: number }[] = [];
    let t = NOW;
    for (let i = 1; i <= 4; i++) {
      t = rt.parked!.probeAt;
      rt.parked!.probing = `probe-${i}`;
      onRefusal(s, rt, `probe-${i}`, 'quota', `probe ${i} refused`, t, times);
      seen.push({ probeAt: rt.parked!.probeAt - t, probes: rt.parked!.probes });
    }
    expect(seen).toEqual([
      { probeAt: 2000, probes: 1 },
      { probeAt: 4000, probes: 2 },
      { probeAt: 5000, probes: 3 },
      { probeAt: 5000, probes: 4 },
    ]);
    // The last refusal says why; the probe is no longer out; the park started at the first refusal.
    expect(rt.parked).toMatchObject({ reason: 'quota', message: 'probe 4 refused', since: NOW, backoffMs: 5000 });
    expect(rt.parked!.probing).toBeUndefined();
  });

  test('the default backoff: FIRST_PROBE_MS, doubling to MAX_PROBE_MS', () => {
    const s = spec();
    const rt = runtimeOf(s);
    onRefusal(s, rt, 'lease-1', 'forbidden', 'forbidden', NOW, DEFAULT_TIMES);
    const backoffs = [rt.parked!.backoffMs];
    for (let i = 0; i < 8; i++) {
      rt.parked!.probing = `probe-${i}`;
      onRefusal(s, rt, `probe-${i}`, 'forbidden', 'forbidden', NOW, DEFAULT_TIMES);
      backoffs.push(rt.parked!.backoffMs);
    }
    expect(backoffs[0]).toBe(FIRST_PROBE_MS);
    expect(backoffs[1]).toBe(2 * FIRST_PROBE_MS);
    expect(Math.max(...backoffs)).toBe(MAX_PROBE_MS);
    expect(backoffs.at(-1)).toBe(MAX_PROBE_MS);
    for (let i = 1; i < backoffs.length; i++) expect(backoffs[i]).toBe(Math.min(MAX_PROBE_MS, 2 * backoffs[i - 1]!));
  });
});

describe('onAccepted', () => {
  test.each([
    [1, 1],
    [3, 2],
    [4, 2],
    [12, 6],
  ])('a parked account of %i slots rejoins with %i effective slots', (slots, effective) => {
    const s = spec({ slots });
    const rt = runtimeOf(s);
    refuse(s, rt, 1, 'quota');
    rt.cleanRows = 1;
    onAccepted(s, rt);
    expect(rt.parked).toBeUndefined();
    expect([rt.effectiveSlots, rt.cleanRows, rt.consecutiveRefusals]).toEqual([effective, 0, 0]);
    expect(statusOf(s, rt, NOW).status).toBe('active');
  });

  test('a healthy account keeps its effective slots (they grow by clean rows only)', () => {
    const s = spec({ slots: 8 });
    const rt = runtimeOf(s);
    refuse(s, rt, 2);
    onAccepted(s, rt);
    expect([rt.effectiveSlots, rt.consecutiveRefusals]).toEqual([2, 0]);
  });
});

describe('onCleanRow', () => {
  test('a round of clean rows (as many as its effective slots) adds one slot, up to its slots', () => {
    const s = spec({ slots: 4 });
    const rt = runtimeOf(s, { effectiveSlots: 1 });
    const seen: number[] = [];
    for (let i = 0; i < 9; i++) {
      onCleanRow(s, rt);
      seen.push(rt.effectiveSlots);
    }
    // 1 clean row makes 2, 2 more make 3, 3 more make 4, and there it stays.
    expect(seen).toEqual([2, 2, 3, 3, 3, 4, 4, 4, 4]);
  });

  test('the round starts again after a refusal', () => {
    const s = spec({ slots: 8 });
    const rt = runtimeOf(s);
    refuse(s, rt, 1); // 4
    onCleanRow(s, rt);
    onCleanRow(s, rt);
    onCleanRow(s, rt);
    refuse(s, rt, 1); // 2, and the three clean rows no longer count
    onCleanRow(s, rt);
    expect(rt.effectiveSlots).toBe(2);
    onCleanRow(s, rt);
    expect(rt.effectiveSlots).toBe(3);
  });

  test('rows of a parked account that end cleanly do not grow it: it rejoins with half its slots', () => {
    const s = spec({ slots: 6 });
    const rt = runtimeOf(s);
    refuse(s, rt, 1, 'quota');
    for (let i = 0; i < 10; i++) onCleanRow(s, rt);
    expect(rt.effectiveSlots).toBe(1);
    onAccepted(s, rt);
    expect(rt.effectiveSlots).toBe(3);
  });
});

describe('spaceNextGrant', () => {
  test('the next grant no sooner than minGapMs plus a share of jitterMs', () => {
    const s = spec({ minGapMs: 20 * SEC, jitterMs: 10 * SEC });
    const rt = runtimeOf(s);
    spaceNextGrant(s, rt, NOW, 0);
    expect(rt.nextGrantAt).toBe(NOW + 20 * SEC);
    spaceNextGrant(s, rt, NOW, 0.5);
    expect(rt.nextGrantAt).toBe(NOW + 25 * SEC);
    spaceNextGrant(s, rt, NOW, 0.99999);
    expect(rt.nextGrantAt).toBe(NOW + 29_999);
    expect(canTake(s, rt, 0, lease(), NOW + 29_998)).toBe(false);
    expect(canTake(s, rt, 0, lease(), NOW + 29_999)).toBe(true);
  });

  test('jitter alone spaces too; without either, grants are not spaced', () => {
    const jitter = spec({ jitterMs: 1000 });
    const rt = runtimeOf(jitter);
    spaceNextGrant(jitter, rt, NOW, 0.25);
    expect(rt.nextGrantAt).toBe(NOW + 250);
    const none = spec();
    const rt2 = runtimeOf(none);
    spaceNextGrant(none, rt2, NOW, 0.5);
    expect(rt2.nextGrantAt).toBe(0);
    expect(canTake(none, rt2, 0, lease(), NOW)).toBe(true);
  });
});

describe('nextWake', () => {
  test('nothing to wait for: undefined', () => {
    expect(nextWake([candidate({ name: 'a' }), candidate({ name: 'b' }, 3)], NOW)).toBeUndefined();
  });

  test('the earliest of a due probe, a window opening, a day starting, a gap ending; past instants are ignored', () => {
    const parked = (probeAt: number) => ({
      reason: 'quota' as const,
      message: 'm',
      since: NOW - HOUR,
      probeAt,
      backoffMs: 1000,
      probes: 0,
    });
    const probe = candidate({ name: 'probe' }, 0, { parked: parked(NOW + 40 * SEC) });
    const window = candidate({ name: 'window', hours: '12:30-13:00' });
    const capped = candidate({ name: 'capped', dailyJobs: 2 }, 0, { jobsToday: 2 });
    const gap = candidate({ name: 'gap' }, 0, { nextGrantAt: NOW + 10 * SEC });
    expect(nextWake([probe, window, capped, gap], NOW)).toBe(NOW + 10 * SEC);
    expect(nextWake([probe, window, capped], NOW)).toBe(NOW + 40 * SEC);
    expect(nextWake([window, capped], NOW)).toBe(at('2025-06-01T12:30:00Z'));
    expect(nextWake([capped], NOW)).toBe(at('2025-06-02T00:00:00Z'));
    const past = candidate({ name: 'past' }, 0, { nextGrantAt: NOW - SEC, parked: { ...parked(NOW - SEC), probing: 'lease-0' } });
    expect(nextWake([past], NOW)).toBeUndefined();
  });

  test('a row too big for what is left of the cap waits for the next day: the pool wakes then', () => {
    const c = candidate({ name: 'a', dailyJobs: 10 }, 0, { jobsToday: 8 });
    expect(statusOf(c.spec, c.rt, NOW).status).toBe('active');
    expect(canTake(c.spec, c.rt, 0, lease({ jobs: 3 }), NOW)).toBe(false);
    expect(nextWake([c], NOW)).toBe(at('2025-06-02T00:00:00Z'));
  });

  test('a due probe outside the hours waits for the window: the pool wakes when it opens', () => {
    const c = candidate({ name: 'a', hours: '20:00-22:00' }, 0, {
      parked: { reason: 'quota', message: 'm', since: NOW - HOUR, probeAt: NOW - SEC, backoffMs: 1000, probes: 0 },
    });
    expect(canTake(c.spec, c.rt, 0, lease(), NOW)).toBe(false);
    expect(nextWake([c], NOW)).toBe(at('2025-06-01T20:00:00Z'));
    expect(canTake(c.spec, c.rt, 0, lease(), at('2025-06-01T20:00:00Z'))).toBe('probe');
  });
});

test('a whole round: throttled to parked, a probe refused and one accepted, then back to full slots by clean rows', () => {
  const s = spec({ slots: 4 });
  const rt = runtimeOf(s);
  const times = { firstProbeMs: 1000, maxProbeMs: 8000 };
  const healthy = candidate({ name: 'b', slots: 4 }, 4);
  const pool = (): Candidate[] => [{ spec: s, rt, inUse: 0 }, healthy];
  for (let i = 0; i < PARK_AFTER_REFUSALS; i++) onRefusal(s, rt, `l${i}`, 'throttled', 'queue full', NOW, times);
  expect(pickAccount(pool(), lease(), NOW)).toBeUndefined();
  expect(nextWake(pool(), NOW)).toBe(NOW + 1000);

  expect(pickAccount(pool(), lease({ id: 'p1' }), NOW + 1000)).toEqual({ index: 0, probe: true });
  rt.parked!.probing = 'p1';
  expect(pickAccount(pool(), lease({ id: 'l9' }), NOW + 1000)).toBeUndefined();
  onRefusal(s, rt, 'p1', 'throttled', 'still full', NOW + 1000, times);
  expect(rt.parked).toMatchObject({ probeAt: NOW + 3000, probes: 1 });

  expect(pickAccount(pool(), lease({ id: 'p2' }), NOW + 3000)).toEqual({ index: 0, probe: true });
  rt.parked!.probing = 'p2';
  onAccepted(s, rt);
  expect([rt.parked, rt.effectiveSlots]).toEqual([undefined, 2]);
  for (let i = 0; i < 2 + 3; i++) onCleanRow(s, rt);
  expect(rt.effectiveSlots).toBe(4);
});
