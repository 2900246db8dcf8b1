import * as http from 'node:http';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { connectClient } from '../../config/temporal';
import { signalRow, startCallbackReceiver, type CallbackReceiver } from '../../worker/callback-receiver';
import { smokeWorkflow } from '../fixtures/smoke/workflows';
import type { TaskSnapshot } from '../../contracts/rows';
import { stackConfig, unique } from './helpers';

// The receiver against the real Temporal dev server. No worker polls the task queue: the workflow stays open, and
// the server records every signal in its history, which is what the receiver's work is checked against.

const config = stackConfig();
let client: Client;
let receiver: CallbackReceiver;
let handle: WorkflowHandle;
const logged: string[] = [];
// Characters that need encoding in a path, so the hook URL's encoding is exercised too.
const secret = `${unique('s3cr3t')}+/=`;

interface Reply {
  status: number;
  text: string;
}

/** One request with node:http (no client-side retries or body rewriting). */
function send(url: string, opts: { method?: string; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: opts.method ?? 'POST', headers: opts.body === undefined ? {} : { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const hook = (workflowId: string | undefined, base = receiver.hookUrl) =>
  workflowId === undefined ? base : `${base}?wf=${encodeURIComponent(workflowId)}`;

/** The `taskUpdate` signals the server recorded for the workflow, decoded. */
async function taskUpdates(h: WorkflowHandle): Promise<TaskSnapshot[]> {
  const history = await h.fetchHistory();
  return (history.events ?? [])
    .map((e) => e.workflowExecutionSignaledEventAttributes)
    .filter((a): a is temporal.api.history.v1.IWorkflowExecutionSignaledEventAttributes => !!a && a.signalName === 'taskUpdate')
    .map((a) => {
      const payloads = a.input?.payloads ?? [];
      expect(payloads).toHaveLength(1);
      return defaultPayloadConverter.fromPayload<TaskSnapshot>(payloads[0]!);
    });
}

/** A finished imagine task, as midjourney-proxy (Plus) posts it to notifyHook. */
function finishedTask(id: string | number) {
  return {
    id,
    action: 'IMAGINE',
    customId: '',
    botType: 'MID_JOURNEY',
    prompt: 'a ceramic vase, studio light',
    promptEn: 'a ceramic vase, studio light',
    description: '/imagine a ceramic vase, studio light',
    state: 'row-17',
    submitTime: 1_712_345_670_000,
    startTime: 1_712_345_671_000,
    finishTime: 1_712_345_699_000,
    imageUrl: 'https://cdn.example.com/attachments/1/2/grid_0.png',
    status: 'SUCCESS',
    progress: '100%',
    failReason: null,
    buttons: [
      { customId: 'MJ::JOB::upsample::1::2f4c0e1b-6a2f-4d2a-9c77-0f5b0e6f1a11', emoji: '', label: 'U1', type: 2, style: 2 },
      { customId: 'MJ::JOB::upsample::4::2f4c0e1b-6a2f-4d2a-9c77-0f5b0e6f1a11', emoji: '', label: 'U4', type: 2, style: 2 },
      { customId: 'MJ::JOB::variation::3::2f4c0e1b-6a2f-4d2a-9c77-0f5b0e6f1a11', emoji: '', label: 'V3', type: 2, style: 2 },
      { customId: 'MJ::JOB::reroll::0::2f4c0e1b-6a2f-4d2a-9c77-0f5b0e6f1a11::SOLO', emoji: '🔄', label: '', type: 2, style: 2 },
      // A button no intent is known for is passed on without one; a link button (no customId) cannot be pressed.
      { customId: 'MJ::BOOKMARK::2f4c0e1b', emoji: '❤️', label: '', type: 2, style: 2 },
      { label: 'Web', url: 'https://www.midjourney.com/jobs/x', type: 2, style: 5 },
    ],
    properties: { finalPrompt: 'a ceramic vase, studio light --v 6.1', messageId: '123', notifyHook: 'http://x/y' },
  };
}

beforeAll(async () => {
  client = await connectClient(config.temporal);
  receiver = await startCallbackReceiver({ deliver: signalRow(client), host: '127.0.0.1', port: 0, secret, log: (l) => logged.push(l) });
  // Nothing polls this queue: the workflow stays open (bounded by its timeout should the terminate below not run).
  handle = await client.workflow.start(smokeWorkflow, {
    taskQueue: unique('no-worker'),
    workflowId: unique('callback-target'),
    workflowExecutionTimeout: '10 minutes',
    args: [{ key: 'test/never-written.txt', text: 'x' }],
  });
});

afterAll(async () => {
  await handle?.terminate('callback receiver test done').catch(() => undefined);
  await receiver?.close();
  await client?.connection.close();
});

test('hookUrl is the listen address with the secret in its path', async () => {
  const url = new URL(receiver.hookUrl);
  expect(url.protocol).toBe('http:');
  expect(url.hostname).toBe('127.0.0.1');
  expect(Number(url.port)).toBeGreaterThan(0);
  expect(url.search).toBe('');
  expect(url.pathname.startsWith('/mj/callback/')).toBe(true);
  expect(decodeURIComponent(url.pathname.slice('/mj/callback/'.length))).toBe(secret);
  expect(receiver.hookUrl).toContain(encodeURIComponent(secret));
});

test('hookUrl uses the public URL when one is given, and a random secret when none is', async () => {
  const a = await startCallbackReceiver({
    deliver: signalRow(client),
    host: '127.0.0.1',
    port: 0,
    publicUrl: 'https://hooks.example.com/base/',
  });
  const b = await startCallbackReceiver({ deliver: signalRow(client), host: '127.0.0.1', port: 0 });
  try {
    expect(a.hookUrl).toMatch(/^https:\/\/hooks\.example\.com\/base\/mj\/callback\/[^/?]{16,}$/);
    const secretOf = (u: string) => u.slice(u.lastIndexOf('/') + 1);
    expect(secretOf(a.hookUrl)).not.toBe(secretOf(b.hookUrl));
    // b's secret is not ours, nor a's.
    expect(
      (
        await send(hook(handle.workflowId, b.hookUrl.replace(secretOf(b.hookUrl), secretOf(a.hookUrl))), {
          body: JSON.stringify(finishedTask('1')),
        })
      ).status,
    ).toBe(403);
  } finally {
    await a.close();
    await b.close();
  }
});

test('a callback becomes a taskUpdate signal carrying the task snapshot', async () => {
  const before = { ...receiver.stats };
  const reply = await send(hook(handle.workflowId), { body: JSON.stringify(finishedTask('1712345678901234')) });
  expect(reply).toEqual({ status: 200, text: 'ok' });
  expect(receiver.stats.accepted).toBe(before.accepted + 1);

  const updates = await taskUpdates(handle);
  expect(updates).toHaveLength(1);
  expect(updates[0]).toEqual({
    taskId: '1712345678901234',
    status: 'SUCCESS',
    progress: 100,
    imageUrl: 'https://cdn.example.com/attachments/1/2/grid_0.png',
    finalPrompt: 'a ceramic vase, studio light --v 6.1',
    buttons: [
      { customId: 'MJ::JOB::upsample::1::2f4c0e1b-6a2f-4d2a-9c77-0f5b0e6f1a11', intent: 'U1' },
      { customId: 'MJ::JOB::upsample::4::2f4c0e1b-6a2f-4d2a-9c77-0f5b0e6f1a11', intent: 'U4' },
      { customId: 'MJ::JOB::variation::3::2f4c0e1b-6a2f-4d2a-9c77-0f5b0e6f1a11', intent: 'V3' },
      { customId: 'MJ::JOB::reroll::0::2f4c0e1b-6a2f-4d2a-9c77-0f5b0e6f1a11::SOLO', intent: 'reroll' },
      { customId: 'MJ::BOOKMARK::2f4c0e1b' },
    ],
    // From the task's submit, start and finish times: 1 s in the queue, 28 s on a slot.
    queuedMs: 1_000,
    ranMs: 28_000,
  });
  // Only the snapshot travels: nothing else of the proxy's task (nor its notifyHook) reaches the history.
  expect(Object.keys(updates[0]!).sort()).toEqual([
    'buttons',
    'finalPrompt',
    'imageUrl',
    'progress',
    'queuedMs',
    'ranMs',
    'status',
    'taskId',
  ]);
});

test('an in-progress task with a numeric id and a fractional progress is signalled too, in order', async () => {
  const inProgress = {
    id: 1712345678905555,
    action: 'UPSCALE',
    status: 'IN_PROGRESS',
    progress: '42.5%',
    imageUrl: '',
    failReason: '',
    buttons: [],
    properties: {},
  };
  expect((await send(hook(handle.workflowId), { body: JSON.stringify(inProgress) })).status).toBe(200);
  const updates = await taskUpdates(handle);
  expect(updates).toHaveLength(2);
  expect(updates[1]).toEqual({ taskId: '1712345678905555', status: 'IN_PROGRESS', progress: 42, buttons: [] });
});

test('a wrong secret is refused with 403 and signals nothing', async () => {
  const before = await taskUpdates(handle);
  const rejected = receiver.stats.rejected;
  const wrong = receiver.hookUrl.replace(/\/mj\/callback\/.*$/, `/mj/callback/${encodeURIComponent(`${secret}x`)}`);
  const prefixOnly = receiver.hookUrl.replace(/\/mj\/callback\/.*$/, `/mj/callback/${encodeURIComponent(secret.slice(0, -1))}`);
  for (const url of [wrong, prefixOnly]) {
    const reply = await send(hook(handle.workflowId, url), { body: JSON.stringify(finishedTask('999')) });
    expect(reply.status).toBe(403);
  }
  expect(receiver.stats.rejected).toBe(rejected + 2);
  const after = await taskUpdates(handle);
  expect(after).toEqual(before);
  expect(after.map((u) => u.taskId)).not.toContain('999');
});

test('requests that are not a task callback are refused and signal nothing', async () => {
  const before = (await taskUpdates(handle)).length;
  const base = new URL(receiver.hookUrl).origin;
  // No workflow id.
  expect((await send(hook(undefined), { body: JSON.stringify(finishedTask('1')) })).status).toBe(400);
  expect((await send(`${receiver.hookUrl}?wf=`, { body: JSON.stringify(finishedTask('1')) })).status).toBe(400);
  // Not a task: not JSON, no id, a list.
  for (const body of ['not json', '{"status":"SUCCESS","progress":"100%"}', '[]', '']) {
    expect([body, (await send(hook(handle.workflowId), { body })).status]).toEqual([body, 400]);
  }
  // Other methods and paths.
  expect((await send(hook(handle.workflowId), { method: 'GET' })).status).toBe(404);
  expect((await send(hook(handle.workflowId), { method: 'PUT', body: JSON.stringify(finishedTask('1')) })).status).toBe(404);
  expect((await send(`${base}/mj/callback?wf=${handle.workflowId}`, { body: JSON.stringify(finishedTask('1')) })).status).toBe(404);
  expect((await send(`${receiver.hookUrl}/extra?wf=${handle.workflowId}`, { body: JSON.stringify(finishedTask('1')) })).status).toBe(404);
  expect(await taskUpdates(handle)).toHaveLength(before);
});

test('a body over 1 MB is answered with 413 and signals nothing', async () => {
  const before = (await taskUpdates(handle)).length;
  const big = JSON.stringify({ ...finishedTask('777'), prompt: 'x'.repeat(4 * 1024 * 1024) });
  expect((await send(hook(handle.workflowId), { body: big })).status).toBe(413);
  // The receiver still works afterwards, and a task just under the limit is accepted.
  const fits = JSON.stringify({ ...finishedTask('778'), prompt: 'y'.repeat(1024 * 1024 - 4096) });
  expect(Buffer.byteLength(fits)).toBeLessThan(1024 * 1024);
  expect((await send(hook(handle.workflowId), { body: fits })).status).toBe(200);
  const updates = await taskUpdates(handle);
  expect(updates.map((u) => u.taskId).slice(before)).toEqual(['778']);
});

test('a callback for a workflow that does not exist is acknowledged as ignored and counted', async () => {
  const before = { ...receiver.stats };
  const missing = unique('no-such-workflow');
  const reply = await send(hook(missing), { body: JSON.stringify(finishedTask('555')) });
  expect(reply).toEqual({ status: 200, text: 'ignored' });
  expect(receiver.stats.signalFailed).toBe(before.signalFailed + 1);
  expect(receiver.stats.accepted).toBe(before.accepted);
  expect(logged.some((l) => l.includes(missing))).toBe(true);
});

test('a callback for a workflow that has closed is ignored too', async () => {
  const closed = await client.workflow.start(smokeWorkflow, {
    taskQueue: unique('no-worker'),
    workflowId: unique('callback-closed'),
    workflowExecutionTimeout: '10 minutes',
    args: [{ key: 'test/never.txt', text: 'x' }],
  });
  await closed.terminate('closed before its callback');
  const before = receiver.stats.signalFailed;
  const reply = await send(hook(closed.workflowId), { body: JSON.stringify(finishedTask('556')) });
  expect(reply).toEqual({ status: 200, text: 'ignored' });
  expect(receiver.stats.signalFailed).toBe(before + 1);
  expect(await taskUpdates(closed)).toEqual([]);
});
