export type Profile = 'plus' | 'gateway';

/** Faults the simulator injects; all shares are probabilities from 0 to 1. Changeable at run time via /_sim/faults. */
export interface Faults {
  /** Share of API requests answered with a 5xx. */
  http5xx: number;
  /** Share of API requests answered with 429. */
  rate429: number;
  /** The next N API requests are answered with 429 (a burst); counts down. */
  burst429: number;
  /** Share of accepted submits whose connection is dropped before the answer: the job exists, the client cannot know. */
  resetAfterSubmit: number;
  /** Share of submits answered "queue full" even with room. */
  queueFull: number;
  /** Share of new jobs that stall: stuck IN_PROGRESS until the task timeout fails them. */
  stall: number;
  /** Share of new jobs that end in FAILURE with a failReason. */
  failure: number;
  /** Prompts containing one of these words (case-insensitive) are refused with code 24. */
  bannedWords: string[];
  /** Share of finished jobs whose image bytes are corrupt (valid PNG header, garbage pixels). */
  corruptImage: number;
  /** Share of finished jobs whose image download is cut short. */
  truncatedImage: number;
  /** Share of finished jobs whose image is 12000×12000 pixels. */
  oversizedImage: number;
  /** Image downloads limited to this many bytes per second (0 = unlimited). */
  slowImageBytesPerSec: number;
}

export const NO_FAULTS: Faults = {
  http5xx: 0, rate429: 0, burst429: 0, resetAfterSubmit: 0, queueFull: 0, stall: 0, failure: 0, bannedWords: [],
  corruptImage: 0, truncatedImage: 0, oversizedImage: 0, slowImageBytesPerSec: 0,
};

export interface SimulatorOptions {
  port: number;
  host: string;
  /** Every duration (jobs, gateway lag, task timeout, URL lifetime) is divided by this. */
  speed: number;
  profile: Profile;
  accounts: number;
  /** Jobs an account runs at once (Midjourney's and the proxies' default: 3). */
  concurrency: number;
  /** Jobs an account keeps waiting (default 10); beyond that, submits are refused as queue full. */
  queueSize: number;
  seed: string;
  apiKey: string;
  /** Running longer than this (5 min, divided by speed) fails a task. 0 disables the timeout. */
  taskTimeoutMs: number;
  /** A MODAL window never confirmed fails after this (12 task timeouts, as CS does: 60 min at speed 1). */
  modalTimeoutMs: number;
  /** How long image URLs stay valid (24 h, divided by speed); afterwards they answer 403. */
  imageUrlTtlMs: number;
  /** The gateway profile's upstream poll interval (15 s, divided by speed). */
  gatewayPollMs: number;
  /** Base of the URLs the simulator hands out; defaults to http://<host>:<port>. */
  publicUrl?: string;
  /** Every job holds its slot exactly this long (wall clock, not divided by speed): benchmarks want equal jobs. */
  jobMs?: number;
  faults: Faults;
}

export const DEFAULT_SIM_API_KEY = 'sk-sim';

/** Options as callers give them: anything left out takes its default, faults included. */
export type SimulatorSettings = Partial<Omit<SimulatorOptions, 'faults'>> & { faults?: Partial<Faults> };

export function simulatorOptions(partial: SimulatorSettings = {}): SimulatorOptions {
  const speed = partial.speed ?? 1;
  if (!(speed > 0)) throw new Error(`speed must be a positive number, got ${speed}`);
  const accounts = partial.accounts ?? 1;
  if (!Number.isInteger(accounts) || accounts < 1) throw new Error(`accounts must be a whole number >= 1, got ${accounts}`);
  return {
    port: partial.port ?? 0,
    host: partial.host ?? '127.0.0.1',
    speed,
    profile: partial.profile ?? 'plus',
    accounts,
    concurrency: partial.concurrency ?? 3,
    queueSize: partial.queueSize ?? 10,
    seed: partial.seed ?? 'mj-batch',
    apiKey: partial.apiKey ?? DEFAULT_SIM_API_KEY,
    taskTimeoutMs: partial.taskTimeoutMs ?? (5 * 60_000) / speed,
    modalTimeoutMs: partial.modalTimeoutMs ?? (12 * 5 * 60_000) / speed,
    imageUrlTtlMs: partial.imageUrlTtlMs ?? (24 * 3_600_000) / speed,
    gatewayPollMs: partial.gatewayPollMs ?? 15_000 / speed,
    publicUrl: partial.publicUrl,
    jobMs: partial.jobMs,
    faults: { ...NO_FAULTS, ...partial.faults },
  };
}
