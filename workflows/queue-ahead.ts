// How many leases an account's slots workflow grants beyond its slots: pure, so it is unit-tested and replay-safe.
import { USAGE_MIN_SAMPLES, type LeaseUsage, type RefillStats } from '../contracts/account-slots';

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

/** The typical job (median time on a slot) and the slow refills (p90 of the time held with no job in the API). */
export function usageStats(usage: LeaseUsage[]): RefillStats {
  if (usage.length === 0) return { samples: 0, ranMsMedian: 0, overheadMsP90: 0 };
  return {
    samples: usage.length,
    ranMsMedian: sorted(usage.map((u) => u.ranMs))[Math.floor((usage.length - 1) / 2)]!,
    overheadMsP90: sorted(usage.map((u) => u.overheadMs))[Math.min(usage.length - 1, Math.floor(0.9 * usage.length))]!,
  };
}

/**
 * Little's law for the queue-ahead: while a lease's refill takes `overhead`, its slot would idle unless a job waits
 * in the API's queue; `slots` slots each ending a job every `ran` ms need `slots × overhead / ran` jobs waiting to
 * cover a refill. Sized from the slow refills (p90) and the typical job (median), within [`least`, `most`]. Too few
 * samples (the API gives no job times, or the account is new): `least`.
 */
export function queueAheadFor(usage: LeaseUsage[], slots: number, least: number, most: number): number {
  if (most <= least || usage.length < USAGE_MIN_SAMPLES) return least;
  const { ranMsMedian, overheadMsP90 } = usageStats(usage);
  if (ranMsMedian <= 0) return most;
  return Math.max(least, Math.min(most, Math.ceil((slots * overheadMsP90) / ranMsMedian)));
}
