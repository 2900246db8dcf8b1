import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MjClient } from '../../../mj-client';
import { freePort } from '../../../stack/processes';
import { mjError } from './helpers';

// Real sockets on loopback: only they show where a request failed (before sending, or after).
let server: http.Server;
let base: string;
let mode: 'hang' | 'reset' | 'slow-body' = 'hang';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (mode === 'reset') req.socket.destroy();
      if (mode === 'slow-body') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"code":1,');
      }
      // 'hang': never answer
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

test('connection refused happens before sending: retryable, even for a submit', async () => {
  const client = new MjClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, apiKey: 'k' });
  expect(await mjError(client.submitImagine({ prompt: 'p' }))).toMatchObject({ kind: 'retryable', reason: 'network' });
  await client.close();
});

test('no answer after sending: a submit is ambiguous, a fetch is retryable', async () => {
  mode = 'hang';
  const client = new MjClient({ baseUrl: base, apiKey: 'k', timeoutMs: 300 });
  expect(await mjError(client.submitImagine({ prompt: 'p' }))).toMatchObject({ kind: 'ambiguous', reason: 'timeout' });
  expect(await mjError(client.fetchTask('1'))).toMatchObject({ kind: 'retryable', reason: 'timeout' });
  await client.close();
});

test('a connection reset after sending: a submit is ambiguous', async () => {
  mode = 'reset';
  const client = new MjClient({ baseUrl: base, apiKey: 'k' });
  expect(await mjError(client.submitImagine({ prompt: 'p' }))).toMatchObject({ kind: 'ambiguous', reason: 'connection-lost' });
  await client.close();
});

test('a body that stops halfway times out as ambiguous for a submit', async () => {
  mode = 'slow-body';
  const client = new MjClient({ baseUrl: base, apiKey: 'k', timeoutMs: 300 });
  expect(await mjError(client.submitImagine({ prompt: 'p' }))).toMatchObject({ kind: 'ambiguous', reason: 'timeout' });
  await client.close();
});

test("the caller's AbortSignal cancels a call", async () => {
  mode = 'hang';
  const client = new MjClient({ baseUrl: base, apiKey: 'k', timeoutMs: 10_000 });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  const started = Date.now();
  expect(await mjError(client.fetchTask('1', { signal: controller.signal }))).toMatchObject({ kind: 'cancelled', reason: 'cancelled' });
  expect(Date.now() - started).toBeLessThan(5_000);
  await client.close();
});

test('a submit cancelled after sending is ambiguous: the job may exist', async () => {
  mode = 'hang';
  const client = new MjClient({ baseUrl: base, apiKey: 'k', timeoutMs: 10_000 });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  expect(await mjError(client.submitImagine({ prompt: 'p' }, { signal: controller.signal }))).toMatchObject({
    kind: 'ambiguous',
    reason: 'cancelled',
  });
  await client.close();
});
