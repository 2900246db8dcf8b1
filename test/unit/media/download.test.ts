import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import {
  checkUrl,
  createDownloadDispatcher,
  DEFAULT_DOWNLOAD_POLICY,
  downloadImage,
  isPrivateAddress,
  type DownloadPolicy,
} from '../../../media/download';
import { MediaError } from '../../../media/errors';

// Real HTTP servers on 127.0.0.1 (port 0), real undici dispatchers: the code path downloads take in production.

interface TestServer {
  url: string;
  port: number;
  /** Paths requested, in order. */
  hits: string[];
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const servers: TestServer[] = [];
const dispatchers: Dispatcher[] = [];

async function serve(handler: Handler): Promise<TestServer> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const s: TestServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(s);
  return s;
}

function track<D extends Dispatcher>(d: D): D {
  dispatchers.push(d);
  return d;
}

/** Resolves every host name to 127.0.0.1 without checking it: lets a test use names (for allowHosts) on a local server. */
function nameMappingDispatcher(): Dispatcher {
  const lookup = (_host: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    if (opts?.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
    else cb(null, '127.0.0.1', 4);
  };
  return track(new Agent({ connect: { lookup } as unknown as Agent.Options['connect'] }));
}

const policy = (p: Partial<DownloadPolicy> = {}): DownloadPolicy => ({ ...DEFAULT_DOWNLOAD_POLICY, timeoutMs: 15_000, ...p });
const local = policy({ allowPrivate: true });

/** The MediaError a promise rejects with (fails the test if it resolves or rejects with anything else). */
async function mediaError(p: Promise<unknown>): Promise<MediaError> {
  const outcome = await p.then(
    (v) => ({ value: v }),
    (e: unknown) => ({ error: e }),
  );
  if (!('error' in outcome)) throw new Error(`expected a MediaError, got a result: ${String(outcome.value)}`);
  if (!(outcome.error instanceof MediaError)) throw new Error(`expected a MediaError, got ${String(outcome.error)}`);
  return outcome.error;
}

function bytesOf(n: number, seed = 7): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

let anyDispatcher: Dispatcher;
beforeAll(() => {
  anyDispatcher = track(createDownloadDispatcher(local));
});

afterAll(async () => {
  await Promise.all(dispatchers.map((d) => d.destroy()));
  await Promise.all(servers.map((s) => s.close()));
});

describe('a good download', () => {
  test('returns the exact bytes, the final URL and the content type, reporting progress up to the total', async () => {
    const body = bytesOf(200_000);
    const srv = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(body.length) });
      res.end(body);
    });
    const progress: number[] = [];
    const got = await downloadImage(`${srv.url}/img.png`, local, anyDispatcher, (n) => progress.push(n));
    expect(got.bytes.equals(body)).toBe(true);
    expect(got.url).toBe(`${srv.url}/img.png`);
    expect(got.contentType).toBe('image/png');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[progress.length - 1]).toBe(body.length);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
  });

  test('a body of exactly maxBytes is accepted, with and without Content-Length', async () => {
    const body = bytesOf(4096);
    const srv = await serve((req, res) => {
      if (req.url === '/declared') res.writeHead(200, { 'content-length': String(body.length) });
      else res.writeHead(200); // chunked
      res.end(body);
    });
    const p = policy({ allowPrivate: true, maxBytes: body.length });
    expect((await downloadImage(`${srv.url}/declared`, p, anyDispatcher)).bytes.equals(body)).toBe(true);
    expect((await downloadImage(`${srv.url}/chunked`, p, anyDispatcher)).bytes.equals(body)).toBe(true);
  });
});

describe('schemes', () => {
  test.each([
    'file:///etc/passwd',
    'ftp://127.0.0.1/img.png',
    'data:image/png;base64,iVBORw0KGgo=',
    'javascript:alert(1)',
    'gopher://example.com/',
  ])('%s is refused, non-retryable, before any connection', async (url) => {
    const err = await mediaError(downloadImage(url, local, anyDispatcher));
    expect(err).toMatchObject({ failureClass: 'download', retryable: false });
    expect(err.message).toMatch(/only http and https/);
  });

  test('a string that is not a URL is a non-retryable download error', async () => {
    const err = await mediaError(downloadImage('not a url', local, anyDispatcher));
    expect(err).toMatchObject({ failureClass: 'download', retryable: false });
  });
});

describe('private addresses (allowPrivate false)', () => {
  const strict = policy({ allowPrivate: false });
  let srv: TestServer;
  let checked: Dispatcher;
  beforeAll(async () => {
    srv = await serve((_req, res) => res.end('secret'));
    checked = track(createDownloadDispatcher(strict));
  });

  test.each([
    ['127.0.0.1', (port: number) => `http://127.0.0.1:${port}/x`],
    ['10.1.2.3', () => 'http://10.1.2.3/x'],
    ['172.16.5.4', () => 'http://172.16.5.4/x'],
    ['192.168.1.1', () => 'http://192.168.1.1/x'],
    ['169.254.169.254 (cloud metadata)', () => 'http://169.254.169.254/latest/meta-data/'],
    ['0.0.0.0', (port: number) => `http://0.0.0.0:${port}/x`],
    ['100.64.0.1 (carrier NAT)', () => 'http://100.64.0.1/x'],
    ['[::1]', () => 'http://[::1]/x'],
    ['[fe80::1]', () => 'http://[fe80::1]/x'],
    ['[fd00::1]', () => 'https://[fd00::1]/x'],
    ['[::ffff:127.0.0.1] (IPv4-mapped)', (port: number) => `http://[::ffff:127.0.0.1]:${port}/x`],
    ['2130706433 (127.0.0.1 as one number)', (port: number) => `http://2130706433:${port}/x`],
    ['0x7f.1 (127.0.0.1 in hex shorthand)', (port: number) => `http://0x7f.1:${port}/x`],
  ])('%s is refused as private, non-retryable, without a request', async (_name, make) => {
    const before = srv.hits.length;
    const err = await mediaError(downloadImage(make(srv.port), strict, checked));
    expect(err).toMatchObject({ failureClass: 'download', retryable: false });
    expect(err.message).toMatch(/private address/);
    expect(srv.hits.length).toBe(before);
  });

  test('a name resolving to loopback (localhost) is refused by the DNS-checking dispatcher, without a request', async () => {
    const before = srv.hits.length;
    // The literal check cannot see through a name: it passes checkUrl, and the dispatcher's lookup must stop it.
    expect(() => checkUrl(`http://localhost:${srv.port}/x`, strict)).not.toThrow();
    const err = await mediaError(downloadImage(`http://localhost:${srv.port}/x`, strict, checked));
    expect(err).toMatchObject({ failureClass: 'download', retryable: false });
    expect(err.message).toMatch(/localhost resolves to the private address/);
    expect(srv.hits.length).toBe(before);
  });

  test('the same name is fetched when private addresses are allowed', async () => {
    const got = await downloadImage(`http://localhost:${srv.port}/x`, local, anyDispatcher);
    expect(got.bytes.toString()).toBe('secret');
  });

  test('public literal addresses pass the pre-connection check', () => {
    for (const url of [
      'http://8.8.8.8/a.png',
      'https://93.184.216.34/a.png',
      'http://172.32.0.1/a.png',
      'http://[2606:4700::1111]/a.png',
    ]) {
      expect(checkUrl(url, strict).toString()).toBe(new URL(url).toString());
    }
  });

  test('isPrivateAddress: range edges', () => {
    expect(isPrivateAddress('172.15.255.255')).toBe(false);
    expect(isPrivateAddress('172.16.0.0')).toBe(true);
    expect(isPrivateAddress('172.31.255.255')).toBe(true);
    expect(isPrivateAddress('172.32.0.0')).toBe(false);
    expect(isPrivateAddress('100.63.255.255')).toBe(false);
    expect(isPrivateAddress('100.64.0.0')).toBe(true);
    expect(isPrivateAddress('100.127.255.255')).toBe(true);
    expect(isPrivateAddress('100.128.0.0')).toBe(false);
    expect(isPrivateAddress('8.8.8.8')).toBe(false);
    expect(isPrivateAddress('1.1.1.1')).toBe(false);
    expect(isPrivateAddress('::ffff:10.0.0.1')).toBe(true);
    expect(isPrivateAddress('::ffff:7f00:1')).toBe(true);
    expect(isPrivateAddress('::ffff:a9fe:a9fe')).toBe(true);
    expect(isPrivateAddress('fd12:3456::1')).toBe(true);
    expect(isPrivateAddress('fe80::abcd')).toBe(true);
    expect(isPrivateAddress('2001:4860:4860::8888')).toBe(false);
    expect(isPrivateAddress('example.com')).toBe(false);
  });
});

describe('allowHosts', () => {
  let srv: TestServer;
  let names: Dispatcher;
  beforeAll(async () => {
    srv = await serve((_req, res) => res.end('img'));
    names = nameMappingDispatcher();
  });

  test('an exact name is allowed; any other name is refused, non-retryable, without a request', async () => {
    const p = policy({ allowPrivate: true, allowHosts: ['cdn.example.com'] });
    expect((await downloadImage(`http://cdn.example.com:${srv.port}/a.png`, p, names)).bytes.toString()).toBe('img');
    expect((await downloadImage(`http://CDN.Example.COM:${srv.port}/a.png`, p, names)).bytes.toString()).toBe('img');
    const before = srv.hits.length;
    for (const host of ['img.cdn.example.com', 'example.com', 'cdn.example.com.evil.test', 'xcdn.example.com']) {
      const err = await mediaError(downloadImage(`http://${host}:${srv.port}/a.png`, p, names));
      expect(err).toMatchObject({ failureClass: 'download', retryable: false });
      expect(err.message).toMatch(/not in the allowed image hosts/);
    }
    expect(srv.hits.length).toBe(before);
  });

  test('`*.example.com` allows subdomains at any depth, but not the bare domain or look-alikes', async () => {
    const p = policy({ allowPrivate: true, allowHosts: ['*.example.com'] });
    for (const host of ['img.example.com', 'a.b.example.com']) {
      expect((await downloadImage(`http://${host}:${srv.port}/a.png`, p, names)).bytes.toString()).toBe('img');
    }
    const before = srv.hits.length;
    for (const host of ['example.com', 'badexample.com', 'example.com.evil.test', 'img.example.org']) {
      const err = await mediaError(downloadImage(`http://${host}:${srv.port}/a.png`, p, names));
      expect(err).toMatchObject({ failureClass: 'download', retryable: false });
    }
    expect(srv.hits.length).toBe(before);
  });

  test('an empty list allows any host', async () => {
    const p = policy({ allowPrivate: true, allowHosts: [] });
    expect((await downloadImage(`http://anything.test:${srv.port}/a.png`, p, names)).bytes.toString()).toBe('img');
  });
});

describe('maxBytes', () => {
  test('a declared Content-Length over the limit is refused, non-retryable', async () => {
    const body = bytesOf(10_000);
    const srv = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    });
    const progress: number[] = [];
    const err = await mediaError(
      downloadImage(`${srv.url}/big`, policy({ allowPrivate: true, maxBytes: body.length - 1 }), anyDispatcher, (n) => progress.push(n)),
    );
    expect(err).toMatchObject({ failureClass: 'download', retryable: false });
    expect(err.message).toContain(`image is ${body.length} bytes; the limit is ${body.length - 1}`);
    expect(progress).toEqual([]);
  });

  test('a chunked body (no Content-Length) is cut off once it passes the limit', async () => {
    const body = bytesOf(10_000);
    const srv = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' });
      for (let i = 0; i < body.length; i += 1000) res.write(body.subarray(i, i + 1000));
      res.end();
    });
    const err = await mediaError(
      downloadImage(`${srv.url}/chunked`, policy({ allowPrivate: true, maxBytes: body.length - 1 }), anyDispatcher),
    );
    expect(err).toMatchObject({ failureClass: 'download', retryable: false });
    expect(err.message).toMatch(/larger than the limit of 9999 bytes/);
  });

  test('an endless chunked body is cut off rather than read forever', async () => {
    const chunk = bytesOf(16 * 1024);
    const srv = await serve((_req, res) => {
      res.writeHead(200);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const progress: number[] = [];
    const max = 256 * 1024;
    const err = await mediaError(
      downloadImage(`${srv.url}/endless`, policy({ allowPrivate: true, maxBytes: max }), anyDispatcher, (n) => progress.push(n)),
    );
    expect(err).toMatchObject({ failureClass: 'download', retryable: false });
    expect(Math.max(...progress)).toBeLessThanOrEqual(max);
  });

  test('a body shorter than its Content-Length (connection dropped) is a retryable error', async () => {
    const srv = await serve((req, res) => {
      res.writeHead(200, { 'content-length': '10000' });
      res.write(bytesOf(4000));
      setTimeout(() => req.socket.destroy(), 20);
    });
    const err = await mediaError(downloadImage(`${srv.url}/short`, local, anyDispatcher));
    expect(err).toMatchObject({ failureClass: 'download', retryable: true });
  });
});

describe('redirects', () => {
  test('relative and absolute redirects are followed to the final bytes and URL', async () => {
    const target = await serve((_req, res) => res.end('final'));
    const srv = await serve((req, res) => {
      if (req.url === '/start') res.writeHead(302, { location: '/middle' }).end();
      else if (req.url === '/middle') res.writeHead(301, { location: `${target.url}/end.png` }).end();
      else res.writeHead(404).end();
    });
    const got = await downloadImage(`${srv.url}/start`, local, anyDispatcher);
    expect(got.bytes.toString()).toBe('final');
    expect(got.url).toBe(`${target.url}/end.png`);
    expect(srv.hits).toEqual(['/start', '/middle']);
    expect(target.hits).toEqual(['/end.png']);
  });

  test('each hop is re-checked: a redirect from an allowed host to a private address is refused without following it', async () => {
    const inner = await serve((_req, res) => res.end('internal secret'));
    const outer = await serve((req, res) => {
      const to =
        req.url === '/meta'
          ? 'http://169.254.169.254/latest/meta-data/'
          : req.url === '/v6'
            ? 'http://[::1]/x'
            : `http://127.0.0.1:${inner.port}/secret`;
      res.writeHead(302, { location: to }).end();
    });
    // A public-looking name, resolved to the local test server by the test dispatcher; private literals stay refused.
    const p = policy({ allowPrivate: false });
    const names = nameMappingDispatcher();
    for (const path of ['/loop', '/meta', '/v6']) {
      const err = await mediaError(downloadImage(`http://img.example.com:${outer.port}${path}`, p, names));
      expect(err).toMatchObject({ failureClass: 'download', retryable: false });
      expect(err.message).toMatch(/private address/);
    }
    expect(outer.hits).toEqual(['/loop', '/meta', '/v6']);
    expect(inner.hits).toEqual([]);
  });

  test('a redirect to a host outside allowHosts, or to a non-http scheme, is refused', async () => {
    const other = await serve((_req, res) => res.end('elsewhere'));
    const srv = await serve((req, res) => {
      const to = req.url === '/file' ? 'file:///etc/passwd' : `http://evil.test:${other.port}/x`;
      res.writeHead(307, { location: to }).end();
    });
    const p = policy({ allowPrivate: true, allowHosts: ['*.example.com'] });
    const names = nameMappingDispatcher();
    const off = await mediaError(downloadImage(`http://img.example.com:${srv.port}/host`, p, names));
    expect(off).toMatchObject({ failureClass: 'download', retryable: false });
    expect(off.message).toMatch(/evil\.test is not in the allowed image hosts/);
    const file = await mediaError(downloadImage(`http://img.example.com:${srv.port}/file`, p, names));
    expect(file).toMatchObject({ failureClass: 'download', retryable: false });
    expect(file.message).toMatch(/only http and https/);
    expect(other.hits).toEqual([]);
  });

  test('exactly maxRedirects hops are followed; one more is refused, non-retryable', async () => {
    // /r/<n> redirects n more times, then serves the image.
    const srv = await serve((req, res) => {
      const n = Number(/^\/r\/(\d+)$/.exec(req.url ?? '')?.[1] ?? NaN);
      if (n > 0) res.writeHead(302, { location: `/r/${n - 1}` }).end();
      else if (n === 0) res.end('landed');
      else res.writeHead(404).end();
    });
    const p = policy({ allowPrivate: true, maxRedirects: 2 });
    expect((await downloadImage(`${srv.url}/r/2`, p, anyDispatcher)).bytes.toString()).toBe('landed');
    expect(srv.hits).toEqual(['/r/2', '/r/1', '/r/0']);
    srv.hits.length = 0;
    const err = await mediaError(downloadImage(`${srv.url}/r/3`, p, anyDispatcher));
    expect(err).toMatchObject({ failureClass: 'download', retryable: false });
    expect(err.message).toMatch(/more than 2 redirects/);
    expect(srv.hits).toEqual(['/r/3', '/r/2', '/r/1']);
  });

  test('an endless redirect loop ends with the redirect error', async () => {
    const srv = await serve((_req, res) => res.writeHead(302, { location: '/again' }).end());
    const err = await mediaError(downloadImage(`${srv.url}/again`, policy({ allowPrivate: true, maxRedirects: 3 }), anyDispatcher));
    expect(err).toMatchObject({ failureClass: 'download', retryable: false });
    expect(srv.hits.length).toBe(4);
  });

  test('maxRedirects 0 refuses the first redirect', async () => {
    const srv = await serve((req, res) => (req.url === '/a' ? res.writeHead(302, { location: '/b' }).end() : res.end('b')));
    const err = await mediaError(downloadImage(`${srv.url}/a`, policy({ allowPrivate: true, maxRedirects: 0 }), anyDispatcher));
    expect(err).toMatchObject({ failureClass: 'download', retryable: false });
    expect(srv.hits).toEqual(['/a']);
  });
});

describe('HTTP status', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await serve((req, res) => {
      const status = Number(req.url?.slice(1));
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`status ${status}`);
    });
  });

  test.each([403, 404, 410, 400, 401])('%i is a final (non-retryable) download error', async (status) => {
    const err = await mediaError(downloadImage(`${srv.url}/${status}`, local, anyDispatcher));
    expect(err).toMatchObject({ failureClass: 'download', retryable: false });
    expect(err.message).toContain(`HTTP ${status}`);
  });

  test.each([403, 404, 410])('%i is explained as an expired or gone URL', async (status) => {
    expect((await mediaError(downloadImage(`${srv.url}/${status}`, local, anyDispatcher))).message).toMatch(/expired or the image is gone/);
  });

  test.each([429, 500, 502, 503, 504])('%i is a retryable download error', async (status) => {
    const err = await mediaError(downloadImage(`${srv.url}/${status}`, local, anyDispatcher));
    expect(err).toMatchObject({ failureClass: 'download', retryable: true });
    expect(err.message).toContain(`HTTP ${status}`);
  });

  test('a refused connection (nothing listening) is retryable', async () => {
    const gone = await serve(() => undefined);
    await gone.close();
    const err = await mediaError(downloadImage(`${gone.url}/x`, local, anyDispatcher));
    expect(err).toMatchObject({ failureClass: 'download', retryable: true });
  });
});

describe('timeouts', () => {
  test('a server that accepts the request but never answers times out as a retryable error', async () => {
    const srv = await serve(() => undefined);
    const err = await mediaError(downloadImage(`${srv.url}/silent`, policy({ allowPrivate: true, timeoutMs: 300 }), anyDispatcher));
    expect(err).toMatchObject({ failureClass: 'download', retryable: true });
    expect(err.message).toMatch(/no complete answer within 300 ms/);
    expect(srv.hits).toEqual(['/silent']);
  });

  test('a body that stops half way times out as a retryable error', async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write(bytesOf(1000));
    });
    const err = await mediaError(downloadImage(`${srv.url}/stalled`, policy({ allowPrivate: true, timeoutMs: 300 }), anyDispatcher));
    expect(err).toMatchObject({ failureClass: 'download', retryable: true });
    expect(err.message).toMatch(/broke off after 1000 bytes \(too slow\)/);
  });

  test("the caller's abort signal stops a download", async () => {
    const srv = await serve(() => undefined);
    const controller = new AbortController();
    const pending = mediaError(downloadImage(`${srv.url}/hang`, local, anyDispatcher, undefined, controller.signal));
    setTimeout(() => controller.abort(), 50);
    const err = await pending;
    expect(err.failureClass).toBe('download');
  });
});
