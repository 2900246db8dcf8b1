import type { Mode } from '../mj-client/routing';
import type { PlanStep } from './plan';
import type { ManifestRow } from './row';

/** Typical durations of one job (seconds), from observed gateway timings; relax includes its usual wait. */
const GRID_SECONDS: Record<Mode, number> = { fast: 45, relax: 180, turbo: 18 };
const STEP_SECONDS = { upscale: 4, hdUpscale: 90, describe: 10, shorten: 10 };

function stepSeconds(step: PlanStep, mode: Mode): number {
  if (/^U[1-4]$/.test(step.intent)) return STEP_SECONDS.upscale;
  if (step.intent.startsWith('upscale_')) return STEP_SECONDS.hdUpscale;
  return GRID_SECONDS[mode];
}

export interface Forecast {
  paidJobs: { total: number; byKind: Record<string, number>; byMode: Record<string, number>; followUps: number };
  /** Sum of every job's typical duration: the work the account's slots must absorb. */
  slotSeconds: number;
  slots: number;
  /**
   * The wall clock: slotSeconds / slots (every slot kept busy), but never less than the longest row's chain
   * (`longestChainSeconds`): a row's jobs run one after another, so more slots cannot make that row faster.
   */
  wallClockSeconds: number;
  /** The longest row's jobs in sequence (its first job, then every follow-up), by its mode's durations. */
  longestChainSeconds: number;
  /** What bounds the wall clock: the slots' share of the work, or the longest chain of jobs. */
  boundBy: 'slots' | 'longestChain';
}

/** A row's paid jobs in the order they run, in seconds each (media-only rows submit nothing); the pool forecast reuses it. */
export function rowJobSeconds(row: ManifestRow, mode: Mode): number[] {
  if (row.taskId || row.imageUrl) return [];
  const first = row.kind === 'describe' ? STEP_SECONDS.describe : row.kind === 'shorten' ? STEP_SECONDS.shorten : GRID_SECONDS[mode];
  return [first, ...row.plan.flatMap((chain) => chain.map((step) => stepSeconds(step, mode)))];
}

/** What a manifest will cost (paid jobs) and how long it will take with `slots` concurrent jobs. */
export function forecast(rows: ManifestRow[], slots: number, defaultMode: Mode = 'fast'): Forecast {
  const byKind: Record<string, number> = {};
  const byMode: Record<string, number> = {};
  let followUps = 0;
  let slotSeconds = 0;
  let longestChainSeconds = 0;
  for (const row of rows) {
    const mode = row.mode ?? defaultMode;
    const seconds = rowJobSeconds(row, mode);
    if (seconds.length === 0) continue;
    const jobs = seconds.length;
    byKind[row.kind] = (byKind[row.kind] ?? 0) + 1;
    byMode[mode] = (byMode[mode] ?? 0) + jobs;
    followUps += jobs - 1;
    // The workflow runs a row's jobs one at a time: its grid, then each chain of follow-ups, button by button.
    const chain = seconds.reduce((a, b) => a + b, 0);
    slotSeconds += chain;
    longestChainSeconds = Math.max(longestChainSeconds, chain);
  }
  const total = Object.values(byMode).reduce((a, b) => a + b, 0);
  const shared = Math.ceil(slotSeconds / Math.max(1, slots));
  return {
    paidJobs: { total, byKind, byMode, followUps },
    slotSeconds,
    slots,
    wallClockSeconds: Math.max(shared, longestChainSeconds),
    longestChainSeconds,
    boundBy: longestChainSeconds > shared ? 'longestChain' : 'slots',
  };
}
