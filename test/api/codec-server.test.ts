import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { EncryptionCodec } from '../../codec/encryption-codec';
import { parseCodecKeys } from '../../codec/keys';
import { startCodecServer, type RunningCodecServer } from '../../codec/server';
import { CLI, REPO_ROOT, runCli } from '../integration/cli';

// The codec server over real HTTP, as the Web UI and `temporal --codec-endpoint` call it: proto3 JSON payloads
// (metadata values and data in base64), CORS for the UI's origin, and the optional Authorization header.
const key = `ui-test:${randomBytes(32).toString('base64')}`;
const PROMPT = 'a speckled ceramic mug, unreleased spring line';
const UI = 'http://127.0.0.1:8233';

type JsonPayload = { metadata: Record<string, string>; data?: string };
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
  ...(p.data ? { data: Buffer.from(p.data).toString('base64') } : {}),
});
const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: p.data === undefined ? undefined : Buffer.from(p.data, 'base64'),
});
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', Origin: UI, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('in process, with MJ_BATCH_CODEC_AUTH set', () => {
  let server: RunningCodecServer;
  const auth = 'Bearer codec-test-token';
  beforeAll(async () => {
    server = await startCodecServer({
      codec: new EncryptionCodec(parseCodecKeys({ current: key })),
      host: '127.0.0.1',
      port: 0,
      corsOrigins: [UI, 'http://localhost:8233'],
      auth,
    });
  });
  afterAll(() => server?.close());

  test('encode then decode gives the payloads back; the encoded ones are binary/encrypted and hide the prompt', async () => {
    const payloads = [defaultPayloadConverter.toPayload({ prompt: PROMPT })!, defaultPayloadConverter.toPayload(null)!].map(toJson);
    const enc = await post(`${server.url}/encode`, { payloads }, { Authorization: auth });
    expect(enc.status).toBe(200);
    expect(enc.headers.get('content-type')).toBe('application/json');
    expect(enc.headers.get('access-control-allow-origin')).toBe(UI);
    const encoded = (await enc.json()) as { payloads: JsonPayload[] };
    expect(encoded.payloads).toHaveLength(2);
    for (const p of encoded.payloads) {
      expect(unb64(p.metadata.encoding!)).toBe('binary/encrypted');
      expect(unb64(p.metadata['encryption-key-id']!)).toBe('ui-test');
      expect(unb64(p.data!)).not.toContain('speckled');
    }

    // Under a namespace prefix, as `temporal --codec-endpoint 'http://host/{namespace}'` calls it.
    const dec = await post(`${server.url}/default/decode`, encoded, { Authorization: auth });
    expect(dec.status).toBe(200);
    const decoded = (await dec.json()) as { payloads: JsonPayload[] };
    expect(decoded.payloads.map((p) => defaultPayloadConverter.fromPayload(fromJson(p)))).toEqual([{ prompt: PROMPT }, null]);
    expect(decoded.payloads).toEqual(payloads);
  });

  test('the preflight answers the UI origin with the methods and headers it sends, without asking for auth', async () => {
    const res = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://localhost:8233',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,x-namespace',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')!.toLowerCase().split(/,\s*/)).toEqual(
      expect.arrayContaining(['content-type', 'x-namespace', 'authorization']),
    );
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    const other = await fetch(`${server.url}/decode`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example' } });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('a request without the Authorization header, or with a wrong one, is refused with 401 (and CORS headers, so the UI can tell)', async () => {
    const body = { payloads: [] };
    const none = await post(`${server.url}/decode`, body);
    expect(none.status).toBe(401);
    expect(none.headers.get('access-control-allow-origin')).toBe(UI);
    expect(await none.json()).toEqual({ error: 'the Authorization header does not match MJ_BATCH_CODEC_AUTH' });
    expect((await post(`${server.url}/encode`, body, { Authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await post(`${server.url}/decode`, body, { Authorization: auth })).status).toBe(200);
  });

  test('bad requests get their own status: unknown path, wrong method, bad JSON, bad base64', async () => {
    const h = { Authorization: auth };
    expect((await post(`${server.url}/nope`, { payloads: [] }, h)).status).toBe(404);
    expect((await fetch(`${server.url}/decode`, { headers: h })).status).toBe(405);
    const notJson = await post(`${server.url}/decode`, 'nope', h);
    expect([notJson.status, await notJson.json()]).toEqual([400, { error: 'the body is not JSON' }]);
    expect((await post(`${server.url}/decode`, { nothing: 1 }, h)).status).toBe(400);
    const badData = await post(`${server.url}/decode`, { payloads: [{ metadata: {}, data: '!!' }] }, h);
    expect([badData.status, await badData.json()]).toEqual([400, { error: 'payloads[0].data must be a base64 string' }]);
  });

  test('a payload under a key this server lacks is a 422 naming the key id', async () => {
    const other = new EncryptionCodec(parseCodecKeys({ current: `elsewhere:${randomBytes(32).toString('base64')}` }));
    const [p] = await other.encode([defaultPayloadConverter.toPayload(PROMPT)!]);
    const res = await post(`${server.url}/decode`, { payloads: [toJson(p!)] }, { Authorization: auth });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toContain(
      'encrypted with codec key id "elsewhere", which this process does not have',
    );
  });
});

describe('`mj-batch codec-server`', () => {
  const GUARD = path.join(REPO_ROOT, 'test', 'fixtures', 'forbid-modules.js');

  test('serves with the keys from the environment, no auth, the default CORS origins, loading neither sharp nor the worker SDK', async () => {
    const child = spawn(process.execPath, ['-r', GUARD, CLI, 'codec-server', '--port', '0', '--json'], {
      env: { ...process.env, FORBID_MODULES: 'sharp,@temporalio/worker', MJ_BATCH_CODEC_KEY: key, MJ_BATCH_CODEC_AUTH: '' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    for (let i = 0; i < 200 && !out.includes('}'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(err).not.toContain('forbidden module');
    const info = JSON.parse(out) as { codecServerUrl: string; keyIds: string[]; corsOrigins: string[]; auth: boolean };
    expect(info).toMatchObject({ keyIds: ['ui-test'], currentKeyId: 'ui-test', corsOrigins: [UI, 'http://localhost:8233'], auth: false });
    expect(out + err).not.toContain(key.split(':')[1]);

    const [p] = await new EncryptionCodec(parseCodecKeys({ current: key })).encode([defaultPayloadConverter.toPayload(PROMPT)!]);
    const res = await post(`${info.codecServerUrl}/decode`, { payloads: [toJson(p!)] });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI);
    const { payloads } = (await res.json()) as { payloads: JsonPayload[] };
    expect(defaultPayloadConverter.fromPayload(fromJson(payloads[0]!))).toBe(PROMPT);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  test('without a key it stops with exit code 2 and says which variable to set; a bad key names the variable, not the key', async () => {
    const none = await runCli(['codec-server', '--port', '0'], { env: { MJ_BATCH_CODEC_KEY: '', MJ_BATCH_CODEC_OLD_KEYS: '' } });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('codec-server needs the codec keys: set MJ_BATCH_CODEC_KEY');
    const bad = await runCli(['codec-server', '--port', '0'], { env: { MJ_BATCH_CODEC_KEY: 'c2hvcnQta2V5' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('MJ_BATCH_CODEC_KEY: the key is 9 bytes, AES-256 needs 32');
    expect(bad.stderr).not.toContain('c2hvcnQta2V5');
  });
});
