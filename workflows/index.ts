// Every workflow the worker registers. Workflow code is deterministic: no I/O here, only in activities.
export { itemWorkflow } from './item';
export { reprocessRowWorkflow } from './reprocess-row';
export { batchWorkflow } from './batch';
export { accountSlotsWorkflow } from './account-slots';
export { accountPoolWorkflow } from './account-pool';
