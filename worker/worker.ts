import type { DataConverter } from '@temporalio/common';
import { Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, createMediaActivities, type ActivityDeps } from '../activities';
import { mediaTaskQueue } from '../contracts/naming';
import { prebuiltWorkflowBundle } from './workflow-bundle';

/** What the activities need; the worker's environment provides it (credentials never enter workflows). */
export type WorkerDeps = ActivityDeps;

export interface WorkerSetup {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: WorkerDeps;
  /** Default: the bundle `npm run build` made (see ./workflow-bundle). */
  workflowBundle?: WorkflowBundleOption;
  /** Concurrent media activities (sharp): about one per core. */
  mediaConcurrency?: number;
  orchestrationConcurrency?: number;
  /** Workflows kept cached (config: MJ_BATCH_MAX_CACHED_WORKFLOWS); default the SDK's, sized from the V8 heap. */
  maxCachedWorkflows?: number;
  /** The payload codec (config/temporal.ts dataConverterOf): both workers and every client must use the same keys. */
  dataConverter?: DataConverter;
}

/** The orchestration worker: workflows and light activities (API calls, manifest pages, results). */
export function createWorker(setup: WorkerSetup): Promise<Worker> {
  return Worker.create({
    connection: setup.connection,
    namespace: setup.namespace,
    taskQueue: setup.taskQueue,
    activities: createActivities(setup.deps),
    workflowBundle: setup.workflowBundle ?? prebuiltWorkflowBundle(),
    dataConverter: setup.dataConverter,
    maxConcurrentActivityTaskExecutions: setup.orchestrationConcurrency ?? 50,
    maxCachedWorkflows: setup.maxCachedWorkflows,
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
    activities: createMediaActivities({
      s3: setup.deps.s3,
      bucket: setup.deps.bucket,
      policy: setup.deps.downloadPolicy,
      dispatcher: setup.deps.dispatcher,
    }),
    dataConverter: setup.dataConverter,
    maxConcurrentActivityTaskExecutions: setup.mediaConcurrency ?? 2,
    shutdownGraceTime: '30s',
  });
}
