import { Command } from 'commander';
import { loadConfig } from '../config/config';
import { connectClient, connectWorker } from '../config/temporal';
import { defaultStackDir } from '../stack/paths';
import { stackUp } from '../stack/stack';
import { createS3Client } from '../storage/s3-client';
import { createWorker } from '../worker/worker';
import { smokeWorkflow } from '../workflows';
import { printJson, printLines, progress } from './output';

export function workflowUiUrl(uiUrl: string, namespace: string, workflowId: string, runId: string): string {
  return `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
}

/**
 * The README's first command. Until the batch pipeline lands it brings the stack up and runs the smoke
 * workflow (a durable timer, then an S3 write and read-back) through an in-process worker.
 */
export function demoCommand(): Command {
  return new Command('demo')
    .description('bring the local stack up and run a workflow end to end through it')
    .option('--json', 'print one JSON object with the result')
    .action(async (flags: { json?: boolean }) => {
      const endpoints = await stackUp({ dir: defaultStackDir(), log: progress });
      const config = loadConfig();
      const taskQueue = `${config.taskQueue}-demo`;
      const [client, connection] = await Promise.all([connectClient(config.temporal), connectWorker(config.temporal)]);
      const s3 = createS3Client(config.s3);
      try {
        progress('starting a worker and running the smoke workflow...');
        const worker = await createWorker({ connection, namespace: config.temporal.namespace, taskQueue, deps: { s3, bucket: config.s3.bucket } });
        const workflowId = `smoke-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        const result = await worker.runUntil(async () => {
          const handle = await client.workflow.start(smokeWorkflow, {
            taskQueue,
            workflowId,
            args: [{ key: `smoke/${workflowId}.txt`, text: `mj-batch smoke test ${workflowId}\n` }],
          });
          return { runId: handle.firstExecutionRunId, value: await handle.result() };
        });
        const ui = endpoints.temporalUiUrl ? workflowUiUrl(endpoints.temporalUiUrl, config.temporal.namespace, workflowId, result.runId) : null;
        if (flags.json) return printJson({ workflowId, runId: result.runId, temporalUiUrl: ui, object: `s3://${result.value.bucket}/${result.value.key}`, ...result.value });
        printLines([
          `smoke workflow ${workflowId} completed`,
          `  stored    s3://${result.value.bucket}/${result.value.key} (${result.value.bytes} bytes, sha256 ${result.value.sha256.slice(0, 12)}...)`,
          ...(ui ? [`  Web UI    ${ui}`] : []),
          `  stop the stack with: npx mj-batch stack down`,
        ]);
      } finally {
        s3.destroy();
        await connection.close();
        await client.connection.close();
      }
    });
}
