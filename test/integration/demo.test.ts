import { GetObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../../storage/s3-client';
import { runCli } from './cli';
import { stackConfig } from './helpers';

test('`mj-batch demo --json` runs a workflow through the stack and says where to look', async () => {
  const run = await runCli(['demo', '--json']);
  expect(run.stderr).not.toMatch(/error/i);
  expect(run.code).toBe(0);
  const out = JSON.parse(run.stdout);
  const config = stackConfig();
  expect(out.workflowId).toMatch(/^smoke-/);
  expect(out.object).toBe(`s3://${config.s3.bucket}/smoke/${out.workflowId}.txt`);
  expect(out.temporalUiUrl).toContain(`/namespaces/default/workflows/${out.workflowId}/${out.runId}/history`);

  const s3 = createS3Client(config.s3);
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: config.s3.bucket, Key: out.key }));
    expect(await got.Body!.transformToString()).toBe(`mj-batch smoke test ${out.workflowId}\n`);
  } finally {
    s3.destroy();
  }
});
