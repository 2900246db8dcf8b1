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
  /** slotSeconds / slots: the wall clock with every slot kept busy. */
  wallClockSeconds: number;
}

/** What a manifest will cost (paid jobs) and how long it will take with `slots` concurrent jobs. */
export function forecast(rows: ManifestRow[], slots: number, defaultMode: Mode = 'fast'): Forecast {
  const byKind: Record<string, number> = {};
  const byMode: Record<string, number> = {};
  let followUps = 0;
  let slotSeconds = 0;
  for (const row of rows) {
    if (row.taskId || row.imageUrl) continue; // media-only rows submit nothing
    const mode = row.mode ?? defaultMode;
    const jobs = 1 + row.plan.reduce((n, chain) => n + chain.length, 0);
    byKind[row.kind] = (byKind[row.kind] ?? 0) + 1;
    byMode[mode] = (byMode[mode] ?? 0) + jobs;
    followUps += jobs - 1;
    slotSeconds += row.kind === 'describe' ? STEP_SECONDS.describe : row.kind === 'shorten' ? STEP_SECONDS.shorten : GRID_SECONDS[mode];
    for (const chain of row.plan) for (const step of chain) slotSeconds += stepSeconds(step, mode);
  }
  const total = Object.values(byMode).reduce((a, b) => a + b, 0);
  return {
    paidJobs: { total, byKind, byMode, followUps },
    slotSeconds,
    slots,
    wallClockSeconds: Math.ceil(slotSeconds / Math.max(1, slots)),
  };
}
