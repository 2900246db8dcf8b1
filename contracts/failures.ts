// The failure types activities raise and workflows branch on, and what each means for a row: one table, used by
// activities/failures.ts (raising) and workflows/item.ts (classifying), so neither builds or matches strings.
import type { MediaFailureClass } from '../media/errors';
import type { MjErrorReason } from '../mj-client/errors';
import type { FailureClass, ItemStatus } from './rows';

/** The Temporal failure type for each of the client's error reasons (kinds `ambiguous` and `account` have their own). */
export const MJ_FAILURE_TYPES = {
  'queue-full': 'Mj.queue-full',
  'system-error': 'Mj.system-error',
  'rate-limited': 'Mj.rate-limited',
  'server-error': 'Mj.server-error',
  'upstream-error': 'Mj.upstream-error',
  network: 'Mj.network',
  timeout: 'Mj.timeout',
  'connection-lost': 'Mj.connection-lost',
  validation: 'Mj.validation',
  'banned-prompt': 'Mj.banned-prompt',
  'parent-missing': 'Mj.parent-missing',
  'parent-not-ready': 'Mj.parent-not-ready',
  'no-account': 'Mj.no-account',
  'quota-exhausted': 'Mj.quota-exhausted',
  unauthorized: 'Mj.unauthorized',
  forbidden: 'Mj.forbidden',
  'task-not-found': 'Mj.task-not-found',
  'invalid-response': 'Mj.invalid-response',
  'unexpected-code': 'Mj.unexpected-code',
  'http-error': 'Mj.http-error',
  cancelled: 'Mj.cancelled',
} as const satisfies Record<MjErrorReason, `Mj.${MjErrorReason}`>;

export const MEDIA_FAILURE_TYPES = {
  download: 'Media.download',
  image: 'Media.image',
  storage: 'Media.storage',
} as const satisfies Record<MediaFailureClass, `Media.${MediaFailureClass}`>;

export const FailureType = {
  /** A submit may have created a paid job: nothing in the answer proves it did not. */
  ambiguous: 'Mj.ambiguous',
  /** The account refuses jobs (quota, key, ban), not this row: the batch holds its rows. */
  account: 'Mj.account',
  /** The batch failed more rows than its threshold allows (its details hold the BatchResult). */
  thresholdExceeded: 'FailureThresholdExceeded',
  ...MEDIA_FAILURE_TYPES,
} as const;

export type FailureTypeName =
  | (typeof MJ_FAILURE_TYPES)[MjErrorReason]
  | (typeof MEDIA_FAILURE_TYPES)[MediaFailureClass]
  | (typeof FailureType)[keyof typeof FailureType];

export interface RowOutcome {
  status: Extract<ItemStatus, 'FAILED' | 'UNKNOWN_SUBMIT'>;
  failureClass: FailureClass;
  reason: string;
}

/** How a row ends on a final failure of each type; any other type ends it as a `submit` failure. */
const ROW_OUTCOMES: Partial<
  Record<FailureTypeName, { status: RowOutcome['status']; failureClass: FailureClass; explain?: (message: string) => string }>
> = {
  [FailureType.ambiguous]: {
    status: 'UNKNOWN_SUBMIT',
    failureClass: 'ambiguous',
    explain: (m) => `the submit may or may not have created a paid job; check before re-running (${m})`,
  },
  [MJ_FAILURE_TYPES['banned-prompt']]: { status: 'FAILED', failureClass: 'banned' },
  [MJ_FAILURE_TYPES.validation]: { status: 'FAILED', failureClass: 'validation' },
  [MJ_FAILURE_TYPES['parent-missing']]: { status: 'FAILED', failureClass: 'validation' },
  [MJ_FAILURE_TYPES['parent-not-ready']]: {
    status: 'FAILED',
    failureClass: 'parent-not-ready',
    explain: (m) => `the API never showed the parent task finished, so its buttons could not be pressed (${m})`,
  },
  [FailureType.account]: { status: 'FAILED', failureClass: 'submit', explain: (m) => `the account refused the job (${m})` },
  [MEDIA_FAILURE_TYPES.download]: { status: 'FAILED', failureClass: 'download' },
  [MEDIA_FAILURE_TYPES.image]: { status: 'FAILED', failureClass: 'image' },
  [MEDIA_FAILURE_TYPES.storage]: { status: 'FAILED', failureClass: 'storage' },
};

/** The row's outcome for a final failure of this type, with the failure's message. */
export function rowOutcomeOf(type: string | null | undefined, message: string): RowOutcome {
  const known = ROW_OUTCOMES[type as FailureTypeName];
  if (!known) return { status: 'FAILED', failureClass: 'submit', reason: message };
  return { status: known.status, failureClass: known.failureClass, reason: known.explain ? known.explain(message) : message };
}
