import { randomUUID } from 'node:crypto';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { loadConfig } from '../../config/config';
import { prebuiltWorkflowBundle } from '../../worker/workflow-bundle';

/** The running stack's configuration, exactly as every mj-batch command resolves it (from `env`: default this process's). */
export function stackConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(env);
}

/** A name no other test (or earlier run) uses: task queues, workflow ids, S3 prefixes. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** The bundle `npm run build` made: the tests run the very code a worker runs. */
export async function workflowBundle(): Promise<{ codePath: string }> {
  return prebuiltWorkflowBundle();
}

let smoke: Promise<WorkflowBundleWithSourceMap> | undefined;

/** The smoke workflow (a test fixture, not in the product's bundle), bundled once per test file. */
export function smokeWorkflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  smoke ??= bundleWorkflowCode({ workflowsPath: require.resolve('../fixtures/smoke/workflows'), logger: quietLogger });
  return smoke;
}

const noop = () => undefined;
export const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };
