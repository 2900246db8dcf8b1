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
import { mediaActivities } from './media-activities';
import type { createResultActivities } from '../activities/results';
import type { createVersionActivities, RowState } from '../activities/versions';
import type { StoredImage } from '../contracts/media';
import { rowFolderKey } from '../contracts/bucket-layout';
import { poolAcceptedSignal, poolGrantedSignal, poolReturnSignal, releaseSlotSignal, rowFinishedSignal } from '../contracts/handlers';
import { FailureType, MJ_FAILURE_TYPES, rowOutcomeOf } from '../contracts/failures';
import type { PoolGrant, RefusalReason } from '../contracts/account-pool';
import { isModerationFailure } from '../contracts/moderation';
import { BatchIdKey, RowKeyKey, RowStageKey } from '../contracts/search-attributes';
import { accountConditionSignal, accountRecoveredSignal, accountRetrySignal, taskUpdateSignal } from '../contracts/handlers';
import {
  modeMismatch,
  type FailureClass,
  type ItemInput,
  type ItemResult,
  type ItemStage,
  type RowRef,
  type SupersededVersion,
  type TaskSnapshot,
} from '../contracts/rows';

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

// Keeping a replaced version's images copies a few objects per image, server-side.
const versions = proxyActivities<ReturnType<typeof createVersionActivities>>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});

type PlanStep = RowRef['plan'][number][number];
const stepName = (step: PlanStep) => (step.zoom !== undefined ? `${step.intent}=${step.zoom}` : step.intent);
/** The role of each step of a chain: its path from the grid (`U2`, `U2>upscale_subtle`), as the images are named. */
const chainRoles = (chain: PlanStep[]) =>
  chain.map((_, i) =>
    chain
      .slice(0, i + 1)
      .map(stepName)
      .join('>'),
  );

/** What marks the reason of a row not submitted again after a refusal; an older reason is cut there. */
const REFUSED_BEFORE = ' (refused by moderation in an earlier run';

/**
 * What an earlier version of the row left that this one builds on (the same first job): its grid's task, found
 * again through the API, and its images by role (the steps it already made). Images in the same folder are carried
 * over as they are; in another folder they are stored again from their tasks (no new job).
 */
interface Earlier {
  grid?: StoredImage;
  images: Map<string, StoredImage>;
  sameFolder: boolean;
  text?: string;
  taskIds: string[];
}

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
  /** With a pool of accounts: moves the row's lease to `account` (whose task an earlier version made). */
  moveTo?(account: string): Promise<void>;
  /**
   * With a pool of accounts: tells the pool the account refused `job` (throttled, or an account condition) and
   * resolves to the job to submit now (on another account, when the row could move), or undefined to back off.
   */
  refused?(cause: ApplicationFailure, throttled: boolean, job: SubmitJobInput): Promise<SubmitJobInput | undefined>;
}

/** Answers that say the account is busy, not that the row is wrong: a pool gives the account fewer slots. */
const THROTTLED = new Set<string>([MJ_FAILURE_TYPES['queue-full'], MJ_FAILURE_TYPES['rate-limited']]);

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
async function submitJob(job: SubmitJobInput, account?: AccountHooks): Promise<SubmitJobResult> {
  let input = job;
  for (let attempt = 1; ; attempt++) {
    try {
      const accepted = await submitOnce.submitJob(input);
      await account?.accepted();
      // Adopted from an earlier run on another account of the pool: the row's lease and follow-ups move there.
      if (accepted.account !== undefined) await account?.moveTo?.(accepted.account);
      return accepted;
    } catch (err) {
      // Quota, key, ban: the account's trouble, not the row's. Rows started before that failed here.
      const refusal = accountCondition(err);
      // With a pool (only rows whose lease names an account): the pool hears of it and the row moves or waits.
      const throttled = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && THROTTLED.has(err.cause.type ?? '');
      if ((refusal || throttled) && account?.refused) {
        const next = await account.refused(refusal ?? ((err as ActivityFailure).cause as ApplicationFailure), !refusal, input);
        if (next) {
          input = next;
          attempt = 0;
          continue;
        }
      }
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

/** The pool's word for an account condition the client classified (`MjApiError.reason`, the failure's first detail). */
function refusalReason(cause: ApplicationFailure): RefusalReason {
  const said = (cause.details ?? [])[0];
  if (said === 'no-account') return 'throttled'; // the proxy's accounts are all busy or down: like a full queue
  if (said === 'quota-exhausted') return 'quota';
  if (said === 'unauthorized' || said === 'unknown-account') return said;
  return 'forbidden';
}

/** A row that cannot leave its account (a follow-up, a poll) waits this long after a condition, doubling to the max. */
const ACCOUNT_WAIT_FIRST_MS = 30_000;
const ACCOUNT_WAIT_MAX_MS = 10 * 60_000;

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
  const media = mediaActivities(options.mediaTaskQueue);
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
  // With a pool of accounts (an accounts file): every job of the row goes to the account its lease is on. A first
  // job the account refuses moves to another account; a follow-up or a poll waits for its own (task ids belong to
  // one account). Only rows whose lease names an account take this path.
  const poolLease = input.slotLease?.account !== undefined && patched('account-pool') ? input.slotLease : undefined;
  let onAccount = poolLease?.account;
  let probing = poolLease?.probe === true;
  let refusedHere = false;
  let regrant: PoolGrant | undefined;
  setHandler(poolGrantedSignal, (grant) => {
    if (grant.leaseId === poolLease?.leaseId) regrant = grant;
  });
  if (poolLease) {
    const pool = getExternalWorkflowHandle(poolLease.workflowId);
    const { leaseId } = poolLease;
    let waitMs = ACCOUNT_WAIT_FIRST_MS;
    /** Gives the lease back and waits for a new one, on `pin` only if given; the row's jobs go there from now on. */
    const moveAccount = async (refusal?: { reason: RefusalReason; message: string }, pin?: string) => {
      const before = currentStage;
      reportStage('held');
      regrant = undefined;
      await pool.signal(poolReturnSignal, {
        leaseId,
        account: onAccount!,
        ...(refusal ? { refusal } : {}),
        again: { holder: workflowInfo().workflowId, ...(pin ? { account: pin } : {}) },
      });
      await condition(() => regrant !== undefined);
      onAccount = regrant!.account;
      probing = regrant!.probe === true;
      refusedHere = false;
      base.account = onAccount;
      reportStage(before);
    };
    account.moveTo = (pin) => moveAccount(undefined, pin);
    account.accepted = async () => {
      if (!refusedHere && !probing) return;
      refusedHere = false;
      probing = false;
      waitMs = ACCOUNT_WAIT_FIRST_MS;
      await pool.signal(poolAcceptedSignal, { leaseId, account: onAccount! }).catch(() => undefined);
    };
    /** Tells the pool, and waits on this account: throttling backs off as any refusal does, a condition waits longer. */
    const waitHere = async (refusal: { reason: RefusalReason; message: string }) => {
      refusedHere = true;
      probing = false;
      await pool.signal(poolReturnSignal, { leaseId, account: onAccount!, refusal }).catch(() => undefined);
      if (refusal.reason === 'throttled') return false;
      const before = currentStage;
      reportStage('held');
      await sleep(waitMs);
      waitMs = Math.min(ACCOUNT_WAIT_MAX_MS, waitMs * 2);
      reportStage(before);
      return true;
    };
    account.held = async (cause) => {
      await waitHere({ reason: refusalReason(cause), message: cause.message });
    };
    account.refused = async (cause, throttled, job) => {
      const refusal = { reason: throttled ? ('throttled' as const) : refusalReason(cause), message: cause.message };
      if (job.op === 'new') {
        await moveAccount(refusal);
        return { ...job, account: onAccount };
      }
      return (await waitHere(refusal)) ? job : undefined;
    };
  }
  const submit = (job: SubmitJobInput) => submitJob(job, account);
  /** A task's state; an account condition while polling (a key that expired mid-batch) holds the row too. */
  const poll = async (taskId: string): Promise<TaskSnapshot> => {
    for (;;) {
      try {
        const snap = await poller.fetchTask({ taskId, mode: row.mode, ...(onAccount !== undefined ? { account: onAccount } : {}) });
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
  /** The row's jobs' time in the API's queue and on a slot (the API's own times), for the slots workflow. */
  const jobTimes = { queuedMs: 0, ranMs: 0 };
  const images: StoredImage[] = [];
  let text: string | undefined;
  const base = {
    ...(onAccount !== undefined ? { account: onAccount } : {}),
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
        const times = current.ranMs !== undefined ? current : pushed.get(taskId);
        if (times?.ranMs !== undefined) {
          jobTimes.ranMs += times.ranMs;
          jobTimes.queuedMs += times.queuedMs ?? 0;
        }
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

  /** Presses one step's button on `parent` and waits for its job: one paid follow-up. */
  async function press(parent: TaskSnapshot, step: PlanStep, more: boolean): Promise<TaskSnapshot> {
    reportStage('follow-ups');
    const button = parent.buttons.find((b) => b.intent === step.intent);
    if (!button) throw new RowFailure('generation', `task ${parent.taskId} offers no ${step.intent} button`);
    const accepted = await submit({ op: 'action', taskId: parent.taskId, customId: button.customId, ...base });
    taskIds.push(accepted.taskId);
    const modalPrompt =
      step.zoom !== undefined ? `${parent.finalPrompt ?? row.prompt} --zoom ${step.zoom}` : (parent.finalPrompt ?? row.prompt);
    if (accepted.modal) await submit({ op: 'modal', taskId: accepted.taskId, prompt: modalPrompt, ...base });
    const done = await waitFor(accepted.taskId, modalPrompt, more);
    if (done.status !== 'SUCCESS') throw jobEnded(done);
    return done;
  }

  /** An earlier run's task as the API has it now, if it still has it finished; undefined otherwise. */
  const earlierTasks = new Map<string, TaskSnapshot | undefined>();
  async function earlierTask(taskId: string): Promise<TaskSnapshot | undefined> {
    if (earlierTasks.has(taskId)) return earlierTasks.get(taskId);
    let snap: TaskSnapshot | undefined;
    try {
      snap = await poll(taskId);
    } catch (err) {
      if (isCancellation(err)) throw err;
    }
    const found = snap?.status === 'SUCCESS' ? snap : undefined;
    if (found?.modeRan) modesRan.add(found.modeRan);
    earlierTasks.set(taskId, found);
    return found;
  }

  /** Earlier images carried into this version as they are, by role (once each, however many chains pass by). */
  const carried = new Map<string, StoredImage>();
  const reused = new Set<string>();

  /**
   * The leading steps of a chain an earlier version already made: carried over (or stored again, in a new folder),
   * and the task the first new step is pressed on. A task the API no longer has is made again.
   */
  async function reuseSteps(
    earlier: Earlier,
    roles: string[],
    grid: TaskSnapshot,
    chainIds: string[],
    keep: (f: FinishedJob) => Promise<void>,
  ): Promise<{ from: number; parent: TaskSnapshot }> {
    let made = 0;
    while (made < roles.length && earlier.images.has(roles[made]!)) made++;
    const snaps: TaskSnapshot[] = [];
    if (!earlier.sameFolder) {
      for (let i = 0; i < made; i++) {
        const snap = await earlierTask(earlier.images.get(roles[i]!)!.taskId);
        if (!snap) {
          made = i;
          break;
        }
        snaps.push(snap);
      }
    } else if (made < roles.length) {
      // The first new step is pressed on the last one made: the API gives its buttons.
      for (; made > 0; made--) {
        const snap = await earlierTask(earlier.images.get(roles[made - 1]!)!.taskId);
        if (snap) {
          snaps[made - 1] = snap;
          break;
        }
      }
    }
    for (let i = 0; i < made; i++) {
      const role = roles[i]!;
      const image = earlier.images.get(role)!;
      chainIds.push(image.taskId);
      if (reused.has(role)) continue;
      reused.add(role);
      taskIds.push(image.taskId);
      if (earlier.sameFolder) carried.set(role, image);
      else await keep({ role, snap: snaps[i]!, chain: [...chainIds] });
    }
    return { from: made, parent: (made > 0 && snaps[made - 1]) || grid };
  }

  /**
   * The row's paid jobs: the first one, then each follow-up chain, button by button. With `earlier`, the grid an
   * earlier version made is used again if the API still has it, and only the steps it did not make are paid for.
   */
  async function runJobs(finished: FinishedJob[], earlier?: Earlier): Promise<void> {
    // Rows started before images were deferred store each image right after its job, as their histories say.
    const deferImages = patched('jobs-before-images');
    const keep = async (f: FinishedJob) => {
      if (deferImages) finished.push(f);
      else await store(f.role, f.snap, f.chain);
    };
    if (earlier?.text !== undefined) {
      // Describe or shorten whose job is unchanged: its answer stands.
      text = earlier.text;
      taskIds.push(...earlier.taskIds);
      return;
    }
    const earlierGrid = earlier?.grid;
    const found = earlierGrid ? await earlierTask(earlierGrid.taskId) : undefined;
    let grid: TaskSnapshot;
    if (!found || !earlierGrid) {
      // No earlier grid, or the API no longer has it: the row runs in full.
      earlier = undefined;
      reportStage('submitting');
      const first = await submit({ op: 'new', kind: row.kind, prompt: row.prompt, images: row.images, ...base });
      taskIds.push(first.taskId);
      reportStage('generating');
      grid = await waitFor(first.taskId, row.prompt, row.plan.length > 0);
      if (grid.status !== 'SUCCESS') throw jobEnded(grid);
      if (row.kind === 'describe' || row.kind === 'shorten') text = grid.text;
      else await keep({ role: 'grid', snap: grid, chain: [grid.taskId] });
    } else {
      grid = found;
      taskIds.push(grid.taskId);
      reused.add('grid');
      if (earlier?.sameFolder) carried.set('grid', earlierGrid);
      else await keep({ role: 'grid', snap: grid, chain: [grid.taskId] });
    }

    for (const chain of row.plan) {
      const roles = chainRoles(chain);
      const chainIds = [grid.taskId];
      let parent = grid;
      let from = 0;
      if (earlier) ({ from, parent } = await reuseSteps(earlier, roles, grid, chainIds, keep));
      for (let index = from; index < chain.length; index++) {
        const done = await press(parent, chain[index]!, index < chain.length - 1);
        chainIds.push(done.taskId);
        if (earlier) {
          // Made again (the API no longer had its parent): the new image replaces the one carried over.
          carried.delete(roles[index]!);
          finished.splice(0, finished.length, ...finished.filter((f) => f.role !== roles[index]));
        }
        await keep({ role: roles[index]!, snap: done, chain: [...chainIds] });
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
    const { workflowId, leaseId, reportUsage } = lease;
    lease = undefined;
    // Only leases that ask for it (their batch started them so) carry the job times, so older histories replay.
    const release = reportUsage && jobTimes.ranMs > 0 ? { leaseId, ...jobTimes } : leaseId;
    const send = () => getExternalWorkflowHandle(workflowId).signal(releaseSlotSignal, release);
    if (awaitRelease) await CancellationScope.nonCancellable(send).catch(() => undefined);
    else send().catch(() => undefined);
  };

  /**
   * The row's end. A row that outlives its batch's run tells the batch's current run, awaited (a signal in flight
   * when its sender completes is dropped) and sent even while the row is being cancelled. Only rows whose input names
   * `reportTo` send it, so histories from before it replay as they ran.
   */
  const finish = async (r: ItemResult): Promise<ItemResult> => {
    const batchId = input.reportTo;
    if (batchId) {
      const said = { rowKey: r.rowKey, status: r.status, modeMismatch: modeMismatch(r) || undefined };
      await CancellationScope.nonCancellable(() => getExternalWorkflowHandle(batchId).signal(rowFinishedSignal, said)).catch(
        () => undefined,
      );
    }
    return r;
  };

  /** The row's versions and its stored result's; unset in rows started before versions (they skip any SUCCESS). */
  let state: RowState | undefined;
  /** Images of earlier versions this one no longer shows, where they are kept (carried from result to result). */
  let superseded: SupersededVersion[] = [];

  /**
   * Before the row writes images: keeps those of the earlier version it does not carry over, those an earlier run
   * could not keep yet, and (in a folder shared through an `output` template) another row's images under the same
   * names. If they cannot be kept, nothing is written over them: they stay listed where they are, for the next run.
   */
  const preserve = async (writes: { role: string; taskId: string }[]) => {
    if (!state) return;
    const previous = state.previous;
    const pending = superseded.flatMap((entry) => {
      const images = entry.images.filter((i) => !i.key.includes(`/_versions/${entry.version}/`));
      return images.length > 0 ? [{ ...entry, images }] : [];
    });
    const settled = superseded.flatMap((entry) => {
      const images = entry.images.filter((i) => i.key.includes(`/_versions/${entry.version}/`));
      return images.length > 0 ? [{ ...entry, images }] : [];
    });
    const carriedKeys = new Set([...carried.values()].map((i) => i.key));
    const replaced = previous && previous.version !== state.version ? previous.result.images.filter((i) => !carriedKeys.has(i.key)) : [];
    const keep = [...pending, ...(replaced.length > 0 ? [{ version: previous!.version, rowKey: row.key, images: replaced }] : [])];
    const shared = row.prefix !== rowFolderKey(input.outputPrefix, row.key) && writes.length > 0;
    if (keep.length === 0 && !shared) return;
    try {
      const kept = await versions.preserveImages({
        outputPrefix: input.outputPrefix,
        row: { key: row.key, prefix: row.prefix },
        keep,
        writes: shared ? writes : [],
      });
      superseded = [...settled, ...kept];
    } catch (err) {
      superseded = [...settled, ...keep];
      throw err;
    }
  };

  /** The version's images in the plan's order: the grid, then each chain's steps. */
  const inPlanOrder = (all: StoredImage[]) => {
    const order = ['grid', ...row.plan.flatMap(chainRoles)];
    const rank = (i: StoredImage) => (order.includes(i.role) ? order.indexOf(i.role) : order.length);
    return [...all].sort((a, b) => rank(a) - rank(b));
  };

  let result: ItemResult;
  try {
    // Rows started before versions skip any row whose stored result succeeded, as their histories say.
    const versioned = patched('row-versions');
    let earlier: Earlier | undefined;
    if (versioned) {
      state = await versions.loadRowState({ outputPrefix: input.outputPrefix, row });
      const previous = state.previous;
      superseded = previous?.result.superseded ?? [];
      if (options.skipDone && previous && previous.version === state.version) {
        if (previous.result.status === 'SUCCESS' || previous.result.status === 'SKIPPED') {
          await releaseSlot();
          reportStage('done');
          return finish({ ...previous.result, status: 'SKIPPED', version: state.version });
        }
        if (previous.result.status === 'FAILED' && previous.result.failureClass === 'banned' && !options.resubmitBanned) {
          // A refusal is paid for and counts against the account: the same prompt is not sent again unasked.
          taskIds.push(...previous.result.taskIds);
          const reason = (previous.result.reason ?? 'moderation refused it').split(REFUSED_BEFORE)[0];
          throw new RowFailure(
            'banned',
            `${reason}${REFUSED_BEFORE}, so not submitted again: edit the prompt, or send it anyway with \`mj-batch redrive ${input.batchId} --class banned\`)`,
          );
        }
      }
      if (options.skipDone && previous && previous.version !== state.version && previous.firstJobVersion === state.firstJobVersion) {
        const made = new Map(previous.result.images.map((i) => [i.role, i]));
        const textKind = row.kind === 'describe' || row.kind === 'shorten';
        const answered = textKind && previous.result.status === 'SUCCESS' && previous.result.text !== undefined;
        if (made.has('grid') || answered)
          earlier = {
            grid: made.get('grid'),
            images: made,
            sameFolder: previous.prefix === row.prefix,
            text: answered ? previous.result.text : undefined,
            taskIds: previous.result.taskIds,
          };
      }
    } else if (options.skipDone) {
      const previous = await results.loadRowResult({ outputPrefix: input.outputPrefix, rowKey: row.key });
      if (previous && (previous.status === 'SUCCESS' || previous.status === 'SKIPPED')) {
        await releaseSlot();
        reportStage('done');
        return finish({ ...previous, status: 'SKIPPED' });
      }
    }
    // An earlier version's tasks are on the account that made them: the row's jobs follow up there.
    const madeOn = state?.previous?.result.account;
    if (earlier && madeOn && onAccount !== undefined && madeOn !== onAccount) await account.moveTo?.(madeOn);
    if (row.imageUrl || row.taskId) {
      // Media only: the image exists already (new thumbnail sizes, a lost upload). No job, so no slot.
      await releaseSlot();
      // The same image stored in the row's folder before: new thumbnails from that original, with no call to the API
      // and no download from its image host (whose URLs expire). A lost or changed original is fetched again.
      const previous = state?.previous;
      const kept =
        versioned && previous && previous.firstJobVersion === state?.firstJobVersion && previous.prefix === row.prefix
          ? previous.result.images.find((i) => i.role === 'grid')
          : undefined;
      if (kept) reportStage('media');
      const fromStore = kept
        ? await media.rethumbnailImage({ image: kept, thumbnails: options.thumbnails }).catch(() => undefined)
        : undefined;
      if (fromStore) {
        if (row.taskId) taskIds.push(row.taskId);
        images.push(fromStore);
      } else {
        const snap = row.taskId
          ? await poll(row.taskId)
          : { taskId: '', status: 'SUCCESS', progress: 100, buttons: [], imageUrl: row.imageUrl };
        if (row.taskId) taskIds.push(row.taskId);
        if (versioned) await preserve([{ role: 'grid', taskId: snap.taskId }]);
        await store('grid', snap, taskIds);
      }
    } else {
      // Every job first, then the images: the account's slot is given back as soon as the row needs no more jobs,
      // so downloads and thumbnails never keep a paid slot idle. What finished is stored even if a later job fails.
      const finished: FinishedJob[] = [];
      let jobsFailed: unknown;
      try {
        await runJobs(finished, earlier);
      } catch (err) {
        jobsFailed = err;
      }
      await releaseSlot();
      if (versioned)
        await preserve(finished.map((f) => ({ role: f.role, taskId: f.snap.taskId }))).catch((err: unknown) => {
          throw jobsFailed ?? err;
        });
      for (const f of finished) await store(f.role, f.snap, f.chain);
      if (jobsFailed !== undefined) throw jobsFailed;
    }
    result = { rowKey: row.key, line: row.line, status: 'SUCCESS', taskIds, images, text };
    reportStage('done');
  } catch (err) {
    result = { rowKey: row.key, line: row.line, ...classify(err), taskIds, images, text };
    reportStage('failed');
  }
  if (state) {
    // Every image of this version: those carried over from the earlier one and those stored now.
    result.images = inPlanOrder([...carried.values(), ...images]);
    result.version = state.version;
    if (superseded.length > 0) result.superseded = superseded;
  }
  if (row.mode) result.modeRequested = row.mode;
  if (onAccount !== undefined) result.account = onAccount;
  if (modesRan.size > 0) result.modeRan = [...modesRan].sort().join('|');
  await releaseSlot();
  // Recorded even when the batch is being cancelled: the report and the next run rely on it.
  await CancellationScope.nonCancellable(() =>
    results.saveRowResult({ batchId: input.batchId, outputPrefix: input.outputPrefix, row, result }),
  );
  return finish(result);
}
