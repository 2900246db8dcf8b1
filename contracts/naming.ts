// How workflows and task queues are named: the worker registers by these names, the client starts and finds by them.

/** The orchestration task queue when MJ_BATCH_TASK_QUEUE is not set. */
export const DEFAULT_TASK_QUEUE = 'mj-batch';

export const MEDIA_TASK_QUEUE_SUFFIX = '-media';

/** The media worker's queue: CPU-heavy sharp work kept apart from orchestration. */
export const mediaTaskQueue = (taskQueue: string) => `${taskQueue}${MEDIA_TASK_QUEUE_SUFFIX}`;

/** Workflow type names, as the worker registers the functions exported by workflows/index.ts. */
export const WorkflowType = {
  batch: 'batchWorkflow',
  item: 'itemWorkflow',
  reprocessRow: 'reprocessRowWorkflow',
  accountSlots: 'accountSlotsWorkflow',
  accountPool: 'accountPoolWorkflow',
} as const;

/** A batch's workflow id is its batch id; each row's is `<batchId>/<rowKey>`. */
export const rowWorkflowId = (batchId: string, rowKey: string) => `${batchId}/${rowKey}`;
