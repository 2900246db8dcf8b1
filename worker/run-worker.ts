import type { Worker, WorkflowBundleOption } from '@temporalio/worker';
import { loadConfig, type EffectiveConfig } from '../config/config';
import { downloadPolicyFrom } from '../config/media';
import { connectClient } from '../config/temporal';
import { connectWorker } from './connection';
import { createDownloadDispatcher } from '../media/download';
import type { MediaDeps } from '../media/store-image';
import { MjClient } from '../mj-client/client';
import { createS3Client } from '../storage/s3-client';
import { signalRow, startCallbackReceiver, type CallbackReceiver } from './callback-receiver';
import { createMediaWorker, createWorker } from './worker';
import { mediaTaskQueue } from '../contracts/naming';

export interface RunningWorkers {
  workers: Worker[];
  callbacks?: CallbackReceiver;
  /** Resolves when both workers have stopped (after `shutdown()` or SIGINT/SIGTERM). */
  run(): Promise<void>;
  /** Polls until `fn` settles, then drains and stops, as Worker.runUntil does. */
  runUntil<T>(fn: () => Promise<T>): Promise<T>;
  shutdown(): void;
}

export interface WorkerStartOptions {
  taskQueue?: string;
  workflowBundle?: WorkflowBundleOption;
  /** Resolve the worker settings (MJ_CALLBACKS, MJ_BATCH_MEDIA_CONCURRENCY, ...) from this environment instead of `config`'s. */
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

/**
 * What the media activity runs with, built as the worker builds it: the S3 client, the download policy from the
 * configuration, and the dispatcher that enforces it. `close()` releases the dispatcher and client.
 */
export function createMediaDeps(config: EffectiveConfig): MediaDeps & { close(): Promise<void> } {
  const s3 = createS3Client(config.s3, { maxSockets: 64 });
  const policy = downloadPolicyFrom(config);
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
 * The orchestration worker and the media worker, wired to the configured API, S3 and (unless MJ_CALLBACKS is off) a
 * callback receiver. Credentials come from this process's configuration only; workflows never see them.
 */
export async function startWorkers(config: EffectiveConfig, opts: WorkerStartOptions = {}): Promise<RunningWorkers> {
  const taskQueue = opts.taskQueue ?? config.taskQueue;
  if (!config.mj.baseUrl || !config.mj.apiKey) {
    throw new Error('no Midjourney API configured: set MJ_BASE_URL and MJ_API_KEY, or run `mj-batch stack up` for the local simulator');
  }
  const worker = opts.env ? loadConfig(opts.env).worker : config.worker;
  const connection = await connectWorker(config.temporal);
  const { s3, policy: downloadPolicy, dispatcher } = createMediaDeps({ ...config, worker });
  const mj = new MjClient({ baseUrl: config.mj.baseUrl, apiKey: config.mj.apiKey, auth: config.mj.auth, modePrefix: config.mj.modePrefix });
  const closers: (() => Promise<unknown> | unknown)[] = [
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

/** `mj-batch worker`: runs until SIGINT/SIGTERM (the SDK's Runtime handles those and drains in-flight work). */
export async function runWorker(config: EffectiveConfig, log: (line: string) => void): Promise<void> {
  const workers = await startWorkers(config, { log });
  await workers.run();
}
