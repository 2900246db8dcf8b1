// How many workflows the orchestration worker keeps cached (MJ_BATCH_MAX_CACHED_WORKFLOWS when it is not set).
import { getHeapStatistics } from 'node:v8';

/**
 * The Temporal TS SDK's own default (1.x, `reuseV8Context` on, lib/worker-options.js): 600 workflows per GiB of V8
 * heap above 200 MiB, at least 10: ~2,300 workflows on a 4 GiB heap. Whether the cache is what grows the worker's RSS
 * with the batch is not measured yet (MJ_BATCH_MEMORY_SAMPLE_MS logs the cache size beside the heap).
 */
export function sdkDefaultMaxCachedWorkflows(heapLimitMiB: number): number {
  return Math.max(Math.floor((Math.max(heapLimitMiB - 200, 0) * 600) / 1024), 10);
}

/**
 * Our default: a quarter of the SDK's (a quarter of the heap at the SDK's per-workflow estimate), but never fewer
 * than 4 per orchestration activity slot, since each running row holds about one activity and the batch, slots and
 * child workflows need room too. A workflow evicted from the cache is not lost: its next task replays its history.
 */
export function defaultMaxCachedWorkflows(heapLimitMiB: number, activityConcurrency: number): number {
  const sdk = sdkDefaultMaxCachedWorkflows(heapLimitMiB);
  return Math.min(sdk, Math.max(Math.floor(sdk / 4), 4 * activityConcurrency));
}

/** The V8 heap limit of this process, MiB (what the SDK sizes its cache from). */
export function heapLimitMiB(): number {
  return getHeapStatistics().heap_size_limit / 1048576;
}
