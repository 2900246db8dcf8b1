import { Runtime, type Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createAccountClients } from '../client/account-clients';
import { accountOf } from '../client/account-slots';
import { loadAccounts } from '../config/accounts';
import { loadConfig, type EffectiveConfig } from '../config/config';
import { downloadPolicyFrom } from '../config/media';
import { connectClient, dataConverterOf } from '../config/temporal';
import { connectWorker } from './connection';
import { createDownloadDispatcher } from '../media/download';
import type { MediaDeps } from '../media/store-image';
import { createS3Client } from '../storage/s3-client';
import { signalRow, startCallbackReceiver, type CallbackReceiver } from './callback-receiver';
import { createMediaWorker, createWorker } from './worker';
import { mediaTaskQueue } from '../contracts/naming';
import { startWorkerMetrics } from '../metrics/worker-metrics';

export interface RunningWorkers {
  workers: Worker[];
  callbacks?: CallbackReceiver;
  /** `http://host:port/metrics`, when MJ_BATCH_METRICS_LISTEN is set. */
  metricsUrl?: string;
  /** Resolves when both workers have stopped (after `shutdown()` or SIGINT/SIGTERM). */
  run(): Promise<void>;
  /** Polls until `fn` settles, then drains and stops, as Worker.runUntil does. */
  runUntil<T>(fn: () => Promise<T>): Promise<T>;
  shutdown(): void;
}

export interface WorkerStartOptions {
  taskQueue?: string;
  workflowBundle?: WorkflowBundleOption;
  /**
   * Resolve the worker settings (MJ_CALLBACKS, MJ_BATCH_MEDIA_CONCURRENCY, ...) from this environment instead of
   * `config`'s, and read the accounts' keys from it instead of process.env.
   */
  env?: NodeJS.ProcessEnv;
  /** `--accounts FILE`: wins over MJ_ACCOUNTS_FILE (`config.accountsFile`); relative to the working directory. */
  accountsFile?: string;
  log?: (line: string) => void;
}

/**
 * What the media activity runs with, built as the worker builds it: the S3 client, the download policy from the
 * configuration, and the dispatcher that enforces it. `close()` releases the dispatcher and client. Images come from
 * the APIs at `apiBaseUrls` (default the single-account setting): private addresses are allowed only if all are local.
 */
export function createMediaDeps(
  config: EffectiveConfig,
  apiBaseUrls: (string | undefined)[] = [config.mj.baseUrl],
): MediaDeps & { close(): Promise<void> } {
  const s3 = createS3Client(config.s3, { maxSockets: 64 });
  const policies = apiBaseUrls.map((baseUrl) => downloadPolicyFrom({ ...config, mj: { ...config.mj, baseUrl } }));
  const policy = { ...policies[0]!, allowPrivate: policies.every((p) => p.allowPrivate) };
  const dispatcher = createDownloadDispatcher(policy);
  return {
    s3,
    bucket: config.s3.bucket,
    policy,
    dispatcher,
    async close() {
      await dispatcher.close();
      s3.destroy();
    },
  };
}

/**
 * The orchestration worker and the media worker, wired to the configured API accounts, S3 and (unless MJ_CALLBACKS
 * is off) a callback receiver. Credentials come from this process's configuration only; workflows never see them.
 */
export async function startWorkers(config: EffectiveConfig, opts: WorkerStartOptions = {}): Promise<RunningWorkers> {
  const taskQueue = opts.taskQueue ?? config.taskQueue;
  // The accounts file, else one account from MJ_BASE_URL and MJ_API_KEY; a missing key is a ConfigError (exit 2).
  const accounts = loadAccounts({ config, file: opts.accountsFile, implicitName: accountOf(config.mj), env: opts.env });
  const worker = opts.env ? loadConfig(opts.env).worker : config.worker;
  // Before the worker's connection: the Temporal runtime's metrics exporter is fixed when the runtime is made.
  const metrics = worker.metricsListen
    ? await startWorkerMetrics({
        listen: worker.metricsListen,
        temporal: config.temporal,
        taskQueue,
        pool: Boolean(accounts.file),
        log: opts.log,
      })
    : undefined;
  const connection = await connectWorker(config.temporal).catch(async (err: unknown) => {
    await metrics?.close();
    throw err;
  });
  const apiBaseUrls = accounts.accounts.map((a) => a.spec.baseUrl);
  const { s3, policy: downloadPolicy, dispatcher } = createMediaDeps({ ...config, worker }, apiBaseUrls);
  const mj = createAccountClients(accounts, config);
  const closers: (() => Promise<unknown> | unknown)[] = [
    ...(metrics ? [() => metrics.close()] : []),
    () => mj.close(),
    () => dispatcher.close(),
    () => s3.destroy(),
    () => connection.close(),
  ];

  let callbacks: CallbackReceiver | undefined;
  if (worker.callbacks) {
    const client = await connectClient(config.temporal);
    closers.unshift(() => client.connection.close());
    callbacks = await startCallbackReceiver({
      deliver: signalRow(client),
      ...worker.callbackListen,
      publicUrl: worker.callbackPublicUrl,
      secret: worker.callbackSecret,
      log: opts.log,
    });
    closers.unshift(() => callbacks!.close());
  }

  const setup = {
    connection,
    namespace: config.temporal.namespace,
    taskQueue,
    workflowBundle: opts.workflowBundle,
    deps: { s3, bucket: config.s3.bucket, mj, downloadPolicy, dispatcher, callbackUrl: callbacks?.hookUrl },
    mediaConcurrency: worker.mediaConcurrency,
    orchestrationConcurrency: worker.activityConcurrency,
    maxCachedWorkflows: worker.maxCachedWorkflows,
    // A payload this worker cannot decrypt fails its task, which the SDK retries forever: say once, at error level, which key is missing.
    dataConverter: dataConverterOf(config.temporal, {
      onMissingKey: (keyId, error) => {
        const line = `payload codec: ${error.message}. Workflow and activity tasks that need it fail and retry until this worker has that key.`;
        Runtime.instance().logger.error(line, { component: 'codec', keyId });
        opts.log?.(`error: ${line}`);
      },
    }),
  };
  let workers: Worker[];
  try {
    workers = await Promise.all([createWorker(setup), createMediaWorker(setup)]);
  } catch (err) {
    for (const close of closers) await close();
    throw err;
  }
  opts.log?.(
    `worker polling ${taskQueue} and ${mediaTaskQueue(taskQueue)} on ${config.temporal.address} (namespace ${config.temporal.namespace})`,
  );
  const codec = config.temporal.codec;
  // Key ids only: key material never reaches a log.
  if (codec)
    opts.log?.(
      codec.currentId
        ? `payloads encrypted with codec key ${codec.currentId}${codec.ids.length > 1 ? ` (older keys decrypt: ${codec.ids.slice(1).join(', ')})` : ''}`
        : `payloads written in plain; codec keys ${codec.ids.join(', ')} decrypt older ones (MJ_BATCH_CODEC_KEY is not set)`,
    );
  if (metrics) opts.log?.(`metrics at ${metrics.url}`);
  opts.log?.(`workflow cache: up to ${worker.maxCachedWorkflows} workflows (MJ_BATCH_MAX_CACHED_WORKFLOWS)`);
  if (worker.memorySampleMs) {
    const [orchestration] = workers;
    const timer = setInterval(() => opts.log?.(memorySample(orchestration!)), worker.memorySampleMs);
    timer.unref();
    closers.unshift(() => clearInterval(timer));
  }
  // Names only: keys never reach a log.
  if (accounts.file)
    opts.log?.(
      `accounts from ${accounts.file}: ${accounts.accounts.map((a) => a.spec.name).join(', ')} (calls that name none go to ${accounts.accounts[0]!.spec.name})`,
    );
  if (callbacks)
    opts.log?.(`callback receiver listening (notifyHook ${callbacks.hookUrl.replace(/\/mj\/callback\/.*/, '/mj/callback/***')})`);

  let running: Promise<void> | undefined;
  const run = () => {
    running ??= (async () => {
      try {
        // If either worker fails, stop the other so the process does not limp on with half a pipeline.
        await Promise.all(
          workers.map((w) =>
            w.run().catch((err: unknown) => {
              for (const other of workers) if (other.getState() === 'RUNNING') other.shutdown();
              throw err;
            }),
          ),
        );
      } finally {
        for (const close of closers) await Promise.resolve(close()).catch(() => undefined);
      }
    })();
    return running;
  };
  const shutdown = () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  return {
    workers,
    callbacks,
    metricsUrl: metrics?.url,
    run,
    shutdown,
    async runUntil<T>(fn: () => Promise<T>): Promise<T> {
      const done = run();
      try {
        return await fn();
      } finally {
        shutdown();
        await done;
      }
    },
  };
}

const mib = (bytes: number) => (bytes / 1048576).toFixed(1);

/** One MJ_BATCH_MEMORY_SAMPLE_MS line: the heap figures are the main thread's; RSS also holds the workflow thread and Core. */
export function memorySample(worker: Pick<Worker, 'getStatus'>, usage = process.memoryUsage()): string {
  return (
    `memory: rssMiB=${mib(usage.rss)} heapUsedMiB=${mib(usage.heapUsed)} heapTotalMiB=${mib(usage.heapTotal)} ` +
    `externalMiB=${mib(usage.external)} arrayBuffersMiB=${mib(usage.arrayBuffers)} cachedWorkflows=${worker.getStatus().numCachedWorkflows}`
  );
}

/** `mj-batch worker`: runs until SIGINT/SIGTERM (the SDK's Runtime handles those and drains in-flight work). */
export async function runWorker(config: EffectiveConfig, log: (line: string) => void, accountsFile?: string): Promise<void> {
  const workers = await startWorkers(config, { log, accountsFile });
  await workers.run();
}
