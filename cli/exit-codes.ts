// Every exit code the CLI uses, in one place (README: "Exit codes").
import type { BatchResult } from '../contracts/batch';

/** Batch commands (run, redrive, watch, status, report, pause, ...). */
export const EXIT = {
  ok: 0,
  invalid: 1,
  notFound: 2,
  overThreshold: 3,
  cancelled: 4,
  running: 5,
  notRunning: 6,
  /** `run --deadline`: the plan says the batch cannot finish in time (nothing was started; `--force` starts it). */
  wouldMissDeadline: 7,
} as const;

/** `validate`: the manifest has invalid rows (1) or cannot be read at all (2). */
export const VALIDATE_EXIT = { valid: 0, invalidRows: 1, unreadable: 2 } as const;

/** `config` (and any command, through ConfigError): the configuration cannot be used. */
export const CONFIG_EXIT = { usable: 0, unusable: 2 } as const;

/** `doctor`: every check passed (0), some failed (1), the API could not be reached (2). */
export const DOCTOR_EXIT = { ok: 0, problems: 1, unreachable: 2 } as const;

/** `stack up` / `stack status`: a service is not healthy. */
export const STACK_EXIT = { healthy: 0, unhealthy: 1 } as const;

/** How a batch that ended sets the exit code. */
export function exitCodeOf(result: BatchResult, ok: boolean): number {
  return result.cancelled ? EXIT.cancelled : !ok || result.failedEarly ? EXIT.overThreshold : EXIT.ok;
}
