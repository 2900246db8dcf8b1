import { randomBytes } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { parseCodecKeys } from '../../codec/keys';
import { EncryptionCodec } from '../../codec/encryption-codec';
import { startCodecServer } from '../../codec/server';
import type { TemporalSettings } from '../../config/config';
import { connectClient, connectionOptions, dataConverterOf } from '../../config/temporal';
import type { ResultLine } from '../../report/results';
import { connectWorker } from '../../worker/connection';
import { createSmokeActivities } from '../fixtures/smoke/activities';
import { smokeWorkflow } from '../fixtures/smoke/workflows';
import { prepareBatch, startBatch } from '../../client/batches';
import { startWorkers } from '../../worker/run-worker';
import { runCli } from './cli';
import { smokeWorkflowBundle, stackConfig, unique, workflowBundle } from './helpers';
import { defaultOptions, jsonl, runBatch, startPipeline, writeManifest, type Pipeline } from './pipeline-harness';

// Encrypted payloads on the real stack: workers and clients with MJ_BATCH_CODEC_KEY run a batch to the end, while
// the histories the server keeps (read here with a client that has no codec, as the Web UI or the database would
// show them) hold no prompt; the codec server turns them back into prompts for the Web UI.
const keyId = unique('it-codec');
const codecKey = `${keyId}:${randomBytes(32).toString('base64')}`;
const token = unique('codec-secret');
const ROWS = [
  { id: 'chair', prompt: `a walnut lounge chair, unreleased line ${token}`, actions: 'U1' },
  { id: 'lamp', prompt: `a brass floor lamp, unreleased line ${token}` },
];

type JsonPayload = { metadata?: Record<string, string>; data?: string };

/** Every payload in a history's JSON (proto3 JSON: metadata values and data in base64), with where it sits. */
function payloadsIn(value: unknown, path = '', found: { path: string; payload: JsonPayload }[] = []) {
  if (Array.isArray(value)) value.forEach((v, i) => payloadsIn(v, `${path}[${i}]`, found));
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (o.metadata && typeof o.metadata === 'object' && 'encoding' in (o.metadata as object))
      found.push({ path, payload: o as JsonPayload });
    else for (const [k, v] of Object.entries(o)) payloadsIn(v, `${path}.${k}`, found);
  }
  return found;
}

// Temporal never passes these through a codec: search attributes are indexed by the server, and patch markers are
// written by the SDK's core. They hold ids, counts and patch names, never row data.
const NOT_ENCODED = /\.searchAttributes\.|\.patch-data\./;

/** Where the text shows in a history read raw: as is, as base64, or inside any base64 field once decoded. */
function exposes(historyJson: string, text: string): boolean {
  const b64 = Buffer.from(text).toString('base64');
  if (historyJson.includes(text) || historyJson.includes(b64.slice(0, -4))) return true;
  return [...historyJson.matchAll(/"([A-Za-z0-9+/]{8,}={0,2})"/g)].some((m) =>
    Buffer.from(m[1]!, 'base64').toString('utf8').includes(text),
  );
}

async function rawHistoryJson(client: Client, workflowId: string): Promise<string> {
  return JSON.stringify(await client.workflow.getHandle(workflowId).fetchHistory());
}

let p: Pipeline;
let plainClient: Client;

beforeAll(async () => {
  p = await startPipeline({ speed: 50 }, { MJ_BATCH_CODEC_KEY: codecKey, MJ_BATCH_CODEC_OLD_KEYS: '' });
  // No data converter at all: exactly what the server holds.
  plainClient = new Client({
    connection: await Connection.connect(connectionOptions(p.config.temporal)),
    namespace: p.config.temporal.namespace,
  });
});
afterAll(async () => {
  await plainClient?.connection.close();
  await p?.stop();
});

test('the pipeline runs with the codec on: its client and workers hold the key', () => {
  expect(p.config.temporal.codec?.currentId).toBe(keyId);
});

describe('a batch with the codec on', () => {
  let batchId: string;
  let lines: ResultLine[];
  const histories = new Map<string, string>();

  beforeAll(async () => {
    const manifest = writeManifest('codec.jsonl', jsonl(ROWS));
    const { input, result } = await runBatch(p, manifest, defaultOptions());
    batchId = input.batchId;
    expect(result.counts).toMatchObject({ total: 2, succeeded: 2, failed: 0, unknownSubmit: 0 });
    const key = result.resultsJsonl.replace(`s3://${p.config.s3.bucket}/`, '');
    const body = await (await p.s3.send(new GetObjectCommand({ Bucket: p.config.s3.bucket, Key: key }))).Body!.transformToString();
    lines = body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ResultLine);
    for (const id of [batchId, ...lines.map((l) => `${batchId}/${l.key}`)]) histories.set(id, await rawHistoryJson(plainClient, id));
  });

  test('completes: every row SUCCESS', () => {
    expect(lines.map((l) => [l.input.id, l.status])).toEqual([
      ['chair', 'SUCCESS'],
      ['lamp', 'SUCCESS'],
    ]);
  });

  test('the batch and row histories, read raw from the server, hold no prompt: every payload is encrypted', () => {
    expect(histories.size).toBe(3);
    for (const [id, json] of histories) {
      const payloads = payloadsIn(JSON.parse(json))
        .filter((x) => !NOT_ENCODED.test(x.path))
        .map((x) => x.payload);
      expect({ id, some: payloads.length > 0 }).toEqual({ id, some: true });
      const encodings = new Set(payloads.map((x) => Buffer.from(x.metadata!.encoding!, 'base64').toString()));
      expect({ id, encodings: [...encodings] }).toEqual({ id, encodings: ['binary/encrypted'] });
      for (const row of ROWS) expect({ id, prompt: row.prompt, exposed: exposes(json, row.prompt) }).toMatchObject({ exposed: false });
      expect({ id, exposed: exposes(json, token) }).toMatchObject({ exposed: false });
    }
  });

  test('the check would see a plain prompt: a codec-off payload of the same row exposes it', () => {
    const plain = JSON.stringify({
      metadata: { encoding: 'anNvbi9wbGFpbg==' },
      data: Buffer.from(JSON.stringify(ROWS[0])).toString('base64'),
    });
    expect(exposes(plain, ROWS[0]!.prompt)).toBe(true);
  });

  test("the codec server (the Web UI's codec endpoint) decodes those payloads back to the prompts", async () => {
    const server = await startCodecServer({
      codec: new EncryptionCodec(parseCodecKeys({ current: codecKey })),
      host: '127.0.0.1',
      port: 0,
      corsOrigins: ['http://127.0.0.1:8233'],
    });
    try {
      const payloads = payloadsIn(JSON.parse(histories.get(`${batchId}/${lines[0]!.key}`)!))
        .filter((x) => !NOT_ENCODED.test(x.path))
        .map((x) => x.payload);
      const res = await fetch(`${server.url}/decode`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Namespace': p.config.temporal.namespace, Origin: 'http://127.0.0.1:8233' },
        body: JSON.stringify({ payloads }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8233');
      const decoded = ((await res.json()) as { payloads: JsonPayload[] }).payloads;
      expect(decoded).toHaveLength(payloads.length);
      const texts = decoded.map((x) => Buffer.from(x.data ?? '', 'base64').toString('utf8'));
      expect(texts.some((t) => t.includes(ROWS[0]!.prompt))).toBe(true);
      expect(decoded.every((x) => Buffer.from(x.metadata!.encoding!, 'base64').toString() !== 'binary/encrypted')).toBe(true);
    } finally {
      await server.close();
    }
  });
});

describe('a worker with the wrong key', () => {
  const config = stackConfig();
  const withKey = (current: string, old: string[] = []): TemporalSettings => ({
    ...config.temporal,
    codec: parseCodecKeys({ current, old }),
  });
  const other = `it-other:${randomBytes(32).toString('base64')}`;

  test('fails the workflow task with a message naming the missing key id and the variable, logs it once, and recovers once it has the key', async () => {
    const taskQueue = unique('codec-wrong-key');
    const workflowId = unique('codec-smoke');
    const client = await connectClient(withKey(codecKey));
    const connection = await connectWorker(config.temporal);
    const bundle = await smokeWorkflowBundle();
    const missing: string[] = [];
    const smokeWorker = (settings: TemporalSettings) =>
      Worker.create({
        connection,
        namespace: config.temporal.namespace,
        taskQueue,
        activities: createSmokeActivities({ s3: p.s3, bucket: config.s3.bucket }),
        workflowBundle: bundle,
        dataConverter: dataConverterOf(settings, { onMissingKey: (id) => missing.push(id) }),
      });
    try {
      const handle = await client.workflow.start(smokeWorkflow, {
        taskQueue,
        workflowId,
        args: [{ key: `test/${workflowId}.txt`, text: `secret text ${token}\n` }],
      });
      const wrong = await smokeWorker(withKey(other));
      const failure = await wrong.runUntil(async () => {
        for (;;) {
          const events = (await handle.fetchHistory()).events ?? [];
          const failed = events.find((e) => e.workflowTaskFailedEventAttributes);
          if (failed) return failed.workflowTaskFailedEventAttributes!.failure!;
          await new Promise((r) => setTimeout(r, 200));
        }
      });
      // What the Web UI shows for the task, and what the worker logged once.
      expect(failure.message).toContain(`is encrypted with codec key id "${keyId}", which this process does not have (it has "it-other")`);
      expect(failure.message).toContain('MJ_BATCH_CODEC_OLD_KEYS');
      expect(failure.message).not.toContain(codecKey.split(':')[1]);
      expect(missing).toEqual([keyId]);

      // Given the key, a worker picks the stuck workflow up and finishes it (its result is written under that key, which the client has).
      const fixed = await smokeWorker(withKey(codecKey, [other]));
      const result = await fixed.runUntil(handle.result());
      expect(result).toMatchObject({ key: `test/${workflowId}.txt`, bucket: config.s3.bucket });
      expect(missing).toEqual([keyId]);
    } finally {
      await connection.close();
      await client.connection.close();
    }
  });

  test('a batch whose worker lacks the key: the worker logs the missing key id once, and `mj-batch status` says why instead of timing out', async () => {
    const taskQueue = unique('codec-wrong-batch');
    const logged: string[] = [];
    const workers = await startWorkers(
      { ...p.config, temporal: { ...p.config.temporal, codec: withKey(other).codec } },
      { taskQueue, workflowBundle: await workflowBundle(), env: { ...process.env, MJ_CALLBACKS: '0' }, log: (l) => logged.push(l) },
    );
    const running = workers.run();
    try {
      const manifest = writeManifest('codec-stuck.jsonl', jsonl([{ id: 'stuck', prompt: `a cedar bench ${token}` }]));
      const { input } = await prepareBatch(manifest, p.s3, p.config.s3.bucket, taskQueue, defaultOptions());
      await startBatch(p.client, p.s3, p.config.s3.bucket, taskQueue, manifest, input);
      const handle = p.client.workflow.getHandle(input.batchId);
      while (((await handle.describe()).raw.pendingWorkflowTask?.attempt ?? 0) < 2) await new Promise((r) => setTimeout(r, 200));

      const status = await runCli(['status', input.batchId, '--json'], { env: { ...p.cliEnv, MJ_BATCH_CODEC_KEY: codecKey } });
      expect(status.code).toBe(0);
      const out = JSON.parse(status.stdout) as { status: string; failingWorkflowTask: { failures: number; message: string } };
      expect(out.status).toBe('RUNNING');
      expect(out.failingWorkflowTask.failures).toBeGreaterThanOrEqual(1);
      expect(out.failingWorkflowTask.message).toContain(`is encrypted with codec key id "${keyId}", which this process does not have`);
      expect(status.stdout + status.stderr).not.toContain(codecKey.split(':')[1]);

      const errors = logged.filter((l) => l.startsWith('error: payload codec:'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain(`codec key id "${keyId}"`);
      expect(logged.join('\n')).toContain('payloads encrypted with codec key it-other');
      await handle.terminate('codec test finished');
    } finally {
      workers.shutdown();
      await running;
    }
  });
});
