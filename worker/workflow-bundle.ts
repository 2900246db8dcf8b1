import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../stack/paths';

/**
 * The workflow code the worker runs: one bundle, made by `npm run build` (scripts/build-workflow-bundle.ts) from the
 * compiled workflows. Tests and the replay suite load the same file, so the bundle that was tested is the one that runs.
 */
export const WORKFLOW_BUNDLE_FILE = path.join(packageRoot(), 'dist', 'workflow-bundle.js');

export function prebuiltWorkflowBundle(): { codePath: string } {
  if (!fs.existsSync(WORKFLOW_BUNDLE_FILE)) {
    throw new Error(
      `no workflow bundle at ${WORKFLOW_BUNDLE_FILE}: run \`npm run build\` (it bundles the workflows once, ahead of the worker)`,
    );
  }
  return { codePath: WORKFLOW_BUNDLE_FILE };
}
