import { randomUUID } from 'node:crypto';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { loadConfig } from '../../config/config';
import { WORKFLOWS_PATH } from '../../worker/worker';

/** The running stack's configuration, exactly as every mj-batch command resolves it. */
export function stackConfig() {
  return loadConfig();
}

/** A name no other test (or earlier run) uses: task queues, workflow ids, S3 prefixes. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundling workflow code takes seconds: do it once per test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  return bundle;
}

const noop = () => undefined;
export const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };
