// Every signal, query and update of the workflows, by name: the workflows set handlers for them, the client and
// the worker's callback receiver send them. Nothing else spells a handler's name.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AccountPoolState, PoolAccepted, PoolGrant, PoolLease, PoolReturn } from './account-pool';
import type { AccountSpec } from './accounts';
import type { AccountSlotsState, Lease, SlotRelease, SlotsSize } from './account-slots';
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
/** The lease id; rows whose lease says `reportUsage` send their job times with it. */
export const releaseSlotSignal = defineSignal<[string | SlotRelease]>('releaseSlot');
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

// The pool of accounts (an accounts file in use). Releases are `releaseSlotSignal`, as for one account's slots.
/** Batch → pool: a slot on an account that serves the row's mode. */
export const poolAcquireSignal = defineSignal<[PoolLease]>('poolAcquire');
/** Pool → holder (the batch, or a row asking again): the lease and the account it is on. */
export const poolGrantedSignal = defineSignal<[PoolGrant]>('poolGranted');
/** Row → pool: the lease back after a refusal, or to move to another account; see `PoolReturn`. */
export const poolReturnSignal = defineSignal<[PoolReturn]>('poolReturn');
/** Row → pool: a submit accepted after a refusal or as a probe. */
export const poolAcceptedSignal = defineSignal<[PoolAccepted]>('poolAccepted');
/** Client → pool: the accounts (specs from the accounts file, never keys). */
export const setAccountsSignal = defineSignal<[AccountSpec[]]>('setAccounts');
export const accountPoolQuery = defineQuery<AccountPoolState>('accountPool');
