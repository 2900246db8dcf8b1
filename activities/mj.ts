import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { activityInfo, ApplicationFailure } from '@temporalio/activity';
import type { Dispatcher } from 'undici';
import { FailureType } from '../contracts/failures';
import { downloadImage, type DownloadPolicy } from '../media/download';
import { MediaError } from '../media/errors';
import { inspectImage } from '../media/thumbnails';
import { parseS3Uri } from '../manifest/source';
import type { MjClients } from '../client/account-clients';
import type { MjClient, SubmitAccepted } from '../mj-client/client';
import { withModeFlag, type Mode } from '../mj-client/routing';
import type { MjTask } from '../mj-client/schemas';
import { snapshotOf } from '../mj-client/snapshot';
import type { Kind } from '../manifest/row';
import type { SubmitPolicy, TaskSnapshot } from '../contracts/rows';
import { MjApiError } from '../mj-client/errors';
import { deleteJournal, fingerprintOf, journalKey, readJournal, writeJournal, type JournalRef } from '../storage/job-journal';
import { toFailure } from './failures';
import { s3StatusOf } from '../storage/objects';
import { recordJobSubmitted, recordSubmitFailed } from '../metrics/record';

export interface MjDeps {
  /** One client per account the worker was started with. */
  clients: MjClients;
  s3: S3Client;
  /** Where the job journal lives (the results bucket). */
  bucket: string;
  /** For input images given as http(s) URLs. */
  downloadPolicy: DownloadPolicy;
  dispatcher: Dispatcher;
  /** `<base>/mj/callback/<secret>`: set when the worker runs a callback receiver. The secret never leaves the worker. */
  callbackUrl?: string;
}

interface SubmitCommon {
  mode?: Mode;
  state: string;
  policy: SubmitPolicy;
  callbacks: boolean;
  /** The row's job journal: jobs it already paid for are adopted, not submitted again. */
  journal?: JournalRef;
  /** The account (its name) the row's lease is on; unset: the worker's default account. */
  account?: string;
}

export type SubmitJobInput =
  | ({ op: 'new'; kind: Kind; prompt: string; images: string[] } & SubmitCommon)
  | ({ op: 'action'; taskId: string; customId: string } & SubmitCommon)
  | ({ op: 'modal'; taskId: string; prompt: string } & SubmitCommon);

export interface SubmitJobResult {
  taskId: string;
  modal: boolean;
  queued: boolean;
  /** The job existed already (a previous attempt or run created it): nothing was paid for now. */
  adopted?: boolean;
  /** An adopted job found on another account than the input's (an earlier run's lease): the row's jobs go there. */
  account?: string;
}

/** An imagine carries its row's mode as a prompt flag too, so the mode survives gateways that drop mode paths. */
const promptSent = (input: Extract<SubmitJobInput, { op: 'new' }>) =>
  input.kind === 'imagine' ? withModeFlag(input.prompt, input.mode) : input.prompt;

/** The journal's record of the account, so a cancel at the API asks the account that holds the task; none for the default. */
const journalAccount = (input: SubmitJobInput): { account?: string } => (input.account !== undefined ? { account: input.account } : {});

/** The API's clock and the worker's may differ; a task this much older than the intent still counts as its job. */
const CLOCK_SKEW_MS = 5 * 60_000;
const ENDED = new Set(['FAILURE', 'CANCEL']);
const ACTION_OF_KIND: Record<Kind, string> = { imagine: 'IMAGINE', blend: 'BLEND', describe: 'DESCRIBE', shorten: 'SHORTEN' };

/** Input images must reach the API as data URLs; they are fetched here, inside the activity, never via workflow history. */
const MAX_INPUT_IMAGE_BYTES = 10 * 1024 * 1024;

export function createMjActivities(deps: MjDeps) {
  /** The account a call that names none goes to, by name, for the metrics' labels. */
  const defaultAccount = [...deps.clients.byName].find(([, c]) => c === deps.clients.default)?.[0] ?? 'default';

  /** The client of the input's account. A name this worker was not started with fails before any call is made. */
  function clientOf(account: string | undefined): MjClient {
    if (account === undefined) return deps.clients.default;
    const client = deps.clients.byName.get(account);
    if (client) return client;
    const message = `this worker has no account named ${JSON.stringify(account)} (start it with the same accounts file)`;
    throw ApplicationFailure.create({ type: FailureType.account, nonRetryable: true, message, details: ['unknown-account', message] });
  }

  async function dataUrl(ref: string): Promise<string> {
    let bytes: Buffer;
    const s3ref = parseS3Uri(ref);
    if (s3ref) {
      try {
        const res = await deps.s3.send(new GetObjectCommand({ Bucket: s3ref.bucket, Key: s3ref.key }));
        bytes = Buffer.from(await res.Body!.transformToByteArray());
      } catch (err) {
        const status = s3StatusOf(err);
        throw new MediaError(
          'download',
          `${ref}: ${status === 404 ? 'no such object' : (err as Error).message}`,
          status !== 404 && status !== 403,
        );
      }
    } else {
      bytes = (await downloadImage(ref, { ...deps.downloadPolicy, maxBytes: MAX_INPUT_IMAGE_BYTES }, deps.dispatcher)).bytes;
    }
    if (bytes.length > MAX_INPUT_IMAGE_BYTES)
      throw new MediaError('download', `${ref} is larger than ${MAX_INPUT_IMAGE_BYTES} bytes`, false);
    const info = await inspectImage(bytes);
    return `data:image/${info.format};base64,${bytes.toString('base64')}`;
  }

  /** Is this listed task the job `input` asks for (same row, same prompt or parent and button, made after the intent)? */
  function isJobOf(task: MjTask, input: Exclude<SubmitJobInput, { op: 'modal' }>, intentAt: number): boolean {
    if (task.state !== input.state || (task.submitTime ?? 0) < intentAt - CLOCK_SKEW_MS) return false;
    const extra = task as Record<string, unknown>;
    if (input.op === 'action')
      return String(extra.parentId ?? '') === input.taskId && (extra.customId === undefined || extra.customId === input.customId);
    // The Java proxy puts uploaded reference URLs in front of the prompt.
    return (
      task.action === ACTION_OF_KIND[input.kind] &&
      ((input.kind !== 'imagine' && input.kind !== 'shorten') || (task.prompt ?? '').endsWith(promptSent(input)))
    );
  }

  /**
   * Looks for the job a previous attempt may have created, by the row's state, where the API lists tasks: its id,
   * null when the list proves there is none, 'unknown' when the API cannot say (no list, or a list too short to
   * reach back to the intent: CS lists only the newest 100).
   */
  async function findPreviousJob(
    client: MjClient,
    input: Exclude<SubmitJobInput, { op: 'modal' }>,
    intentAt: number,
  ): Promise<string | null | 'unknown'> {
    const tasks = await client.listTasks();
    if (tasks === null) return 'unknown';
    const mine = tasks.filter((t) => isJobOf(t, input, intentAt));
    const alive = mine.find((t) => !ENDED.has(t.status));
    if (alive) return alive.id;
    if (mine.length > 0) return null; // it was made and has failed: a failed job is not charged, so submit anew
    const oldest = Math.min(...tasks.map((t) => t.submitTime ?? Number.POSITIVE_INFINITY));
    return tasks.length < 100 || oldest <= intentAt - CLOCK_SKEW_MS ? null : 'unknown';
  }

  /** The journal's task, if the API still has it and it has not failed. */
  async function stillAlive(client: MjClient, taskId: string): Promise<MjTask | null> {
    try {
      const task = await client.fetchTask(taskId);
      return ENDED.has(task.status) ? null : task;
    } catch (err) {
      if (err instanceof MjApiError && err.kind === 'not-found') return null;
      throw err;
    }
  }

  const fingerprintFor = (input: Exclude<SubmitJobInput, { op: 'modal' }>) =>
    fingerprintOf(
      input.op === 'new'
        ? [input.kind, input.prompt, input.images, input.mode ?? null]
        : [input.taskId, input.customId, input.mode ?? null],
    );

  /**
   * What the journal says about this job before paying for it: adopt a job that exists, submit when the journal
   * (and the API's list) prove there is none, stop when neither can tell and the policy forbids paying twice.
   */
  async function adoptExisting(
    client: MjClient,
    input: Exclude<SubmitJobInput, { op: 'modal' }>,
    key: string,
    fingerprint: string,
  ): Promise<SubmitJobResult | undefined> {
    const prior = await readJournal(deps.s3, deps.bucket, key);
    if (!prior || prior.fingerprint !== fingerprint) return undefined;
    // An earlier run's lease may have sent the job to another account of the pool: it is looked for there, and an
    // adopted job names that account, so the row's follow-ups go where its task is.
    const elsewhere =
      prior.account !== undefined &&
      input.account !== undefined &&
      prior.account !== input.account &&
      deps.clients.byName.has(prior.account);
    if (elsewhere) client = clientOf(prior.account);
    const adopt = (task: MjTask): SubmitJobResult => ({
      taskId: task.id,
      modal: task.status === 'MODAL',
      queued: task.status === 'NOT_START',
      adopted: true,
      ...(elsewhere ? { account: prior.account } : {}),
    });
    if (prior.taskId) {
      const task = await stillAlive(client, prior.taskId);
      return task ? adopt(task) : undefined;
    }
    // A previous attempt was about to submit and never heard back: the job may exist.
    const found = await findPreviousJob(client, input, prior.intentAt);
    if (found === 'unknown') {
      if (input.policy === 'at-least-once') return undefined;
      throw ApplicationFailure.create({
        type: FailureType.ambiguous,
        nonRetryable: true,
        details: ['previous-attempt-unknown'],
        message:
          `an earlier submit of this job (at ${new Date(prior.intentAt).toISOString()}, state "${input.state}") got no answer, and this API cannot list tasks by state; ` +
          `look for a task with that state in the provider's task log; if there is none, \`mj-batch redrive <batch> --class ambiguous\` submits it again`,
      });
    }
    if (found === null) return undefined;
    await writeJournal(deps.s3, deps.bucket, key, { ...prior, taskId: found });
    const task = await stillAlive(client, found);
    return task ? adopt(task) : undefined;
  }

  return {
    /** One paid submit. Its failures say whether a retry can help, and what an ambiguous answer means under the policy. */
    async submitJob(input: SubmitJobInput): Promise<SubmitJobResult> {
      const client = clientOf(input.account);
      try {
        const entry =
          input.journal && input.op !== 'modal'
            ? { key: journalKey(input.journal, input.op === 'new' ? { op: 'new' } : input), fingerprint: fingerprintFor(input) }
            : undefined;
        if (entry && input.op !== 'modal') {
          const adopted = await adoptExisting(client, input, entry.key, entry.fingerprint);
          if (adopted) return adopted;
          await writeJournal(deps.s3, deps.bucket, entry.key, {
            fingerprint: entry.fingerprint,
            intentAt: Date.now(),
            ...journalAccount(input),
          });
        }
        let accepted: SubmitJobResult;
        try {
          accepted = await submitToApi(client, input);
        } catch (err) {
          recordSubmitFailed(err, input.account ?? defaultAccount);
          // An answer that proves nothing was created clears the intent, so the next attempt need not look.
          if (entry && !(err instanceof MjApiError && err.kind === 'ambiguous'))
            await deleteJournal(deps.s3, deps.bucket, entry.key).catch(() => undefined);
          throw err;
        }
        // A modal's confirmation is the job its button press created, and counted.
        if (input.op !== 'modal') recordJobSubmitted(input, input.mode, input.account ?? defaultAccount);
        if (entry) {
          await writeJournal(deps.s3, deps.bucket, entry.key, {
            fingerprint: entry.fingerprint,
            intentAt: Date.now(),
            taskId: accepted.taskId,
            ...journalAccount(input),
          }).catch(() => undefined); // the workflow has the id in its history; the journal only helps a later run
        }
        return accepted;
      } catch (err) {
        if (err instanceof ApplicationFailure) throw err;
        throw toFailure(err, input.policy);
      }
    },

    /** The task's state now, reduced to what the workflow needs. */
    async fetchTask(input: { taskId: string; mode?: Mode; account?: string }): Promise<TaskSnapshot> {
      const client = clientOf(input.account);
      try {
        return snapshotOf(await client.fetchTask(input.taskId, { mode: input.mode }));
      } catch (err) {
        throw toFailure(err);
      }
    },
  };

  async function submitToApi(client: MjClient, input: SubmitJobInput): Promise<SubmitJobResult> {
    const common = {
      state: input.state,
      notifyHook:
        input.callbacks && deps.callbackUrl
          ? `${deps.callbackUrl}?wf=${encodeURIComponent(activityInfo().workflowExecution?.workflowId ?? '')}`
          : undefined,
    };
    const call = { mode: input.mode };
    let accepted: SubmitAccepted;
    if (input.op === 'action') accepted = await client.submitAction({ taskId: input.taskId, customId: input.customId, ...common }, call);
    else if (input.op === 'modal') accepted = await client.submitModal({ taskId: input.taskId, prompt: input.prompt, ...common }, call);
    else {
      const images = await Promise.all(input.images.map(dataUrl));
      switch (input.kind) {
        case 'imagine':
          accepted = await client.submitImagine(
            { prompt: promptSent(input), base64Array: images.length ? images : undefined, ...common },
            call,
          );
          break;
        case 'blend':
          accepted = await client.submitBlend({ base64Array: images, dimensions: 'SQUARE', ...common }, call);
          break;
        case 'describe':
          accepted = await client.submitDescribe({ base64: images[0]!, ...common }, call);
          break;
        case 'shorten':
          accepted = await client.submitShorten({ prompt: input.prompt, ...common }, call);
          break;
      }
    }
    return { taskId: accepted.taskId, modal: accepted.modal, queued: accepted.queued };
  }
}
