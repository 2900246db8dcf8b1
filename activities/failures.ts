import { ApplicationFailure } from '@temporalio/activity';
import { FailureType, MEDIA_FAILURE_TYPES, MJ_FAILURE_TYPES } from '../contracts/failures';
import { MediaError } from '../media/errors';
import { MjApiError } from '../mj-client/errors';
import type { SubmitPolicy } from '../contracts/rows';

/**
 * Turns the client's and the media stage's errors into Temporal failures: the `type` names the class the workflow
 * branches on (`Mj.banned-prompt`, `Media.download`, ...), and `nonRetryable` is decided here, once.
 */
export function toFailure(err: unknown, policy: SubmitPolicy = 'at-least-once'): unknown {
  if (err instanceof MjApiError) {
    if (err.kind === 'ambiguous') {
      // The job may exist and be paid for: at-most-once stops here for a person to look; at-least-once tries again.
      return ApplicationFailure.create({
        message: err.message,
        type: FailureType.ambiguous,
        nonRetryable: policy === 'at-most-once',
        details: [err.reason],
      });
    }
    if (err.kind === 'account') {
      // About the account, not the row (quota, key, ban): the workflows hold the row until the account recovers.
      return ApplicationFailure.create({
        message: err.message,
        type: FailureType.account,
        nonRetryable: true,
        details: [err.reason, err.description ?? ''],
      });
    }
    return ApplicationFailure.create({
      message: err.message,
      type: MJ_FAILURE_TYPES[err.reason],
      nonRetryable: err.kind !== 'retryable',
      nextRetryDelay: err.kind === 'retryable' && err.retryAfterMs ? err.retryAfterMs : undefined,
      details: err.bannedWord ? [err.bannedWord] : undefined,
    });
  }
  if (err instanceof MediaError) {
    return ApplicationFailure.create({ message: err.message, type: MEDIA_FAILURE_TYPES[err.failureClass], nonRetryable: !err.retryable });
  }
  return err;
}
