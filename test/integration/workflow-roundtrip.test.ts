import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { connectClient, dataConverterOf } from '../../config/temporal';
import { connectWorker } from '../../worker/connection';
import { createS3Client } from '../../storage/s3-client';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createSmokeActivities } from '../fixtures/smoke/activities';
import { smokeWorkflow } from '../fixtures/smoke/workflows';
import { ALL_SEARCH_ATTRIBUTES } from '../../contracts/search-attributes';
import { smokeWorkflowBundle, stackConfig, unique } from './helpers';

const config = stackConfig();
let client: Client;
let nativeConnection: NativeConnection;
const s3 = createS3Client(config.s3);

beforeAll(async () => {
  client = await connectClient(config.temporal);
  nativeConnection = await connectWorker(config.temporal);
});

afterAll(async () => {
  await nativeConnection?.close();
  await client?.connection.close();
  s3.destroy();
});

test('a workflow runs on the real dev server: durable timer, then an activity that writes to the real S3 server', async () => {
  const taskQueue = unique('roundtrip');
  const workflowId = unique('smoke');
  const key = `test/${workflowId}.txt`;
  const text = `round trip ${workflowId}\n`;
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: config.temporal.namespace,
    taskQueue,
    activities: createSmokeActivities({ s3, bucket: config.s3.bucket }),
    workflowBundle: await smokeWorkflowBundle(),
    dataConverter: dataConverterOf(config.temporal),
  });

  const result = await worker.runUntil(client.workflow.execute(smokeWorkflow, { taskQueue, workflowId, args: [{ key, text }] }));

  const expectedSha = createHash('sha256').update(text).digest('hex');
  expect(result).toEqual({ bucket: config.s3.bucket, key, bytes: Buffer.byteLength(text), sha256: expectedSha });
  const stored = await s3.send(new GetObjectCommand({ Bucket: config.s3.bucket, Key: key }));
  expect(await stored.Body!.transformToString()).toBe(text);
  const head = await s3.send(new HeadObjectCommand({ Bucket: config.s3.bucket, Key: key }));
  expect(head.Metadata?.sha256).toBe(expectedSha);

  // The server recorded it: the history holds the fired timer, the completed activity and the completion.
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const names = history.events!.map((e) => Object.keys(e).find((k) => k.endsWith('EventAttributes')));
  expect(names).toEqual(
    expect.arrayContaining([
      'timerFiredEventAttributes',
      'activityTaskCompletedEventAttributes',
      'workflowExecutionCompletedEventAttributes',
    ]),
  );
});

test('the stack registered the search attributes the batch workflow needs', async () => {
  const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace: config.temporal.namespace });
  for (const key of ALL_SEARCH_ATTRIBUTES) expect(Object.keys(customAttributes ?? {})).toContain(key.name);
});

test('the namespace keeps closed workflows for at least 7 days', async () => {
  const ns = await client.connection.workflowService.describeNamespace({ namespace: config.temporal.namespace });
  expect(Number(ns.config!.workflowExecutionRetentionTtl!.seconds)).toBeGreaterThanOrEqual(7 * 86_400);
});
