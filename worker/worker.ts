import { NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';

export interface WorkerSetup {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A pre-built bundle (tests build one per suite); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleOption;
}

/** Where the workflow code lives; in dist/ it is JavaScript, under jest it is the TypeScript source. */
export const WORKFLOWS_PATH = require.resolve('../workflows');

export function createWorker(setup: WorkerSetup): Promise<Worker> {
  return Worker.create({
    connection: setup.connection,
    namespace: setup.namespace,
    taskQueue: setup.taskQueue,
    activities: createActivities(setup.deps),
    ...(setup.workflowBundle ? { workflowBundle: setup.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    // Give in-flight uploads time to finish on SIGTERM before activities are cancelled and retried elsewhere.
    shutdownGraceTime: '30s',
  });
}
