// Batch options as every front end (the CLI, the benchmarks, the scripts) parses and defaults them.
import { InvalidArgumentError } from 'commander';

/** A whole number of at least `min`, or an error saying what is accepted. */
export function parseWholeNumber(value: string, min: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min) throw new RangeError(`must be a whole number >= ${min}`);
  return n;
}

/** A commander option parser for whole numbers of at least `min`, with one wording for every command. */
export const wholeNumber =
  (min: number) =>
  (value: string): number => {
    try {
      return parseWholeNumber(value, min);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };

/**
 * `--concurrency`, or enough rows to keep the account's slots and queue-ahead busy. With account slots a row gives
 * its slot back before it stores its images, so twice as many rows are let in: half of them may be storing images.
 */
export function concurrencyOf(flags: {
  concurrency?: number;
  accountSlots: number;
  queueAhead: number;
  maxQueueAhead?: number;
  apiSlots?: number;
}): number {
  if (flags.concurrency) return flags.concurrency;
  // Without a shared limit, the account's own job slots (MJ_SLOTS, set on the flags by addBatchOptions) still bound it.
  // The shared slots' queue-ahead grows up to `maxQueueAhead` when refills are slow: enough rows for that too.
  const queue = flags.accountSlots > 0 ? Math.max(flags.queueAhead, flags.maxQueueAhead ?? 0) : flags.queueAhead;
  const jobs = (flags.accountSlots || flags.apiSlots || 3) + queue;
  return flags.accountSlots > 0 ? 2 * jobs : jobs;
}
