import type { AccountSlotsStatus } from '../../../client/account-slots';
import type { AccountPoolState } from '../../../contracts/account-pool';
import type { AccountSpec } from '../../../contracts/accounts';
import { accountsLines, reportFromFile, reportFromPool, reportFromSlots, when } from '../../../cli/accounts-view';

// What `mj-batch accounts` prints, from each of its three sources, at a fixed instant.
const NOW = Date.parse('2025-06-01T21:00:00.000Z');
const at = (minutes: number) => new Date(NOW + minutes * 60_000).toISOString();

const POOL: AccountPoolState = {
  accounts: [
    {
      name: 'main',
      status: 'active',
      modes: ['fast', 'relax', 'turbo'],
      slots: 12,
      effectiveSlots: 6,
      queueAhead: 2,
      inUse: 5,
      jobsToday: 41,
      dailyJobs: 400,
      refusalsLastHour: 4,
    },
    {
      name: 'night-relax',
      status: 'parked',
      parked: { reason: 'quota', message: 'quota exhausted for today', since: at(-10), probeAt: at(4), probes: 2 },
      modes: ['relax'],
      slots: 3,
      effectiveSlots: 3,
      queueAhead: 0,
      inUse: 0,
      jobsToday: 12,
      refusalsLastHour: 3,
    },
    {
      name: 'eu',
      status: 'outside-hours',
      opensAt: at(60),
      modes: ['fast', 'relax', 'turbo'],
      slots: 3,
      effectiveSlots: 3,
      queueAhead: 0,
      inUse: 0,
      jobsToday: 0,
      refusalsLastHour: 0,
    },
    {
      name: 'cheap',
      status: 'capped',
      opensAt: at(180),
      modes: ['fast', 'relax', 'turbo'],
      slots: 3,
      effectiveSlots: 3,
      queueAhead: 0,
      inUse: 0,
      jobsToday: 50,
      dailyJobs: 50,
      refusalsLastHour: 0,
    },
  ],
  waiting: 7,
  reclaimed: 0,
};

test('from the pool: its accounts with every key of AccountState, the waiting rows, no stall when none', () => {
  const report = reportFromPool('q1', POOL);
  expect(report).toEqual({ source: 'pool', taskQueue: 'q1', accounts: POOL.accounts, waiting: 7 });
  expect(JSON.parse(JSON.stringify(report)).accounts[1].parked).toEqual(POOL.accounts[1].parked);
});

test('the text: one line per account with its state, slots, jobs today and refusals; times in UTC with how long until', () => {
  const lines = accountsLines(reportFromPool('q1', POOL), NOW);
  expect(lines[0]).toBe('pool of task queue q1: 4 account(s), 7 row(s) waiting for a slot');
  expect(lines).toHaveLength(1 + 4 + 1);
  const [main, night, eu, cheap] = lines.slice(1);
  expect(main).toBe(
    '  main         active         in use 5/6 (slots 12, fewer after throttling, +2 queue-ahead); jobs today 41/400; refusals in the last hour 4',
  );
  expect(night).toContain('night-relax  parked ');
  expect(night).toContain('in use 0/3 (slots 3); jobs today 12; refusals in the last hour 3; modes relax; ');
  expect(night).toContain(
    'parked since 2025-06-01T20:50:00Z (quota: quota exhausted for today), next probe 2025-06-01T21:04:00Z (in 4 min), 2 probe(s) so far',
  );
  expect(eu).toContain('outside-hours');
  expect(eu).toMatch(/outside its hours, opens 2025-06-01T22:00:00Z \(in 60 min\)$/);
  expect(cheap).toMatch(/jobs today 50\/50; .*daily cap reached, opens 2025-06-02T00:00:00Z \(in 3 h 0 min\)$/);
  expect(lines[5]).toBe('  (times in UTC)');
});

test('a stalled pool says why and when the next window opens; rows wait, none fails', () => {
  const stalled = { ...POOL, stalled: { reason: 'no account can take rows: main parked, eu outside-hours', until: at(30) } };
  const report = reportFromPool('q1', stalled);
  expect(report.stalled).toEqual(stalled.stalled);
  expect(accountsLines(report, NOW)).toContain(
    '  STALLED: no account can take rows: main parked, eu outside-hours; next window 2025-06-01T21:30:00Z (in 30 min); rows wait, none fails',
  );
  const unknown = accountsLines(reportFromPool('q1', { ...POOL, stalled: { reason: 'no account serves relax' } }), NOW);
  expect(unknown).toContain('  STALLED: no account serves relax; no next window known; rows wait, none fails');
});

test('from the accounts file, before any batch: every account idle with its slots free, defaults filled in', () => {
  const specs: AccountSpec[] = [
    { name: 'main', baseUrl: 'https://mj.example', apiKeyEnv: 'MJ_KEY_MAIN', slots: 12, queueAhead: 2 },
    { name: 'night', baseUrl: 'https://gw.example', apiKeyEnv: 'MJ_KEY_NIGHT', slots: 3, modes: ['relax'], dailyJobs: 400 },
  ];
  const report = reportFromFile('q2', '/etc/mj/accounts.json', specs);
  expect(report).toEqual({
    source: 'file',
    taskQueue: 'q2',
    file: '/etc/mj/accounts.json',
    waiting: 0,
    accounts: [
      {
        name: 'main',
        status: 'idle',
        modes: ['fast', 'relax', 'turbo'],
        slots: 12,
        effectiveSlots: 12,
        queueAhead: 2,
        inUse: 0,
        jobsToday: 0,
        refusalsLastHour: 0,
      },
      {
        name: 'night',
        status: 'idle',
        modes: ['relax'],
        slots: 3,
        effectiveSlots: 3,
        queueAhead: 0,
        inUse: 0,
        jobsToday: 0,
        dailyJobs: 400,
        refusalsLastHour: 0,
      },
    ],
  });
  // Nothing in it comes from a key.
  expect(JSON.stringify(report)).not.toContain('MJ_KEY');
  const lines = accountsLines(report, NOW);
  expect(lines[0]).toBe('accounts file /etc/mj/accounts.json: no pool runs on task queue q2 yet');
  expect(lines[1]).toBe(
    '  main   idle (no batch has used the pool yet)  in use 0/12 (slots 12, +2 queue-ahead); jobs today 0; refusals in the last hour 0',
  );
  expect(lines[2]).toContain('  night  idle (no batch has used the pool yet)  in use 0/3 (slots 3); jobs today 0/400;');
  // No time shown, so no note about the zone.
  expect(lines).toHaveLength(3);
});

test('the single account: its slots workflow as one account, without the jobs and refusals it does not count', () => {
  const slots: AccountSlotsStatus = {
    account: 'acct-0123456789ab',
    slots: 3,
    queueAhead: 1,
    held: 4,
    waiting: 9,
    heldByClosedRows: [],
    reclaimWithinSeconds: 120,
    reclaimed: 0,
  };
  const report = reportFromSlots('q3', slots);
  expect(report).toEqual({
    source: 'slots',
    taskQueue: 'q3',
    waiting: 9,
    accounts: [
      {
        name: 'acct-0123456789ab',
        status: 'active',
        modes: ['fast', 'relax', 'turbo'],
        slots: 3,
        effectiveSlots: 3,
        queueAhead: 1,
        inUse: 4,
      },
    ],
  });
  expect(accountsLines(report, NOW)).toEqual([
    'single account on task queue q3 (no accounts file): 9 row(s) waiting for a slot',
    '  acct-0123456789ab  active  in use 4/3 (slots 3, +1 queue-ahead)',
  ]);
  const idle = reportFromSlots('q3', { account: 'default', slots: 3, queueAhead: 0 });
  expect(idle.accounts[0]).toMatchObject({ status: 'idle', inUse: 0 });
  expect(accountsLines(idle, NOW)[1]).toBe('  default  idle (no batch has used its slots yet)  in use 0/3 (slots 3)');
});

test('a time that has passed reads as due', () => {
  expect(when(at(-1), NOW)).toBe('2025-06-01T20:59:00Z (due)');
  expect(when(at(0.5), NOW)).toBe('2025-06-01T21:00:30Z (in 30 s)');
});
