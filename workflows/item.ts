import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { optionalTsToMs } from '@temporalio/common';
import type { createMjActivities, SubmitJobInput, SubmitJobResult } from '../activities/mj';
import type { createMediaActivities } from '../activities/media';
import type { createResultActivities } from '../activities/results';
import type { StoredImage } from '../contracts/media';
import { releaseSlotSignal } from '../contracts/handlers';
import { FailureType, rowOutcomeOf } from '../contracts/failures';
import { isModerationFailure } from '../contracts/moderation';
import { BatchIdKey, RowKeyKey, RowStageKey } from '../contracts/search-attributes';
import { accountConditionSignal, accountRecoveredSignal, accountRetrySignal, taskUpdateSignal } from '../contracts/handlers';
import type { FailureClass, ItemInput, ItemResult, ItemStage, TaskSnapshot } from '../contracts/rows';

type MjActivities = ReturnType<typeof createMjActivities>;

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
  constructor(
    readonly failureClass: FailureClass,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A job that ended without success: `banned` when its reason says moderation refused the content (submitting the same
 * prompt again is a paid refusal and a strike against the account), else `generation`. Only the stored class differs,
 * not the commands the workflow issues, so rows already running need no patch.
 */
function jobEnded(snap: TaskSnapshot): RowFailure {
  const reason = snap.failReason ?? `task ${snap.taskId} ended ${snap.status}`;
  return new RowFailure(snap.failReason && isModerationFailure(snap.failReason) ? 'banned' : 'generation', reason);
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

/** How a row waits out an account condition: its batch holds it until the account takes jobs again. */
interface AccountHooks {
  held(cause: ApplicationFailure): Promise<void>;
  accepted(): Promise<void>;
}

/** The failure, when an activity failed for the account's sake (quota, key, ban), not the row's. */
function accountCondition(err: unknown): ApplicationFailure | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  return cause instanceof ApplicationFailure && cause.type === FailureType.account ? cause : undefined;
}

/**
 * One paid submit. Refusals the API answered (429, queue full, 5xx before acceptance) are retried with backoff, or
 * after the API's Retry-After. An attempt that timed out (its worker was killed, or the call hung) or was answered
 * ambiguously may have created the job: at-most-once looks it up once through the row's job journal (adopting it, or
 * proving it absent) and otherwise stops as ambiguous; at-least-once tries again. An account condition holds the row.
 */
async function submitJob(input: SubmitJobInput, account?: AccountHooks): Promise<SubmitJobResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      const accepted = await submitOnce.submitJob(input);
      await account?.accepted();
      return accepted;
    } catch (err) {
      // Quota, key, ban: the account's trouble, not the row's. Rows started before that failed here.
      const refusal = accountCondition(err);
      if (refusal && account && patched('hold-rows-for-account')) {
        await account.held(refusal);
        attempt = 0;
        continue;
      }
      const cause = err instanceof ActivityFailure ? err.cause : undefined;
      const lost = cause instanceof TimeoutFailure;
      const unanswered = lost || (cause instanceof ApplicationFailure && cause.type === FailureType.ambiguous);
      if (unanswered && input.policy === 'at-most-once') {
        // With the row's job journal, one more attempt looks the job up (adopting it, or proving it absent) before
        // paying; it gives up by itself when the API cannot tell. Rows started before that stopped here.
        const undecidable = cause instanceof ApplicationFailure && cause.details?.[0] === 'previous-attempt-unknown';
        if (input.journal && !undecidable && attempt < SUBMIT_ATTEMPTS && patched('reconcile-ambiguous-submit')) {
          await sleep(2_000);
          continue;
        }
        if (!lost) throw err;
        throw ApplicationFailure.create({
          type: FailureType.ambiguous,
          message: "the submit's worker stopped answering mid-call (killed or hung)",
          nonRetryable: true,
        });
      }
      const retryable = lost || (cause instanceof ApplicationFailure && !cause.nonRetryable);
      if (!retryable || attempt >= SUBMIT_ATTEMPTS) throw err;
      // The SDK drops nextRetryDelay when it decodes a failure (so it is always unset here); the raw failure keeps it.
      // Rows started before this waited out the backoff, as their histories say.
      const asked = cause instanceof ApplicationFailure ? optionalTsToMs(cause.failure?.applicationFailureInfo?.nextRetryDelay) : undefined;
      const backoff = Math.min(60_000, 2_000 * 2 ** (attempt - 1));
      await sleep(asked !== undefined && patched('honour-retry-after') ? asked : backoff);
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
  if (cause instanceof ApplicationFailure) return rowOutcomeOf(cause.type, cause.message);
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
  const awaitRelease = patched('await-slot-release');
  upsertSearchAttributes([
    { key: BatchIdKey, value: input.batchId },
    { key: RowKeyKey, value: row.key },
    { key: RowStageKey, value: 'queued' },
  ]);

  // Account conditions: tell the batch, wait until it says try again (it lets one held row probe at a time).
  const parentRun = workflowInfo().parent;
  const batch = parentRun ? getExternalWorkflowHandle(parentRun.workflowId) : undefined;
  let retryAccount = false;
  let wasHeld = false;
  setHandler(accountRetrySignal, () => {
    retryAccount = true;
  });
  const account: AccountHooks = {
    async held(cause) {
      const before = currentStage;
      reportStage('held');
      wasHeld = true;
      retryAccount = false;
      const [reason, said] = (cause.details ?? []) as string[];
      const told = batch
        ? await batch.signal(accountConditionSignal, { rowKey: row.key, reason: reason ?? 'account', message: said || cause.message }).then(
            () => true,
            () => false,
          )
        : false;
      if (told) await condition(() => retryAccount);
      else await sleep(60_000); // no batch to hold it: try again in a minute
      reportStage(before);
    },
    async accepted() {
      if (!wasHeld) return;
      wasHeld = false;
      if (batch) await batch.signal(accountRecoveredSignal, row.key).catch(() => undefined);
    },
  };
  const submit = (job: SubmitJobInput) => submitJob(job, account);
  /** A task's state; an account condition while polling (a key that expired mid-batch) holds the row too. */
  const poll = async (taskId: string): Promise<TaskSnapshot> => {
    for (;;) {
      try {
        const snap = await poller.fetchTask({ taskId, mode: row.mode });
        await account.accepted();
        return snap;
      } catch (err) {
        const refusal = accountCondition(err);
        if (!refusal || !patched('hold-rows-for-account')) throw err;
        await account.held(refusal);
      }
    }
  };

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
  const modesRan = new Set<string>();
  const images: StoredImage[] = [];
  let text: string | undefined;
  const base = {
    state: row.key,
    policy: options.submitPolicy,
    callbacks: options.callbacks,
    mode: row.mode,
    journal: { outputPrefix: input.outputPrefix, rowKey: row.key },
  };

  /**
   * Waits until the task is terminal; confirms a MODAL window once with `modalPrompt`. With `confirm` (a button will
   * be pressed on it) a callback is only a hint: the proxy calls back before a gateway in front of it has caught up,
   * and the press goes through the gateway, so the task is read through the same API before it counts as finished.
   */
  async function waitFor(taskId: string, modalPrompt: string, confirm = false): Promise<TaskSnapshot> {
    const deadline = Date.now() + options.jobDeadlineMs;
    let interval = options.pollMinMs;
    let modalSent = false;
    let hintUsed = false;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0)
        throw new RowFailure('timeout', `task ${taskId} did not finish within ${Math.round(options.jobDeadlineMs / 1000)} s`);
      const woke = await condition(
        () => !hintUsed && (isTerminal(pushed.get(taskId)) || pushed.get(taskId)?.status === 'MODAL'),
        Math.min(interval, remaining),
      );
      let current = woke ? pushed.get(taskId)! : await poll(taskId);
      if (woke && confirm && isTerminal(current) && patched('confirm-callback-before-press')) {
        hintUsed = true;
        current = await poll(taskId);
      }
      if (isTerminal(current)) {
        // A gateway's view has no mode; the upstream's callback may have said it.
        const ran = current.modeRan ?? pushed.get(taskId)?.modeRan;
        if (ran) modesRan.add(ran);
        return current;
      }
      if (current.status === 'MODAL' && !modalSent) {
        modalSent = true;
        await submit({ op: 'modal', taskId, prompt: modalPrompt, ...base });
      }
      if (!woke) interval = Math.min(options.pollMaxMs, Math.round(interval * 1.5));
    }
  }

  async function store(role: string, snap: TaskSnapshot, chain: string[]): Promise<void> {
    if (!snap.imageUrl) throw new RowFailure('generation', `task ${snap.taskId} finished without an image URL`);
    reportStage('media');
    images.push(
      await media.storeImage({
        batchId: input.batchId,
        rowKey: row.key,
        prefix: row.prefix,
        role,
        taskId: snap.taskId,
        imageUrl: snap.imageUrl,
        prompt: row.prompt,
        parentChain: chain,
        thumbnails: options.thumbnails,
      }),
    );
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
    const first = await submit({ op: 'new', kind: row.kind, prompt: row.prompt, images: row.images, ...base });
    taskIds.push(first.taskId);
    reportStage('generating');
    const grid = await waitFor(first.taskId, row.prompt, row.plan.length > 0);
    if (grid.status !== 'SUCCESS') throw jobEnded(grid);
    if (row.kind === 'describe' || row.kind === 'shorten') text = grid.text;
    else await keep({ role: 'grid', snap: grid, chain: [grid.taskId] });

    for (const chain of row.plan) {
      let parent = grid;
      const path: string[] = [];
      const chainIds = [grid.taskId];
      for (const [index, step] of chain.entries()) {
        reportStage('follow-ups');
        const button = parent.buttons.find((b) => b.intent === step.intent);
        if (!button) throw new RowFailure('generation', `task ${parent.taskId} offers no ${step.intent} button`);
        const accepted = await submit({ op: 'action', taskId: parent.taskId, customId: button.customId, ...base });
        taskIds.push(accepted.taskId);
        const modalPrompt =
          step.zoom !== undefined ? `${parent.finalPrompt ?? row.prompt} --zoom ${step.zoom}` : (parent.finalPrompt ?? row.prompt);
        if (accepted.modal) await submit({ op: 'modal', taskId: accepted.taskId, prompt: modalPrompt, ...base });
        const done = await waitFor(accepted.taskId, modalPrompt, index < chain.length - 1);
        if (done.status !== 'SUCCESS') throw jobEnded(done);
        path.push(step.zoom !== undefined ? `${step.intent}=${step.zoom}` : step.intent);
        chainIds.push(done.taskId);
        await keep({ role: path.join('>'), snap: done, chain: [...chainIds] });
        parent = done;
      }
    }
  }

  /**
   * Gives the account's slot back (once); the batch gives it back itself only if this workflow fails. The server
   * drops a signal still in flight when its sender completes, so the release is awaited (rows started before that
   * send it and go on, as their histories say), and sent even while the row is being cancelled.
   */
  let lease = input.slotLease;
  const releaseSlot = async () => {
    if (!lease) return;
    const { workflowId, leaseId } = lease;
    lease = undefined;
    const send = () => getExternalWorkflowHandle(workflowId).signal(releaseSlotSignal, leaseId);
    if (awaitRelease) await CancellationScope.nonCancellable(send).catch(() => undefined);
    else send().catch(() => undefined);
  };

  let result: ItemResult;
  try {
    if (options.skipDone) {
      const previous = await results.loadRowResult({ outputPrefix: input.outputPrefix, rowKey: row.key });
      if (previous && (previous.status === 'SUCCESS' || previous.status === 'SKIPPED')) {
        await releaseSlot();
        reportStage('done');
        return { ...previous, status: 'SKIPPED' };
      }
    }
    if (row.imageUrl || row.taskId) {
      // Media only: the image exists already (new thumbnail sizes, a lost upload). No job, so no slot.
      await releaseSlot();
      const snap = row.taskId
        ? await poll(row.taskId)
        : { taskId: '', status: 'SUCCESS', progress: 100, buttons: [], imageUrl: row.imageUrl };
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
      await releaseSlot();
      for (const f of finished) await store(f.role, f.snap, f.chain);
      if (jobsFailed !== undefined) throw jobsFailed;
    }
    result = { rowKey: row.key, line: row.line, status: 'SUCCESS', taskIds, images, text };
    reportStage('done');
  } catch (err) {
    result = { rowKey: row.key, line: row.line, ...classify(err), taskIds, images, text };
    reportStage('failed');
  }
  if (row.mode) result.modeRequested = row.mode;
  if (modesRan.size > 0) result.modeRan = [...modesRan].sort().join('|');
  await releaseSlot();
  // Recorded even when the batch is being cancelled: the report and the next run rely on it.
  await CancellationScope.nonCancellable(() =>
    results.saveRowResult({ batchId: input.batchId, outputPrefix: input.outputPrefix, row, result }),
  );
  return result;
}
