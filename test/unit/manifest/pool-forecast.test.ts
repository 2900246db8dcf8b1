import { createHash } from 'node:crypto';
import type { AccountSpec } from '../../../contracts/accounts';
import { poolForecast } from '../../../manifest/pool-forecast';
import { validateManifestBytes } from '../../../manifest/validate';

// Durations (manifest/forecast.ts): a fast grid 45 s, relax 180 s, turbo 18 s, an upscale (U1–U4) 4 s.

function rowsOf(csv: string) {
  const bytes = Buffer.from(csv);
  const m = validateManifestBytes('m.csv', bytes, createHash('sha256').update(bytes).digest('hex'));
  expect(m.issues).toEqual([]);
  return m.rows;
}

/** `n` fast imagine rows without follow-ups, ids r1..rn. */
function fastRows(n: number) {
  return rowsOf(['id,prompt,mode', ...Array.from({ length: n }, (_, i) => `r${i + 1},prompt ${i + 1},fast`)].join('\n'));
}

const account = (name: string, slots: number, more: Partial<AccountSpec> = {}): AccountSpec => ({
  name,
  baseUrl: 'https://mj.example',
  apiKeyEnv: 'MJ_API_KEY',
  slots,
  ...more,
});

const at = (iso: string) => Date.parse(iso);
const START = '2026-03-02T00:00:00.000Z';

test('12 fast rows on 3 + 1 slots: waves of 4 rows every 45 s, least loaded first', () => {
  // t=0: A and B both idle, equal weight: r1 -> A (first in the file). r2: A 1/3 busy, B 0/1 -> B. r3, r4: B full -> A.
  // At 45 s all four slots free again: the same again (r5 A, r6 B, r7 A, r8 A), and at 90 s (r9..r12).
  // Finish 90 + 45 = 135 s. A: 9 rows, 9 jobs, 9 × 45 = 405 s busy; B: 3 rows, 135 s.
  const plan = poolForecast({ rows: fastRows(12), accounts: [account('A', 3), account('B', 1)], startMs: at(START) });
  expect(plan.schedule.map((s) => `${s.key}:${s.account}@${(at(s.startAt) - at(START)) / 1000}`)).toEqual([
    'r1:A@0', 'r2:B@0', 'r3:A@0', 'r4:A@0',
    'r5:A@45', 'r6:B@45', 'r7:A@45', 'r8:A@45',
    'r9:A@90', 'r10:B@90', 'r11:A@90', 'r12:A@90',
  ]); // prettier-ignore
  expect(plan.finishAt).toBe('2026-03-02T00:02:15.000Z');
  expect(plan.durationSeconds).toBe(135);
  expect(plan.paidJobs).toEqual({ total: 12, byMode: { fast: 12 }, byAccount: { A: 9, B: 3 } });
  expect(plan.accounts.map((a) => [a.name, a.rows, a.jobs, a.busySeconds, a.pauses])).toEqual([
    ['A', 9, 9, 405, []],
    ['B', 3, 3, 135, []],
  ]);
  expect(plan).toMatchObject({ deadline: null, meetsDeadline: null, missBySeconds: null, marginSeconds: null, unservable: [] });
});

test('a daily cap and a window opening an hour after the start: the deadline is missed by the hand-computed time', () => {
  // A: 3 slots, at most 6 jobs a day. B: 1 slot, open 01:00-09:00 UTC; the batch starts at 00:00.
  // 0 s: B closed (until 01:00) -> r1..r3 on A (3 jobs used). 45 s: r4..r6 on A (6 used).
  // 90 s: A's slots are free but r7 would be its 7th job today -> A capped until tomorrow 00:00; B still closed.
  // 3600 s (01:00): r7 on B, then one row every 45 s on B alone: r12 starts at 3600 + 5 × 45 = 3825 s, ends 3870 s.
  const accounts = [account('A', 3, { dailyJobs: 6 }), account('B', 1, { hours: '01:00-09:00' })];
  const plan = poolForecast({ rows: fastRows(12), accounts, startMs: at(START), deadlineMs: at('2026-03-02T01:00:00Z') });
  expect(plan.finishAt).toBe('2026-03-02T01:04:30.000Z');
  expect(plan).toMatchObject({ deadline: '2026-03-02T01:00:00.000Z', meetsDeadline: false, missBySeconds: 270, marginSeconds: null });
  expect(plan.paidJobs.byAccount).toEqual({ A: 6, B: 6 });
  expect(plan.accounts[0]).toMatchObject({
    jobs: 6,
    busySeconds: 270,
    jobsByDay: { '2026-03-02': 6 },
    firstStartAt: START,
    finishAt: '2026-03-02T00:01:30.000Z',
    pauses: [{ reason: 'dailyJobs', from: '2026-03-02T00:01:30.000Z', until: '2026-03-03T00:00:00.000Z' }],
  });
  expect(plan.accounts[1]).toMatchObject({
    jobs: 6,
    busySeconds: 270,
    firstStartAt: '2026-03-02T01:00:00.000Z',
    pauses: [{ reason: 'hours', from: START, until: '2026-03-02T01:00:00.000Z' }],
  });
  // The same plan against 02:00: 3600 - 270 = 3330 s to spare.
  const later = poolForecast({ rows: fastRows(12), accounts, startMs: at(START), deadlineMs: at('2026-03-02T02:00:00Z') });
  expect(later).toMatchObject({ meetsDeadline: true, marginSeconds: 3330, missBySeconds: null });
});

test.each([
  ['UTC', '2026-03-01T23:58:00Z', ['2026-03-01', '2026-03-02']],
  ['Asia/Tokyo', '2026-03-01T14:58:00Z', ['2026-03-01', '2026-03-02']], // 23:58 in Tokyo (UTC+9)
])('a row never crosses the daily cap, follow-ups included (%s): a smaller row behind it goes first', (timezone, start, days) => {
  // One account, 2 slots, 5 jobs a day, starting 2 min before its midnight. r1 and r2: a grid and U1, U2 = 3 jobs,
  // 45 + 4 + 4 = 53 s each; r3: 1 job, 45 s.
  // 0 s: r1 (3 of 5 used). r2 would make 6 > 5: it waits for the next day. r3 fits (4 of 5): it starts now.
  // 120 s (midnight): a new day, r2 starts; it ends at 120 + 53 = 173 s.
  const rows = rowsOf('id,prompt,actions\nr1,a,"U1,U2"\nr2,b,"U1,U2"\nr3,c,\n');
  const startMs = at(start);
  const plan = poolForecast({ rows, accounts: [account('A', 2, { dailyJobs: 5, timezone })], startMs });
  expect(plan.schedule.map((s) => [s.key, s.jobs, (at(s.startAt) - startMs) / 1000, (at(s.finishAt) - startMs) / 1000])).toEqual([
    ['r1', 3, 0, 53],
    ['r2', 3, 120, 173],
    ['r3', 1, 0, 45],
  ]);
  expect(plan.durationSeconds).toBe(173);
  expect(plan.accounts[0].jobsByDay).toEqual({ [days[0]]: 4, [days[1]]: 3 });
  expect(plan.accounts[0].pauses).toEqual([
    { reason: 'dailyJobs', from: new Date(startMs).toISOString(), until: new Date(startMs + 120_000).toISOString() },
  ]);
  expect(plan.paidJobs).toEqual({ total: 7, byMode: { fast: 7 }, byAccount: { A: 7 } });
});

test('a relax-only account takes the relax rows, fast rows do not wait behind them, and a mode nobody serves is reported', () => {
  // F: fast only, 2 slots. R: relax only, 1 slot.
  // 0 s: r1 relax -> R (until 180). r2 fast -> F (45 s). r3 relax: R busy, waits. r4 fast + U1 -> F now (45 + 4 = 49 s).
  // 180 s: r3 -> R, ends 360 s. r5 turbo: no account serves turbo, reported with its 1 job, not planned.
  const rows = rowsOf('id,prompt,mode,actions\nr1,a,relax,\nr2,b,fast,\nr3,c,relax,\nr4,d,fast,U1\nr5,e,turbo,\n');
  const accounts = [account('F', 2, { modes: ['fast'] }), account('R', 1, { modes: ['relax'] })];
  const plan = poolForecast({ rows, accounts, startMs: at(START) });
  expect(plan.schedule.map((s) => `${s.key}:${s.account}@${(at(s.startAt) - at(START)) / 1000}`)).toEqual([
    'r1:R@0',
    'r2:F@0',
    'r3:R@180',
    'r4:F@0',
  ]);
  expect(plan.durationSeconds).toBe(360);
  expect(plan.paidJobs).toEqual({ total: 5, byMode: { relax: 2, fast: 3 }, byAccount: { F: 3, R: 2 } });
  expect(plan.accounts.map((a) => [a.name, a.rows, a.jobs, a.busySeconds])).toEqual([
    ['F', 2, 3, 94],
    ['R', 2, 2, 360],
  ]);
  expect(plan.unservable).toEqual([{ line: 6, key: 'r5', mode: 'turbo', jobs: 1, reason: 'no account serves turbo' }]);
});

test('a row with more jobs than every daily cap is reported; rows without a mode take the default one', () => {
  // C serves fast with 2 jobs a day: r1 (grid + U1 + U2 = 3 jobs) can never run on it. r2 has no mode: relax by
  // default, 180 s on C. A media-only row (taskId) pays nothing and is neither planned nor reported.
  const rows = rowsOf('id,prompt,mode,actions,taskId\nr1,a,fast,"U1,U2",\nr2,b,,,\nr3,,,,task-1\n');
  const plan = poolForecast({ rows, accounts: [account('C', 1, { dailyJobs: 2 })], startMs: at(START), defaultMode: 'relax' });
  expect(plan.unservable).toEqual([
    {
      line: 2,
      key: 'r1',
      mode: 'fast',
      jobs: 3,
      reason: 'its 3 paid jobs exceed the daily cap of every account that serves fast (at most 2)',
    },
  ]);
  expect(plan.schedule.map((s) => [s.key, s.mode, s.jobs])).toEqual([['r2', 'relax', 1]]);
  expect(plan.durationSeconds).toBe(180);
});

test('weights break ties between equally loaded accounts, never a difference in load', () => {
  // A and B: 2 slots each; B weighs 5. r1: both idle -> B. r2: A 0/2 < B 1/2 -> A. r3: 1/2 each -> B. r4: A.
  const plan = poolForecast({ rows: fastRows(4), accounts: [account('A', 2), account('B', 2, { weight: 5 })], startMs: at(START) });
  expect(plan.schedule.map((s) => s.account)).toEqual(['B', 'A', 'B', 'A']);
  // Unequal slots compare as shares: A 1 of 3 busy (1/3) is less loaded than B 1 of 2 (1/2), whatever the weight.
  const shares = poolForecast({ rows: fastRows(3), accounts: [account('A', 3), account('B', 2, { weight: 9 })], startMs: at(START) });
  expect(shares.schedule.map((s) => s.account)).toEqual(['B', 'A', 'A']);
});

test('nothing to pay: the plan finishes at its start; no accounts at all: every row is reported', () => {
  const none = poolForecast({
    rows: rowsOf('id,taskId\nm1,task-1\n'),
    accounts: [account('A', 3)],
    startMs: at(START),
    deadlineMs: at(START),
  });
  expect(none).toMatchObject({ finishAt: START, durationSeconds: 0, meetsDeadline: true, marginSeconds: 0, schedule: [] });
  const nobody = poolForecast({ rows: fastRows(2), accounts: [], startMs: at(START) });
  expect(nobody.unservable.map((u) => u.reason)).toEqual(['no account serves fast', 'no account serves fast']);
  expect(nobody.paidJobs.total).toBe(0);
});
