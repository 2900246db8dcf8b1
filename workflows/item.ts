import {
  ActivityFailure, ApplicationFailure, CancellationScope, ChildWorkflowFailure, condition, getExternalWorkflowHandle, isCancellation,
  patched, proxyActivities, setHandler, sleep, TimeoutFailure, upsertSearchAttributes,
} from '@temporalio/workflow';
import type { createMjActivities, SubmitJobInput, SubmitJobResult } from '../activities/mj';
import type { createMediaActivities } from '../activities/media';
import type { createResultActivities } from '../activities/results';
import type { StoredImage } from '../media/store-image';
import { releaseSlotSignal } from './account-slots';
import { BatchIdKey, RowKeyKey, RowStageKey } from './search-attributes';
import { taskUpdateSignal, type FailureClass, type ItemInput, type ItemResult, type ItemStage, type TaskSnapshot } from './shared';

type MjActivities = ReturnType<typeof createMjActivities>;

export const MEDIA_TASK_QUEUE_SUFFIX = '-media';

const TERMINAL = new Set(['SUCCESS', 'FAILURE', 'CANCEL']);
const isTerminal = (s: TaskSnapshot | undefined) => !!s && TERMINAL.has(s.status);

/** A job that ended with an image to store. */
interface FinishedJob {
  role: string;
  snap: TaskSnapshot;
  chain: string[];
}

/** A row that cannot finish, with the class the report and redrive use. */
class RowFailure extends Error {
  constructor(readonly failureClass: FailureClass, message: string) {
    super(message);
  }
}

const results = proxyActivities<ReturnType<typeof createResultActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});

// One attempt per activity: the workflow decides about retries (`submitJob` below), because only it can tell an
// answered refusal (safe to retry) from an attempt whose worker died mid-call (the job may exist).
const submitOnce = proxyActivities<MjActivities>({
  startToCloseTimeout: '45s',
  retry: { maximumAttempts: 1 },
});
const SUBMIT_ATTEMPTS = 12;

/**
 * One paid submit. Refusals the API answered (429, queue full, 5xx before acceptance) are retried with backoff, or
 * after the API's Retry-After. An attempt that timed out (its worker was killed, or the call hung) may have created
 * the job: at-most-once stops there as ambiguous; at-least-once tries again.
 */
async function submitJob(input: SubmitJobInput): Promise<SubmitJobResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await submitOnce.submitJob(input);
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : undefined;
      const lost = cause instanceof TimeoutFailure;
      if (lost && input.policy === 'at-most-once') {
        throw ApplicationFailure.create({ type: 'Mj.ambiguous', message: 'the submit\'s worker stopped answering mid-call (killed or hung)', nonRetryable: true });
      }
      const retryable = lost || (cause instanceof ApplicationFailure && !cause.nonRetryable);
      if (!retryable || attempt >= SUBMIT_ATTEMPTS) throw err;
      const asked = cause instanceof ApplicationFailure && typeof cause.nextRetryDelay === 'number' ? cause.nextRetryDelay : undefined;
      await sleep(asked ?? Math.min(60_000, 2_000 * 2 ** (attempt - 1)));
    }
  }
}

const poller = proxyActivities<MjActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
});

/** What a failure of an activity means for the row. */
function classify(err: unknown): { status: ItemResult['status']; failureClass: FailureClass; reason: string } {
  if (err instanceof RowFailure) return { status: 'FAILED', failureClass: err.failureClass, reason: err.message };
  if (isCancellation(err)) return { status: 'CANCELLED', failureClass: 'cancelled', reason: 'the batch was cancelled' };
  const cause = err instanceof ActivityFailure || err instanceof ChildWorkflowFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    const type = cause.type ?? '';
    const reason = cause.message;
    if (type === 'Mj.ambiguous') return { status: 'UNKNOWN_SUBMIT', failureClass: 'ambiguous', reason: `the submit may or may not have created a paid job; check before re-running (${reason})` };
    if (type === 'Mj.banned-prompt') return { status: 'FAILED', failureClass: 'banned', reason };
    if (type === 'Mj.validation' || type === 'Mj.parent-missing') return { status: 'FAILED', failureClass: 'validation', reason };
    if (type === 'Media.download') return { status: 'FAILED', failureClass: 'download', reason };
    if (type === 'Media.image') return { status: 'FAILED', failureClass: 'image', reason };
    if (type === 'Media.storage') return { status: 'FAILED', failureClass: 'storage', reason };
    return { status: 'FAILED', failureClass: 'submit', reason };
  }
  return { status: 'FAILED', failureClass: 'submit', reason: err instanceof Error ? err.message : String(err) };
}

/**
 * One manifest row: submit, wait (polling, woken early by callbacks), press the plan's buttons, store every image.
 * The row always ends with a recorded result; a failure is data for the report, not a failed workflow.
 */
export async function itemWorkflow(input: ItemInput): Promise<ItemResult> {
  const { row, options } = input;
  const media = proxyActivities<ReturnType<typeof createMediaActivities>>({
    taskQueue: options.mediaTaskQueue,
    startToCloseTimeout: '10m',
    // Each stage heartbeats (download progress, thumbnails, every upload): a dead worker is noticed within this.
    heartbeatTimeout: '30s',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '60s', maximumAttempts: 6 },
  });
  upsertSearchAttributes([{ key: BatchIdKey, value: input.batchId }, { key: RowKeyKey, value: row.key }, { key: RowStageKey, value: 'queued' }]);

  const pushed = new Map<string, TaskSnapshot>();
  setHandler(taskUpdateSignal, (snap) => {
    // Callbacks can arrive late or twice: a finished state is never replaced.
    if (!isTerminal(pushed.get(snap.taskId))) pushed.set(snap.taskId, snap);
  });

  // The stage lives on the row's own workflow (visibility), not in signals to the batch: at thousands of rows,
  // signals would multiply the batch's history and its workflow tasks.
  let currentStage: ItemStage = 'queued';
  const reportStage = (stage: ItemStage) => {
    if (stage === currentStage) return;
    currentStage = stage;
    upsertSearchAttributes([{ key: RowStageKey, value: stage }]);
  };

  const taskIds: string[] = [];
  const images: StoredImage[] = [];
  let text: string | undefined;
  const base = { state: row.key, policy: options.submitPolicy, callbacks: options.callbacks, mode: row.mode };

  /** Waits until the task is terminal; confirms a MODAL window once with `modalPrompt`. */
  async function waitFor(taskId: string, modalPrompt: string): Promise<TaskSnapshot> {
    const deadline = Date.now() + options.jobDeadlineMs;
    let interval = options.pollMinMs;
    let modalSent = false;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new RowFailure('timeout', `task ${taskId} did not finish within ${Math.round(options.jobDeadlineMs / 1000)} s`);
      const woke = await condition(() => isTerminal(pushed.get(taskId)) || pushed.get(taskId)?.status === 'MODAL', Math.min(interval, remaining));
      const current = woke ? pushed.get(taskId)! : await poller.fetchTask({ taskId, mode: row.mode });
      if (isTerminal(current)) return current;
      if (current.status === 'MODAL' && !modalSent) {
        modalSent = true;
        await submitJob({ op: 'modal', taskId, prompt: modalPrompt, ...base });
      }
      if (!woke) interval = Math.min(options.pollMaxMs, Math.round(interval * 1.5));
    }
  }

  async function store(role: string, snap: TaskSnapshot, chain: string[]): Promise<void> {
    if (!snap.imageUrl) throw new RowFailure('generation', `task ${snap.taskId} finished without an image URL`);
    reportStage('media');
    images.push(await media.storeImage({
      batchId: input.batchId, rowKey: row.key, prefix: row.prefix, role, taskId: snap.taskId, imageUrl: snap.imageUrl, prompt: row.prompt,
      parentChain: chain, thumbnails: options.thumbnails,
    }));
  }

  /** The row's paid jobs: the first one, then each follow-up chain, button by button. */
  async function runJobs(finished: FinishedJob[]): Promise<void> {
    // Rows started before images were deferred store each image right after its job, as their histories say.
    const deferImages = patched('jobs-before-images');
    const keep = async (f: FinishedJob) => {
      if (deferImages) finished.push(f);
      else await store(f.role, f.snap, f.chain);
    };
    reportStage('submitting');
    const first = await submitJob({ op: 'new', kind: row.kind, prompt: row.prompt, images: row.images, ...base });
    taskIds.push(first.taskId);
    reportStage('generating');
    const grid = await waitFor(first.taskId, row.prompt);
    if (grid.status !== 'SUCCESS') throw new RowFailure('generation', grid.failReason ?? `task ${grid.taskId} ended ${grid.status}`);
    if (row.kind === 'describe' || row.kind === 'shorten') text = grid.text;
    else await keep({ role: 'grid', snap: grid, chain: [grid.taskId] });

    for (const chain of row.plan) {
      let parent = grid;
      const path: string[] = [];
      const chainIds = [grid.taskId];
      for (const step of chain) {
        reportStage('follow-ups');
        const button = parent.buttons.find((b) => b.intent === step.intent);
        if (!button) throw new RowFailure('generation', `task ${parent.taskId} offers no ${step.intent} button`);
        const accepted = await submitJob({ op: 'action', taskId: parent.taskId, customId: button.customId, ...base });
        taskIds.push(accepted.taskId);
        const modalPrompt = step.zoom !== undefined ? `${parent.finalPrompt ?? row.prompt} --zoom ${step.zoom}` : parent.finalPrompt ?? row.prompt;
        if (accepted.modal) await submitJob({ op: 'modal', taskId: accepted.taskId, prompt: modalPrompt, ...base });
        const done = await waitFor(accepted.taskId, modalPrompt);
        if (done.status !== 'SUCCESS') throw new RowFailure('generation', done.failReason ?? `task ${done.taskId} ended ${done.status}`);
        path.push(step.zoom !== undefined ? `${step.intent}=${step.zoom}` : step.intent);
        chainIds.push(done.taskId);
        await keep({ role: path.join('>'), snap: done, chain: [...chainIds] });
        parent = done;
      }
    }
  }

  /** Gives the account's slot back (once); the batch gives it back itself only if this workflow fails. */
  let lease = input.slotLease;
  const releaseSlot = () => {
    if (!lease) return;
    getExternalWorkflowHandle(lease.workflowId).signal(releaseSlotSignal, lease.leaseId).catch(() => undefined);
    lease = undefined;
  };

  let result: ItemResult;
  try {
    if (options.skipDone) {
      const previous = await results.loadRowResult({ outputPrefix: input.outputPrefix, rowKey: row.key });
      if (previous && (previous.status === 'SUCCESS' || previous.status === 'SKIPPED')) {
        releaseSlot();
        reportStage('done');
        return { ...previous, status: 'SKIPPED' };
      }
    }
    if (row.imageUrl || row.taskId) {
      // Media only: the image exists already (new thumbnail sizes, a lost upload). No job, so no slot.
      releaseSlot();
      const snap = row.taskId ? await poller.fetchTask({ taskId: row.taskId, mode: row.mode }) : { taskId: '', status: 'SUCCESS', progress: 100, buttons: [], imageUrl: row.imageUrl };
      if (row.taskId) taskIds.push(row.taskId);
      await store('grid', snap, taskIds);
    } else {
      // Every job first, then the images: the account's slot is given back as soon as the row needs no more jobs,
      // so downloads and thumbnails never keep a paid slot idle. What finished is stored even if a later job fails.
      const finished: FinishedJob[] = [];
      let jobsFailed: unknown;
      try {
        await runJobs(finished);
      } catch (err) {
        jobsFailed = err;
      }
      releaseSlot();
      for (const f of finished) await store(f.role, f.snap, f.chain);
      if (jobsFailed !== undefined) throw jobsFailed;
    }
    result = { rowKey: row.key, line: row.line, status: 'SUCCESS', taskIds, images, text };
    reportStage('done');
  } catch (err) {
    result = { rowKey: row.key, line: row.line, ...classify(err), taskIds, images, text };
    reportStage('failed');
  }
  releaseSlot();
  // Recorded even when the batch is being cancelled: the report and the next run rely on it.
  await CancellationScope.nonCancellable(() => results.saveRowResult({ batchId: input.batchId, outputPrefix: input.outputPrefix, row, result }));
  return result;
}
