import * as http from 'node:http';
import { createMetricsRegistry } from '../../../metrics/registry';
import { recordRowFinished, useRecorder } from '../../../metrics/record';
import { startMetricsServer, type MetricsServer } from '../../../metrics/server';
import { parseExposition, valueOf } from '../../metrics-text';

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
let servers: MetricsServer[] = [];

afterEach(async () => {
  useRecorder(undefined);
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serve(sources: (() => Promise<string>)[], port = 0): Promise<MetricsServer> {
  const server = await startMetricsServer({ host: '127.0.0.1', port, sources, contentType: CONTENT_TYPE });
  servers.push(server);
  return server;
}

test('GET /metrics answers every source, one after another, as one exposition', async () => {
  const server = await serve([async () => '# TYPE a counter\na 1', async () => '# TYPE b gauge\nb 2\n']);
  expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);
  const res = await fetch(server.url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe(CONTENT_TYPE);
  expect(await res.text()).toBe('# TYPE a counter\na 1\n# TYPE b gauge\nb 2\n');
});

test("a real registry's counters, scraped over HTTP, as the activities recorded them", async () => {
  const registry = createMetricsRegistry();
  useRecorder(registry.recorder);
  const server = await serve([() => registry.text()]);
  recordRowFinished('SUCCESS', undefined);
  recordRowFinished('FAILED', 'banned');
  let samples = parseExposition(await (await fetch(server.url)).text());
  expect(valueOf(samples, 'mj_batch_rows_finished_total', { status: 'FAILED', failure_class: 'banned' })).toBe(1);
  recordRowFinished('FAILED', 'banned');
  samples = parseExposition(await (await fetch(server.url)).text());
  expect(valueOf(samples, 'mj_batch_rows_finished_total', { status: 'FAILED' })).toBe(2);
  expect(valueOf(samples, 'mj_batch_rows_finished_total')).toBe(3);
});

test('other paths are 404, other methods 405, HEAD has no body, and a failing source is a 500', async () => {
  let fail = false;
  const server = await serve([async () => (fail ? Promise.reject(new Error('registry broke')) : 'a 1\n')]);
  const base = server.url.replace(/\/metrics$/, '');
  expect((await fetch(`${base}/`)).status).toBe(404);
  expect((await fetch(`${base}/metrics/extra`)).status).toBe(404);
  expect((await fetch(server.url, { method: 'POST' })).status).toBe(405);
  const head = await fetch(server.url, { method: 'HEAD' });
  expect(head.status).toBe(200);
  expect(await head.text()).toBe('');
  expect(await (await fetch(`${server.url}?name[]=a`)).text()).toBe('a 1\n');
  fail = true;
  const broken = await fetch(server.url);
  expect(broken.status).toBe(500);
  expect(await broken.text()).toContain('registry broke');
});

test('a port already taken is an error, and close() ends open keep-alive connections', async () => {
  const first = await serve([async () => 'a 1\n']);
  await expect(serve([async () => 'b 1\n'], first.port)).rejects.toThrow(/EADDRINUSE/);
  // A scraper that keeps its connection open must not hold the worker's shutdown.
  const agent = new http.Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    http
      .get(first.url, { agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
  await first.close();
  servers = servers.filter((s) => s !== first);
  await expect(fetch(first.url)).rejects.toThrow();
  agent.destroy();
});
