import { USAGE_MIN_SAMPLES, type LeaseUsage } from '../../../contracts/account-slots';
import { queueAheadFor, usageStats } from '../../../workflows/queue-ahead';

const leases = (n: number, ranMs: number, overheadMs: (i: number) => number): LeaseUsage[] =>
  Array.from({ length: n }, (_, i) => ({ ranMs, overheadMs: overheadMs(i) }));

describe("queue-ahead from the measured refills (Little's law)", () => {
  test('refills as long as a job on 3 slots need 3 jobs waiting; half as long, 2 (rounded up)', () => {
    expect(
      queueAheadFor(
        leases(10, 2000, () => 2000),
        3,
        0,
        10,
      ),
    ).toBe(3);
    expect(
      queueAheadFor(
        leases(10, 2000, () => 1000),
        3,
        0,
        10,
      ),
    ).toBe(2);
    // Real jobs (45 s) with 1.5 s refills: one waiting job covers them.
    expect(
      queueAheadFor(
        leases(10, 45_000, () => 1500),
        3,
        0,
        10,
      ),
    ).toBe(1);
  });

  test('sized from the slow refills: the p90 of the overhead, not its mean', () => {
    // Nine quick refills and one of 6 s among ten: the p90 is the slow one.
    const usage = leases(10, 2000, (i) => (i === 9 ? 6000 : 200));
    expect(usageStats(usage)).toEqual({ samples: 10, ranMsMedian: 2000, overheadMsP90: 6000 });
    expect(queueAheadFor(usage, 3, 0, 20)).toBe(9);
  });

  test('kept within the least and the most; the least until enough leases have reported', () => {
    const slow = (n = 10) => leases(n, 2000, () => 10_000);
    // [usage, least, most, expected], each on 3 slots.
    const cases: [LeaseUsage[], number, number, number][] = [
      [slow(), 2, 8, 8],
      [leases(10, 2000, () => 0), 2, 8, 2],
      [slow(USAGE_MIN_SAMPLES - 1), 2, 8, 2],
      [slow(USAGE_MIN_SAMPLES), 2, 8, 8],
      // A most at or below the least: a fixed queue-ahead.
      [slow(), 2, 2, 2],
      [slow(), 4, 0, 4],
    ];
    for (const [usage, least, most, expected] of cases) expect(queueAheadFor(usage, 3, least, most)).toBe(expected);
  });

  test('no usage: zeros', () => {
    expect(usageStats([])).toEqual({ samples: 0, ranMsMedian: 0, overheadMsP90: 0 });
  });
});
