import type { Dispatcher } from 'undici';
import { downloadImage, type DownloadPolicy } from '../media/download';
import { MediaError } from '../media/errors';
import {
  isTerminal,
  MjApiError,
  modePrefix,
  modeRanOf,
  parseProgress,
  type MjClient,
  type MjErrorReason,
  type MjTask,
  type Mode,
  type ModePrefixStyle,
  type ResolvedModePrefixStyle,
} from '../mj-client';
import { startCallbackReceiver, type CallbackReceiver } from '../worker/callback-receiver';
import type { TaskSnapshot } from '../contracts/rows';

// The checks of `mj-batch doctor`: each reads what one or two API answers say. All calls are free except runPaidJob.

/** No proxy hands out this id, so every server answers it with its own "unknown task" shape. */
export const PROBE_TASK_ID = '0000000000000000';

export type CheckStatus = 'ok' | 'problem' | 'skipped';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  advice?: string;
}

/** What the unknown-task answer says the server is. */
export type ServerKind = 'gateway' | 'plus' | 'java' | 'unknown';

const check =
  (status: CheckStatus) =>
  (name: string, detail: string, advice?: string): Check => ({ name, status, detail, ...(advice ? { advice } : {}) });
export const ok = check('ok');
export const problem = check('problem');
export const skipped = check('skipped');

/** The error a call ended with, or undefined when it succeeded. */
async function failureOf(call: () => Promise<unknown>): Promise<MjApiError | undefined> {
  try {
    await call();
    return undefined;
  } catch (err) {
    if (err instanceof MjApiError) return err;
    throw err;
  }
}

export interface Reached {
  reach: Check;
  unknownTask: Check;
  server: ServerKind;
  /** Nothing else can be checked: `unreachable` exits 2. */
  fatal?: 'unreachable' | 'refused';
}

/** Checks 1 and 2 from one fetch of an unknown task. */
export async function checkReach(client: MjClient): Promise<Reached> {
  const started = Date.now();
  const failure = await failureOf(() => client.fetchTask(PROBE_TASK_ID));
  return reachOf(failure, Date.now() - started);
}

const KEY_ADVICE: Partial<Record<MjErrorReason, string>> = {
  unauthorized: 'check MJ_API_KEY (a gateway token may be disabled or expired) and MJ_AUTH_HEADER (bearer or mj-api-secret)',
  forbidden: "the key may not use this API: check the token's permissions (allowed models, IP allow-list, group)",
  'quota-exhausted': "the key's quota is used up: top it up at the provider",
  'no-account': 'the provider has no Midjourney account available right now: try again later, or ask the provider',
};

export function reachOf(failure: MjApiError | undefined, ms: number): Reached {
  const answered = (status: number | undefined) => `the API answers (HTTP ${status ?? '?'} in ${ms} ms)`;
  if (!failure) {
    return {
      reach: ok('reach', answered(200)),
      server: 'unknown',
      unknownTask: problem(
        'unknown-task',
        `a made-up task id (${PROBE_TASK_ID}) was answered with a task`,
        'this does not look like a Midjourney-proxy API: check MJ_BASE_URL',
      ),
    };
  }
  if (failure.kind === 'retryable' && ['network', 'timeout', 'connection-lost'].includes(failure.reason)) {
    return {
      reach: problem(
        'reach',
        `cannot reach the API: ${failure.description ?? failure.reason}`,
        "check MJ_BASE_URL, and that this machine (and the worker's) can reach it",
      ),
      unknownTask: skipped('unknown-task', 'the API cannot be reached'),
      server: 'unknown',
      fatal: 'unreachable',
    };
  }
  if (failure.kind === 'account') {
    const words =
      failure.reason === 'quota-exhausted'
        ? "the key's quota is used up"
        : failure.reason === 'no-account'
          ? 'no account is available'
          : 'the key is refused';
    return {
      reach: problem(
        'reach',
        `${words} (HTTP ${failure.httpStatus ?? '?'}${failure.description ? `: ${failure.description}` : ''})`,
        KEY_ADVICE[failure.reason],
      ),
      unknownTask: skipped('unknown-task', words),
      server: 'unknown',
      fatal: 'refused',
    };
  }
  const reach = ok('reach', answered(failure.httpStatus));
  if (failure.kind === 'not-found') {
    const status = failure.httpStatus;
    if (status === 204)
      return {
        reach,
        server: 'plus',
        unknownTask: ok('unknown-task', 'an unknown task is answered HTTP 204: a midjourney-proxy Plus server'),
      };
    if (status !== undefined && status >= 200 && status < 300) {
      return {
        reach,
        server: 'java',
        unknownTask: ok('unknown-task', `an unknown task is answered with an empty HTTP ${status}: a midjourney-proxy (Java) server`),
      };
    }
    return {
      reach,
      server: 'gateway',
      unknownTask: ok(
        'unknown-task',
        `an unknown task is answered HTTP ${status} code 4 task_no_found: a new-api-style gateway (its own task records, refreshed from its upstream about every 15 s)`,
      ),
    };
  }
  const advice =
    failure.httpStatus === 404 && failure.code === undefined
      ? 'no route for /mj/task/{id}/fetch: MJ_BASE_URL must be the root the client appends /mj/... to (https://gw.example.com, not .../mj)'
      : failure.reason === 'invalid-response'
        ? "the answer is not the API's JSON (a web page?): MJ_BASE_URL must be the API root"
        : failure.reason === 'server-error'
          ? 'the API answers with server errors: try again later, or ask the provider'
          : undefined;
  return {
    reach,
    server: 'unknown',
    unknownTask: problem('unknown-task', `an unknown task is not answered as "not found": ${failure.message}`, advice),
  };
}

/** Check 3: list-by-condition answers a list for an unknown id (the gateway's bulk refresh and bulk lookups use it). */
export async function checkListByCondition(client: MjClient): Promise<Check> {
  let count = 0;
  const failure = await failureOf(async () => {
    count = (await client.listByCondition([PROBE_TASK_ID])).length;
  });
  return failure
    ? problem(
        'list-by-condition',
        `POST /mj/task/list-by-condition fails: ${failure.message}`,
        'a Midjourney-proxy or new-api gateway answers it with a list; this API differs from what mj-batch expects',
      )
    : ok('list-by-condition', `answers a list (${count} task(s) for an unknown id)`);
}

/** Check 4: whether a lost submit answer can be reconciled by the row's state. */
export async function checkListTasks(client: MjClient): Promise<{ check: Check; tasks: MjTask[] | null }> {
  let tasks: MjTask[] | null = null;
  const failure = await failureOf(async () => {
    tasks = await client.listTasks();
  });
  if (failure)
    return {
      tasks: null,
      check: problem(
        'list-tasks',
        `GET /mj/task/list fails: ${failure.message}`,
        'lost submit answers cannot be looked up: at-most-once rows whose answer is lost end UNKNOWN_SUBMIT',
      ),
    };
  const list = tasks as MjTask[] | null;
  if (list === null) {
    return {
      tasks: null,
      check: ok(
        'list-tasks',
        'no: this API does not list tasks (GET /mj/task/list)',
        "a submit whose answer is lost (a gateway's do_request_failed, a reset, a killed worker) cannot be looked up here: under --submit-policy at-most-once (the default) " +
          "its row ends UNKNOWN_SUBMIT, with its state, for a person to check in the provider's task log; then `mj-batch redrive <batch> --class ambiguous` if there is no such job",
      ),
    };
  }
  return {
    tasks: list,
    check: ok(
      'list-tasks',
      `yes (${list.length} recent task(s)): a submit whose answer is lost is looked up by the row's state and adopted, never paid twice`,
    ),
  };
}

export type StyleProbe = 'served' | 'no-route' | 'error';

/** A free fetch of the unknown task through a mode style: "not found" means the route exists. */
async function probeStyle(client: MjClient, modePrefix: 'plain' | 'mj-dash'): Promise<StyleProbe> {
  const failure = await failureOf(() => client.fetchTask(PROBE_TASK_ID, { mode: 'relax', modePrefix }));
  if (!failure || failure.kind === 'not-found') return 'served';
  // A bare 404 (C# Plus has no such route), or a 2xx web page (a gateway's catch-all UI).
  const bare404 = failure.httpStatus === 404 && failure.code === undefined;
  const webPage = failure.reason === 'invalid-response' && (failure.httpStatus ?? 0) >= 200 && (failure.httpStatus ?? 0) < 300;
  return bare404 || webPage ? 'no-route' : 'error';
}

export async function checkModeStyle(
  client: MjClient,
  configured: ModePrefixStyle,
  server: ServerKind,
): Promise<{ check: Check; recommended: ResolvedModePrefixStyle }> {
  const plain = await probeStyle(client, 'plain');
  return modeStyleOf(configured, server, plain, await probeStyle(client, 'mj-dash'));
}

const SHOWN: Record<StyleProbe, string> = { served: 'served', 'no-route': 'no route (404)', error: 'an error' };

/** Check 5: which URL style carries a row's mode to the account, and whether MJ_MODE_PREFIX uses it. */
export function modeStyleOf(
  configured: ModePrefixStyle,
  server: ServerKind,
  plain: StyleProbe,
  dash: StyleProbe,
): { check: Check; recommended: ResolvedModePrefixStyle } {
  const gateway = server === 'gateway';
  // new-api cuts any path containing "/mj-" to /mj/... before forwarding (getMjRequestPath): only /relax/mj/... keeps the mode.
  const recommended: ResolvedModePrefixStyle = gateway
    ? plain === 'served'
      ? 'plain'
      : 'none'
    : dash === 'served' && plain !== 'served'
      ? 'mj-dash'
      : plain === 'served'
        ? 'plain'
        : 'none';
  const seen = `/relax/mj/...: ${SHOWN[plain]}; /mj-relax/mj/...: ${gateway && dash === 'served' ? 'answered, but the gateway cuts the prefix (the mode is lost)' : SHOWN[dash]}`;
  const name = 'mode-style';
  if (recommended === 'none') {
    return {
      recommended,
      check: problem(
        name,
        `no mode URL style reaches the account (${seen})`,
        "a row's mode cannot be chosen here: rows run in the account's (or token's) mode; MJ_MODE_PREFIX=none says so",
      ),
    };
  }
  const effective = configured === 'auto' ? (plain === 'served' ? 'plain' : dash === 'served' ? 'mj-dash' : 'none') : configured;
  const lost =
    effective === 'none'
      ? "sends no mode: every row runs in the account's mode"
      : effective === 'mj-dash' && gateway
        ? 'is cut off by the gateway before it forwards: relax and turbo rows would run fast'
        : (effective === 'plain' ? plain : dash) !== 'served'
          ? 'has no route here'
          : undefined;
  const use = `MJ_MODE_PREFIX=${recommended}`;
  if (lost) return { recommended, check: problem(name, `MJ_MODE_PREFIX=${configured} ${lost} (${seen})`, `set ${use}`) };
  const pin =
    configured === recommended
      ? undefined
      : gateway
        ? `${use} pins /relax/mj/...: behind a gateway, auto would fall back to /mj-relax/mj/... (which loses the mode) if the upstream ever answered a bare 404`
        : `${use} sends it from the first call (auto finds it after one free 404)`;
  return {
    recommended,
    check: ok(
      name,
      `MJ_MODE_PREFIX=${configured} sends /${effective === 'plain' ? 'relax' : 'mj-relax'}/mj/..., which reaches the account (${seen})`,
      pin,
    ),
  };
}

export interface ImageSource {
  url: string;
  /** Where the URL came from, for the report: `task 123 (--task)`. */
  from: string;
  /** A listed task finished long ago: an expired URL there says nothing about the setup. */
  stale?: boolean;
}

/** The image check 6 downloads: the --task one, else the paid job's, else the newest finished listed task's. */
export async function imageSourceOf(
  client: MjClient,
  taskId: string | undefined,
  job: PaidJob | undefined,
  listed: MjTask[] | null,
): Promise<ImageSource | Check> {
  if (taskId) {
    let task: MjTask;
    try {
      task = await client.fetchTask(taskId);
    } catch (err) {
      if (!(err instanceof MjApiError)) throw err;
      return problem(
        'images',
        `task ${taskId} (--task): ${err.kind === 'not-found' ? 'no such task here' : err.message}`,
        'pass the id of a finished task of this API key',
      );
    }
    return task.imageUrl
      ? { url: task.imageUrl, from: `task ${taskId} (--task)` }
      : skipped('images', `task ${taskId} has no image (status ${task.status || '""'})`);
  }
  if (job?.task?.imageUrl) return { url: job.task.imageUrl, from: `the paid job's image (task ${job.task.id})` };
  const done = listed?.find((t) => t.status === 'SUCCESS' && t.imageUrl);
  if (done)
    return {
      url: done.imageUrl!,
      from: `task ${done.id} (the newest finished one listed)`,
      stale: Date.now() - (done.finishTime ?? 0) > 12 * 3_600_000,
    };
  return skipped('images', 'no finished task to download (pass --task <id> of a finished task, or --spend 1)');
}

/** Check 6: downloads the image as the worker would (same policy: MJ_IMAGE_HOSTS, private addresses, size cap). */
export async function checkImage(
  src: ImageSource,
  policy: DownloadPolicy,
  dispatcher: Dispatcher,
  baseUrl: string,
): Promise<{ check: Check; hosts: string[] }> {
  const image = new URL(src.url);
  try {
    const got = await downloadImage(src.url, policy, dispatcher, undefined, AbortSignal.timeout(60_000));
    // sharp loads only when this check runs, so other commands never load it.
    const { inspectImage } = require('../media/thumbnails') as typeof import('../media/thumbnails');
    const info = await inspectImage(got.bytes);
    return {
      hosts: policy.allowHosts.length ? policy.allowHosts : [image.hostname],
      check: ok(
        'images',
        `${src.from}: ${got.bytes.length} bytes, ${info.format} ${info.width}×${info.height}, downloaded from ${image.host}`,
      ),
    };
  } catch (err) {
    if (!(err instanceof MediaError)) throw err;
    if (src.stale && !err.retryable && err.failureClass === 'download') {
      return {
        hosts: policy.allowHosts,
        check: skipped(
          'images',
          `${src.from} finished over 12 h ago and its URL no longer answers (${err.message}); pass --task <id> of a recent task`,
        ),
      };
    }
    const { advice, hosts } = imageAdvice(image, new URL(baseUrl), err.message, policy);
    return { hosts, check: problem('images', `${src.from}: cannot download ${image.host}${image.pathname}: ${err.message}`, advice) };
  }
}

/** What to change when an image cannot be downloaded, and the MJ_IMAGE_HOSTS the worker will then need. */
export function imageAdvice(image: URL, api: URL, message: string, policy: DownloadPolicy): { advice: string; hosts: string[] } {
  if (/\/mj\/image\/[^/]+$/.test(image.pathname) && image.origin !== api.origin) {
    return {
      hosts: [api.hostname],
      advice:
        `the gateway hands out its image relay URLs at ${image.origin}, not where it answers (${api.origin}): set the gateway's ServerAddress ` +
        `(new-api: System Settings → Server Address) to its public address, then MJ_IMAGE_HOSTS=${api.hostname}`,
    };
  }
  if (/not in the allowed image hosts/.test(message))
    return { hosts: [...policy.allowHosts, image.hostname], advice: `add ${image.hostname} to MJ_IMAGE_HOSTS` };
  if (/private address/.test(message)) {
    return {
      hosts: policy.allowHosts,
      advice: `${image.hostname} is a private address, which the worker does not download from: MJ_IMAGE_ALLOW_PRIVATE=1 only if that host is yours`,
    };
  }
  if (/expired|gone/.test(message))
    return { hosts: policy.allowHosts, advice: 'the URL has expired or the image is gone: try a recent task (--task <id>) or --spend 1' };
  return {
    hosts: policy.allowHosts,
    advice: `this machine cannot download from ${image.host}: check its network, proxy and firewall (the worker's machine needs the same)`,
  };
}

export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || hostname.startsWith('127.');
}

export const DOCTOR_PROMPT = 'a plain white cube on a light grey background, studio light';
export const DOCTOR_STATE = 'mj-batch-doctor';
const ASKED: Mode = 'relax';

export interface PaidJob {
  check: Check;
  /** The task as last fetched, once the submit was accepted. */
  task?: MjTask;
  /** The mode asked for (none when no style carries one). */
  asked?: Mode;
  style: ResolvedModePrefixStyle;
  /** Tasks the receiver got, in order. */
  callbacks: TaskSnapshot[];
  receiver: { origin?: string; loopback: boolean; listenError?: string; rejected: number };
  /** Paid jobs this made (or may have made: an ambiguous submit counts). */
  spent: number;
  seconds: number;
}

export interface PaidJobOptions {
  style: ResolvedModePrefixStyle;
  server: ServerKind;
  env: NodeJS.ProcessEnv;
  deadlineMs: number;
  progress: (line: string) => void;
}

/** The worker's callback receiver, where the worker would listen; it only keeps what arrives. */
async function startReceiver(
  env: NodeJS.ProcessEnv,
  into: TaskSnapshot[],
): Promise<{ hook?: CallbackReceiver; receiver: PaidJob['receiver'] }> {
  const [host, port] = (env.MJ_CALLBACK_LISTEN || '127.0.0.1:0').split(/:(?=\d+$)/);
  try {
    const hook = await startCallbackReceiver({
      deliver: async (_workflowId, snapshot) => void into.push(snapshot),
      host: host || '127.0.0.1',
      port: Number(port ?? 0),
      publicUrl: env.MJ_CALLBACK_PUBLIC_URL || undefined,
      secret: env.MJ_CALLBACK_SECRET || undefined,
    });
    const origin = new URL(hook.hookUrl).origin;
    return { hook, receiver: { origin, loopback: isLoopback(new URL(origin).hostname), rejected: 0 } };
  } catch (err) {
    return { receiver: { loopback: true, rejected: 0, listenError: `cannot listen on ${host}:${port}: ${(err as Error).message}` } };
  }
}

/**
 * One cheap real job (an imagine in relax mode), with a notifyHook to the worker's own callback receiver started
 * here, polled to its end.
 */
export async function runPaidJob(client: MjClient, opts: PaidJobOptions): Promise<PaidJob> {
  const callbacks: TaskSnapshot[] = [];
  const { hook, receiver } = await startReceiver(opts.env, callbacks);
  const asked = opts.style === 'none' ? undefined : ASKED;
  const started = Date.now();
  const seconds = () => Math.round((Date.now() - started) / 100) / 10;
  const result = (check: Check, rest: Partial<PaidJob> = {}): PaidJob => ({
    check,
    asked,
    style: opts.style,
    callbacks,
    receiver,
    spent: 0,
    seconds: seconds(),
    ...rest,
  });
  try {
    const call = { mode: asked, modePrefix: opts.style };
    const where = `${modePrefix(call)}/mj/submit/imagine`;
    opts.progress(`doctor: submitting one imagine${asked ? ` in ${asked} mode` : ''} (${where}): a paid job`);
    let taskId: string;
    try {
      taskId = (
        await client.submitImagine(
          { prompt: DOCTOR_PROMPT, state: DOCTOR_STATE, notifyHook: hook ? `${hook.hookUrl}?wf=${DOCTOR_STATE}` : undefined },
          call,
        )
      ).taskId;
    } catch (err) {
      if (!(err instanceof MjApiError)) throw err;
      return result(problem('job', `the submit through ${where} failed: ${err.message}`, submitAdvice(err, opts)), {
        spent: err.kind === 'ambiguous' ? 1 : 0,
      });
    }
    const task = await pollToEnd(client, taskId, call, opts);
    // The last callbacks may trail the poll that saw the end.
    for (let i = 0; i < 30 && hook && callbacks.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const ran = `imagine ${taskId} via ${where}`;
    if (!task || !isTerminal(task)) {
      return result(
        problem('job', `${ran} did not finish within ${Math.round(opts.deadlineMs / 60_000)} min (last status ${task?.status || '""'})`),
        { task, spent: 1 },
      );
    }
    return result(
      task.status === 'SUCCESS'
        ? ok('job', `${ran}: SUCCESS after ${seconds()} s`)
        : problem('job', `${ran} ended ${task.status}: ${task.failReason || 'no reason given'}`),
      { task, spent: 1 },
    );
  } finally {
    if (hook) receiver.rejected = hook.stats.rejected;
    await hook?.close();
  }
}

function submitAdvice(err: MjApiError, opts: PaidJobOptions): string | undefined {
  if (err.kind === 'ambiguous')
    return 'the job may exist and be charged: look for a task with state "mj-batch-doctor" in the provider\'s log before trying again';
  if (err.kind === 'account') return KEY_ADVICE[err.reason];
  if (opts.server === 'gateway' && opts.style === 'plain' && err.httpStatus === 404 && err.code === undefined) {
    return (
      "the gateway forwards /relax/mj/... as it is and its upstream has no such route (a C# Plus proxy?); it cuts /mj-relax, so a row's mode cannot reach the account here: " +
      'use a token (or channel) per mode with MJ_MODE_PREFIX=none'
    );
  }
  return undefined;
}

/** Polls until the task ends or the deadline passes; transient errors are polled through. */
async function pollToEnd(
  client: MjClient,
  taskId: string,
  call: { mode?: Mode; modePrefix: ResolvedModePrefixStyle },
  opts: PaidJobOptions,
): Promise<MjTask | undefined> {
  const deadline = Date.now() + opts.deadlineMs;
  let task: MjTask | undefined;
  let shown = '';
  for (let wait = 250; Date.now() < deadline; wait = Math.min(5_000, wait * 1.5)) {
    try {
      task = await client.fetchTask(taskId, call);
    } catch (err) {
      if (!(err instanceof MjApiError) || !['retryable', 'not-found'].includes(err.kind)) throw err;
    }
    if (task) {
      const now = `${task.status || '""'} ${parseProgress(task.progress)}%`;
      if (now !== shown) opts.progress(`doctor: task ${taskId}: ${(shown = now)}`);
      if (isTerminal(task)) return task;
    }
    await new Promise((r) => setTimeout(r, Math.min(wait, Math.max(0, deadline - Date.now()))));
  }
  return task;
}

/** Check 7: did the paid job's notifyHook reach the receiver? Also the MJ_CALLBACKS to use. */
export function callbacksOf(
  job: PaidJob | undefined,
  server: ServerKind,
  env: NodeJS.ProcessEnv,
  apiIsLocal: boolean,
): { check: Check; setting: '0' | '1' } {
  const current = env.MJ_CALLBACKS === '0' ? '0' : '1';
  const name = 'callbacks';
  if (!job) return { setting: current, check: skipped(name, 'needs --spend 1') };
  if (job.receiver.listenError)
    return {
      setting: current,
      check: skipped(name, `${job.receiver.listenError}`, 'is a worker listening there? run doctor where MJ_CALLBACK_LISTEN is free'),
    };
  if (!job.task) return { setting: current, check: skipped(name, 'the job was not made') };
  if (job.callbacks.length > 0) {
    const last = job.callbacks[job.callbacks.length - 1]!;
    return {
      setting: '1',
      check: ok(
        name,
        `${job.callbacks.length} callback(s) arrived (the last: ${last.status} ${last.progress}%)`,
        server === 'gateway'
          ? "the gateway forwards notifyHook: its upstream calls the worker directly, before the gateway's own record is updated; the worker takes a callback as a wake-up and confirms through the API"
          : undefined,
      ),
    };
  }
  const off = 'set MJ_CALLBACKS=0 (or run --no-callbacks): polling alone works';
  if (job.receiver.rejected > 0) {
    return {
      setting: '0',
      check: problem(
        name,
        `${job.receiver.rejected} callback(s) arrived, but not as a task the worker can read`,
        `the API posts another shape to notifyHook: ${off}`,
      ),
    };
  }
  const why =
    server === 'gateway'
      ? `the gateway drops notifyHook (new-api: MjNotifyEnabled, off by default): ${off}; or turn notify forwarding on in the gateway`
      : job.receiver.loopback && !apiIsLocal
        ? `the API may not reach ${job.receiver.origin} on this machine: set MJ_CALLBACK_PUBLIC_URL (and MJ_CALLBACK_LISTEN) to an address it can reach, or ${off}`
        : `the API does not call notifyHook, or cannot reach ${job.receiver.origin}: ${off}`;
  return { setting: '0', check: problem(name, `no callback arrived while the job ran (${job.seconds} s)`, why) };
}

/** The mode the paid job ran in where the API (or its upstream's callback) reports it, against the one asked. */
export function modeRanCheck(job: PaidJob | undefined): Check {
  const name = 'mode-ran';
  if (!job) return skipped(name, 'needs --spend 1');
  if (!job.task) return skipped(name, 'the job was not made');
  if (!job.asked) return skipped(name, 'no mode URL style is served, so no mode was asked');
  const fromCallback = [...job.callbacks].reverse().find((c) => c.modeRan)?.modeRan;
  const ran = modeRanOf(job.task) ?? fromCallback;
  const source = modeRanOf(job.task) ? 'the API' : "the upstream's callback";
  if (!ran)
    return skipped(
      name,
      `asked ${job.asked}; the API does not report the mode a task ran in (gateways do not): check task ${job.task.id} in the provider's log`,
    );
  if (ran === job.asked) return ok(name, `asked ${job.asked}, ran ${ran} (as ${source} reports)`);
  return problem(
    name,
    `asked ${job.asked}, ran ${ran} (as ${source} reports): the mode is lost on the way`,
    `MJ_MODE_PREFIX=${job.style} does not carry the mode to the account here: try ${job.style === 'plain' ? 'mj-dash' : 'plain'} and run doctor --spend 1 again`,
  );
}
