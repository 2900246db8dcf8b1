import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/config';
import { connectClient } from '../config/temporal';
import { defaultStackDir, packageRoot } from '../stack/paths';
import { stackUp } from '../stack/stack';
import { createS3Client } from '../storage/s3-client';
import { Board } from './board';
import { accountOf } from '../client/account-slots';
import { prepareBatch, startBatch, waitForBatch } from '../client/batches';
import { exitCodeOf } from './exit-codes';
import { summaryOf } from '../client/summary';
import { printJson, printLines, progress } from './output';
import { downloadReport } from '../client/report';

export const DEMO_SIM_SPEED = 20;

/**
 * The README's first command: the stack (with the simulator at a speed that finishes the catalog in about a
 * minute), an in-process worker, the bundled 24-row catalog with live progress, and where to look afterwards.
 */
export function demoCommand(): Command {
  return new Command('demo')
    .description('bring the local stack up and run the example catalog (24 rows) end to end, with live progress')
    .option('--json', 'print one JSON object at the end (progress goes to stderr)')
    .option('--manifest <path>', 'another manifest to run instead of examples/catalog.csv')
    .option(
      '--sim-speed <factor>',
      `simulator speed when the demo starts it (default ${DEMO_SIM_SPEED})`,
      (v) => {
        const n = Number(v);
        if (!(n > 0)) throw new InvalidArgumentError('must be a positive number');
        return n;
      },
      DEMO_SIM_SPEED,
    )
    .action(async (flags: { json?: boolean; manifest?: string; simSpeed: number }) => {
      const dir = defaultStackDir();
      const endpoints = await stackUp({ dir, simSpeed: flags.simSpeed, log: progress });
      const config = loadConfig();
      if (config.mj.source === 'stack' && endpoints.simulatorUrl && (endpoints.simulatorSpeed ?? flags.simSpeed) < 5) {
        progress(
          `note: the running simulator is at speed ${endpoints.simulatorSpeed}, so the demo takes several minutes; \`mj-batch stack down\` first for a fast one`,
        );
      }
      const taskQueue = `${config.taskQueue}-demo`;
      const manifest = flags.manifest ?? path.join(packageRoot(), 'examples', 'catalog.csv');
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
      const { startWorkers } = require('../worker/run-worker') as typeof import('../worker/run-worker'); // the worker SDK, only for the demo
      const workers = await startWorkers({ ...config, taskQueue }, { taskQueue });
      const client = await connectClient(config.temporal);
      const s3 = createS3Client(config.s3);
      try {
        const summary = await workers.runUntil(async () => {
          const { input } = await prepareBatch(manifest, s3, config.s3.bucket, taskQueue, {
            batchId: `demo-${stamp}`,
            outputPrefix: `demo/${stamp}`,
            concurrency: 10,
            accountSlots: 3,
            account: accountOf(config.mj),
            submitPolicy: 'at-most-once',
            callbacks: true,
            pollMinMs: 2000,
            pollMaxMs: 10_000,
          });
          await startBatch(client, s3, config.s3.bucket, taskQueue, manifest, input, {
            account: accountOf(config.mj),
            slots: 3,
            queueAhead: 2,
          });
          progress(
            `running ${path.relative(process.cwd(), manifest) || manifest} as batch ${input.batchId} (3 slots + 2 queued ahead; simulator speed ×${endpoints.simulatorSpeed ?? '?'})`,
          );
          const board = flags.json ? new Board(process.stderr, false, 5000) : new Board(process.stdout);
          const { result, ok } = await waitForBatch(client, input.batchId, (p, stages) => board.update(p, stages), 1000, true);
          return { ...summaryOf(config, result), exitCode: exitCodeOf(result, ok), outputPrefix: input.outputPrefix };
        });
        const local = path.join(dir, 'demo', summary.batchId);
        const download = await downloadReport(s3, config.s3.bucket, summary.outputPrefix, local, false);
        const { exitCode, ...shown } = summary;
        if (flags.json) printJson({ ...shown, contactSheetFile: download.contactSheetFile });
        else {
          printLines([
            '',
            `demo batch ${summary.batchId} finished: ${summary.rows} rows, ${summary.succeeded} succeeded, ${summary.failed} failed`,
            `  contact sheet  file://${download.contactSheetFile}`,
            `                 ${summary.contactSheet}`,
            `  results        ${summary.resultsCsv}`,
            ...(summary.temporalUiUrl ? [`  Web UI         ${summary.temporalUiUrl}`] : []),
            `  next: npx mj-batch worker & npx mj-batch run examples/catalog.csv --wait   (stop the stack: npx mj-batch stack down)`,
          ]);
        }
        process.exitCode = exitCode;
      } finally {
        s3.destroy();
        await client.connection.close();
      }
    });
}
