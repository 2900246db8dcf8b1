// A workflow task that keeps failing (a payload the worker cannot decrypt, a bug in a new deploy) is retried by the
// server until it succeeds, and queries to the workflow time out meanwhile: this says why, from the workflow's
// description and the last failure its history recorded (later attempts are not written to history).
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';

export interface FailingTask {
  /** Attempts that failed so far. */
  failures: number;
  /** The failure's message, as the worker reported it (codec errors name the key id and the variable to set). */
  message: string;
}

/** The workflow task's failure when it has failed at least once and not succeeded since; undefined otherwise. */
export async function failingWorkflowTask(client: Client, d: WorkflowExecutionDescription): Promise<FailingTask | undefined> {
  const attempt = d.raw.pendingWorkflowTask?.attempt ?? 0;
  if (attempt < 2) return undefined;
  const { history } = await client.workflowService.getWorkflowExecutionHistoryReverse({
    namespace: client.options.namespace,
    execution: { workflowId: d.workflowId, runId: d.runId },
    maximumPageSize: 20,
  });
  // The newest end of a workflow task: a timeout (a worker that died mid-task) is not a failing task.
  const last = history?.events?.find(
    (e) => e.workflowTaskFailedEventAttributes || e.workflowTaskTimedOutEventAttributes || e.workflowTaskCompletedEventAttributes,
  );
  const message = last?.workflowTaskFailedEventAttributes?.failure?.message;
  return message ? { failures: attempt - 1, message } : undefined;
}
