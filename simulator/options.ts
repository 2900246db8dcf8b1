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
  /**
   * Prompts containing one of these words (case-insensitive) are accepted, then fail as the C# Plus proxy's banned-word
   * check fails them when they are about to run: FAILURE `可能包含敏感词` (its DiscordService.cs).
   */
  moderatedWords: string[];
  /** Share of finished jobs whose image bytes are corrupt (valid PNG header, garbage pixels). */
  corruptImage: number;
  /** Share of finished jobs whose image download is cut short. */
  truncatedImage: number;
  /** Share of finished jobs whose image is 12000×12000 pixels. */
  oversizedImage: number;
  /** Image downloads limited to this many bytes per second (0 = unlimited). */
  slowImageBytesPerSec: number;
  /**
   * Gateway profile only: share of accepted submits whose answer the gateway loses on its way back from the upstream.
   * The job exists and is paid for; the client gets the transport-error answer of the gateway's `errorStyle`.
   */
  lostUpstreamAnswer: number;
}

export const NO_FAULTS: Faults = {
  http5xx: 0,
  rate429: 0,
  burst429: 0,
  resetAfterSubmit: 0,
  queueFull: 0,
  stall: 0,
  failure: 0,
  bannedWords: [],
  moderatedWords: [],
  corruptImage: 0,
  truncatedImage: 0,
  oversizedImage: 0,
  slowImageBytesPerSec: 0,
  lostUpstreamAnswer: 0,
};

/**
 * The gateway profile's settings: what a new-api operator configures (sources in docs/gateway-model.md). Changeable at
 * run time via /_sim/gateway. The defaults are stock new-api's, except `serverAddress`.
 */
export interface GatewayBehaviour {
  /** new-api `MjNotifyEnabled` (setting/midjourney.go, default off): off deletes `notifyHook` from every request; on forwards it. */
  notifyForwarding: boolean;
  /** new-api `ServerAddress`: base of its image relay URLs `<serverAddress>/mj/image/{id}` (relay/relay-mj.go); unset = our URL. */
  serverAddress?: string;
  /** `old`: Calcium-Ion/new-api as of April 2025; `new`: the QuantumNous builds that answer `accepted_state_unknown`. */
  errorStyle: 'old' | 'new';
  /** Paid jobs the user can still pay for (null = unlimited); at 0 a submit answers `quota_not_enough` (relay/relay-mj.go). */
  quota: number | null;
  /** Requests one token may have in flight (QuantumNous router/relay-router.go `TokenConcurrencyGate`); 0 = no gate. */
  tokenConcurrency: number;
  /**
   * The token's status: `expired` or `disabled` refuse every call with 401 `该令牌已过期` / `该令牌状态不可用`
   * (new-api model/token.go ValidateUserToken, through middleware/auth.go), as when a key expires mid-batch.
   */
  tokenStatus: 'enabled' | 'expired' | 'disabled';
  /**
   * Whether the upstream honours the `/relax/mj/...` style new-api forwards verbatim. The measured setup (new-api in
   * front of this simulator's former plus profile) did; a C# Plus proxy does not and answers 404 with an empty body.
   */
  upstreamAcceptsPlainModePaths: boolean;
  /** How long the upstream takes to answer a relayed call (wall clock); makes in-flight requests overlap. */
  upstreamLatencyMs: number;
}

export const DEFAULT_GATEWAY: GatewayBehaviour = {
  notifyForwarding: false,
  errorStyle: 'old',
  quota: null,
  tokenConcurrency: 0,
  tokenStatus: 'enabled',
  upstreamAcceptsPlainModePaths: true,
  upstreamLatencyMs: 0,
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
  /** The gateway marks a task still unfinished this long after its submit as FAILURE (1 h, divided by speed). */
  gatewayTaskTimeoutMs: number;
  /** Base of the URLs the simulator hands out; defaults to http://<host>:<port>. */
  publicUrl?: string;
  /** Every job holds its slot exactly this long (wall clock, not divided by speed): benchmarks want equal jobs. */
  jobMs?: number;
  /**
   * Plus profile: the role of the key's user. The C# proxy lets only an admin cancel a task (11.10.3
   * TaskController: `_isAnonymous = user?.Role != ADMIN`); a `user` key's cancel gets 400 `演示模式，禁止操作`.
   */
  plusKeyRole: 'admin' | 'user';
  faults: Faults;
  gateway: GatewayBehaviour;
}

export const DEFAULT_SIM_API_KEY = 'sk-sim';

/** Options as callers give them: anything left out takes its default, faults included. */
export type SimulatorSettings = Partial<Omit<SimulatorOptions, 'faults' | 'gateway'>> & {
  faults?: Partial<Faults>;
  gateway?: Partial<GatewayBehaviour>;
};

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
    gatewayTaskTimeoutMs: partial.gatewayTaskTimeoutMs ?? 3_600_000 / speed,
    publicUrl: partial.publicUrl,
    jobMs: partial.jobMs,
    plusKeyRole: partial.plusKeyRole ?? 'admin',
    faults: { ...NO_FAULTS, ...partial.faults },
    gateway: { ...DEFAULT_GATEWAY, ...partial.gateway },
  };
}
