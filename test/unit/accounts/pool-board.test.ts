import type { AccountPoolState } from '../../../contracts/account-pool';
import type { BatchProgress } from '../../../contracts/batch';
import { accountPoolIdOf, boardLines, poolLines, progressLine } from '../../../cli/board';

// A batch on the pool of accounts shows each account on the board and in `status`; one without a pool shows what it did.
const NOW = Date.parse('2025-06-01T21:00:00.000Z');
const at = (minutes: number) => new Date(NOW + minutes * 60_000).toISOString();

const PROGRESS: BatchProgress = {
  batchId: 'catalog-1',
  state: 'running',
  counts: { total: 10, succeeded: 4, failed: 0, unknownSubmit: 0, skipped: 0, cancelled: 0 },
  inFlight: 3,
  concurrency: 6,
  queued: 3,
  startedAt: NOW - 60_000,
  ratePerMinute: 4,
  etaSeconds: 60,
  runs: 1,
};

const POOL: AccountPoolState = {
  accounts: [
    {
      name: 'main',
      status: 'active',
      modes: ['fast', 'relax', 'turbo'],
      slots: 3,
      effectiveSlots: 2,
      queueAhead: 0,
      inUse: 2,
      jobsToday: 41,
      dailyJobs: 400,
      refusalsLastHour: 2,
    },
    {
      name: 'spare',
      status: 'parked',
      parked: { reason: 'throttled', message: 'queue full', since: at(-5), probeAt: at(2), probes: 1 },
      modes: ['fast', 'relax', 'turbo'],
      slots: 3,
      effectiveSlots: 1,
      queueAhead: 0,
      inUse: 0,
      jobsToday: 7,
      refusalsLastHour: 3,
    },
    {
      name: 'night',
      status: 'outside-hours',
      opensAt: at(90),
      modes: ['relax'],
      slots: 3,
      effectiveSlots: 3,
      queueAhead: 0,
      inUse: 0,
      jobsToday: 0,
      refusalsLastHour: 0,
    },
  ],
  waiting: 3,
  reclaimed: 0,
};

test('one line per account: status (and why it takes no rows), in use/effective/slots, jobs today', () => {
  expect(poolLines(POOL, NOW)).toEqual([
    'account main: active, 2/2/3 in use/effective/slots, 41/400 jobs today',
    'account spare: parked (throttled, next probe in 2 min), 0/1/3 in use/effective/slots, 7 jobs today',
    'account night: outside-hours (opens in 1 h 30 min), 0/3/3 in use/effective/slots, 0 jobs today',
  ]);
});

test('a stalled pool adds why nothing is granted and when the next window opens', () => {
  const lines = poolLines(
    { ...POOL, stalled: { reason: 'no account can take rows: main capped, night outside-hours', until: at(90) } },
    NOW,
  );
  expect(lines).toHaveLength(4);
  expect(lines[3]).toBe(
    'STALLED: no account can take rows: main capped, night outside-hours; next window 2025-06-01T22:30:00Z (in 1 h 30 min); rows wait, none fails',
  );
});

test('the board of a batch on the pool ends with its accounts; the plain line carries them too', () => {
  const withPool = boardLines(PROGRESS, {}, undefined, POOL, NOW);
  const without = boardLines(PROGRESS);
  expect(withPool.slice(0, without.length)).toEqual(without);
  expect(withPool.slice(without.length)).toEqual(poolLines(POOL, NOW).map((l) => `  ${l}`));
  expect(progressLine(PROGRESS, {}, undefined, POOL, NOW)).toMatch(
    /; slots 3\/6; account main: active, 2\/2\/3 in use\/effective\/slots, 41\/400 jobs today; account spare: /,
  );
});

test('a batch without a pool: the board and the plain line are as before, and no pool id is read', () => {
  expect(accountPoolIdOf(PROGRESS)).toBeUndefined();
  expect(accountPoolIdOf({ ...PROGRESS, accountPoolWorkflowId: 'mj-account-pool/q' } as BatchProgress)).toBe('mj-account-pool/q');
  expect(boardLines(PROGRESS)).toEqual([
    'batch catalog-1  [running]  4/10 rows finished',
    '  queued           3  #######.................',
    '  submitting       3  #######.................',
    '  held             0  ........................',
    '  generating       0  ........................',
    '  follow-ups       0  ........................',
    '  media            0  ........................',
    '  done             4  ##########..............',
    '  failed           0  ........................',
    '  rate 4/min   ETA 60 s   slots in use 3/6',
  ]);
  expect(progressLine(PROGRESS)).toBe(
    'catalog-1 [running] 4/10 finished: queued 3, submitting 3, held 0, generating 0, follow-ups 0, media 0, done 4, failed 0; 4/min; ETA 60 s; slots 3/6',
  );
});
