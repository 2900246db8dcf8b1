import { NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, createMediaActivities, type ActivityDeps } from '../activities';
import { MEDIA_TASK_QUEUE_SUFFIX } from '../workflows/item';

/** What the activities need; the worker's environment provides it (credentials never enter workflows). */
export type WorkerDeps = ActivityDeps;

export interface WorkerSetup {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: WorkerDeps;
  /** A pre-built bundle (tests build one per suite); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleOption;
  /** Concurrent media activities (sharp): about one per core. */
  mediaConcurrency?: number;
  orchestrationConcurrency?: number;
}

/** Where the workflow code lives; in dist/ it is JavaScript, under jest it is the TypeScript source. */
export const WORKFLOWS_PATH = require.resolve('../workflows');

export const mediaTaskQueue = (taskQueue: string) => `${taskQueue}${MEDIA_TASK_QUEUE_SUFFIX}`;

/** The orchestration worker: workflows and light activities (API calls, manifest pages, results). */
export function createWorker(setup: WorkerSetup): Promise<Worker> {
  return Worker.create({
    connection: setup.connection,
    namespace: setup.namespace,
    taskQueue: setup.taskQueue,
    activities: createActivities(setup.deps),
    ...(setup.workflowBundle ? { workflowBundle: setup.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    maxConcurrentActivityTaskExecutions: setup.orchestrationConcurrency ?? 50,
    // Give in-flight calls time to finish on SIGTERM before activities are cancelled and retried elsewhere.
    shutdownGraceTime: '30s',
  });
}

/** The media worker, on its own task queue, so CPU-heavy thumbnails never starve orchestration. */
export function createMediaWorker(setup: WorkerSetup): Promise<Worker> {
  if (!setup.deps.downloadPolicy || !setup.deps.dispatcher) throw new Error('the media worker needs a download policy and dispatcher');
  return Worker.create({
    connection: setup.connection,
    namespace: setup.namespace,
    taskQueue: mediaTaskQueue(setup.taskQueue),
    activities: createMediaActivities({ s3: setup.deps.s3, bucket: setup.deps.bucket, policy: setup.deps.downloadPolicy, dispatcher: setup.deps.dispatcher }),
    maxConcurrentActivityTaskExecutions: setup.mediaConcurrency ?? 2,
    shutdownGraceTime: '30s',
  });
}
