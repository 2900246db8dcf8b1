// Every signal, query and update of the workflows, by name: the workflows set handlers for them, the client and
// the worker's callback receiver send them. Nothing else spells a handler's name.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AccountSlotsState, Lease, SlotsSize } from './account-slots';
import type { AccountCondition, BatchProgress, RowFinished } from './batch';
import type { TaskSnapshot } from './rows';

// The row.
/** Worker → row: the API said the task changed (a callback). */
export const taskUpdateSignal = defineSignal<[TaskSnapshot]>('taskUpdate');
/** Row → batch: the account refused this row's submit (the row waits for `accountRetry`). */
export const accountConditionSignal = defineSignal<[AccountCondition]>('accountCondition');
/** Row → batch: after a hold, the account accepted this row's job again. */
export const accountRecoveredSignal = defineSignal<[string]>('accountRecovered');
/** Batch → row: try the submit again. */
export const accountRetrySignal = defineSignal('accountRetry');
/** Row → batch: the row has ended and its result is stored (rows that outlive the batch run that started them). */
export const rowFinishedSignal = defineSignal<[RowFinished]>('rowFinished');

// The batch.
export const cancelBatchSignal = defineSignal('cancelBatch');
export const progressQuery = defineQuery<BatchProgress>('progress');
export const pauseUpdate = defineUpdate<void>('pause');
export const resumeUpdate = defineUpdate<void>('resume');
export const setConcurrencyUpdate = defineUpdate<number, [number]>('setConcurrency');

// The account's slots.
export const acquireSlotSignal = defineSignal<[Lease]>('acquireSlot');
export const releaseSlotSignal = defineSignal<[string]>('releaseSlot');
/** A number (older callers) sets the slots only. */
export const setSlotsSignal = defineSignal<[number | SlotsSize]>('setSlots');
/** Sent to the holder with the lease id. */
export const slotGrantedSignal = defineSignal<[string]>('slotGranted');
export const slotsQuery = defineQuery<AccountSlotsState>('slots');
/**
 * Client → slots, when a batch starts: once its rows wait and every slot is held, look at the leases' holders at once
 * (a batch run again after one was terminated) rather than at the next periodic check.
 */
export const checkLeasesSignal = defineSignal('checkLeases');
