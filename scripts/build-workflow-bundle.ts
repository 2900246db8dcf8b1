// `npm run build`'s last step: bundle the compiled workflows once, as Temporal's production sample does, so a
// worker starts without bundling and runs exactly the code the tests replayed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_FILE } from '../worker/workflow-bundle';

async function main(): Promise<void> {
  const workflowsPath = require.resolve('../workflows');
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: quiet });
  fs.mkdirSync(path.dirname(WORKFLOW_BUNDLE_FILE), { recursive: true });
  fs.writeFileSync(WORKFLOW_BUNDLE_FILE, code);
  process.stderr.write(
    `workflow bundle: ${path.relative(process.cwd(), WORKFLOW_BUNDLE_FILE)} (${Math.round(code.length / 1024)} KiB) from ${path.relative(process.cwd(), workflowsPath)}\n`,
  );
}

const noop = () => undefined;
const quiet = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
