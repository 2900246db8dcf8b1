import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import sharp from 'sharp';
import type { Dispatcher } from 'undici';
import { toFailure } from '../../../activities/failures';
import { createDownloadDispatcher, DEFAULT_DOWNLOAD_POLICY } from '../../../media/download';
import { MediaError } from '../../../media/errors';
import { putIfChanged, sha256 } from '../../../media/store';
import { roleFileName, storeImage, type MediaDeps } from '../../../media/store-image';

// An in-memory S3 stand-in that understands the two commands putIfChanged sends, and can be told to fail.
interface FakeObject {
  body: Buffer;
  contentType?: string;
  metadata?: Record<string, string>;
}
class FakeS3 {
  readonly objects = new Map<string, FakeObject>();
  readonly calls: string[] = [];
  failHead?: unknown;
  failPut?: unknown;

  async send(cmd: unknown): Promise<unknown> {
    if (cmd instanceof HeadObjectCommand) {
      this.calls.push(`HEAD ${cmd.input.Key}`);
      if (this.failHead) throw this.failHead;
      const o = this.objects.get(`${cmd.input.Bucket}/${cmd.input.Key}`);
      if (!o) throw Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
      return { ContentLength: o.body.length, ContentType: o.contentType, Metadata: o.metadata };
    }
    if (cmd instanceof PutObjectCommand) {
      this.calls.push(`PUT ${cmd.input.Key}`);
      if (this.failPut) throw this.failPut;
      this.objects.set(`${cmd.input.Bucket}/${cmd.input.Key}`, {
        body: Buffer.from(cmd.input.Body as Buffer),
        contentType: cmd.input.ContentType,
        metadata: cmd.input.Metadata,
      });
      return {};
    }
    throw new Error(`unexpected command ${(cmd as object).constructor.name}`);
  }

  asClient(): S3Client {
    return this as unknown as S3Client;
  }
}

const httpError = (status: number) => Object.assign(new Error(`status ${status}`), { $metadata: { httpStatusCode: status } });
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function mediaError(p: Promise<unknown>): Promise<MediaError> {
  const outcome = await p.then(
    (v) => ({ value: v }),
    (e: unknown) => ({ error: e }),
  );
  if (!('error' in outcome)) throw new Error(`expected a MediaError, got a result: ${JSON.stringify(outcome.value)}`);
  if (!(outcome.error instanceof MediaError)) throw new Error(`expected a MediaError, got ${String(outcome.error)}`);
  return outcome.error;
}

describe('putIfChanged', () => {
  test('a new key is uploaded with its sha256 in the metadata', async () => {
    const s3 = new FakeS3();
    const body = Buffer.from('first version');
    const r = await putIfChanged(s3.asClient(), 'b', 'k/one.png', body, 'image/png');
    expect(r).toEqual({ key: 'k/one.png', sha256: hex(body), bytes: body.length, skipped: false });
    expect(s3.calls).toEqual(['HEAD k/one.png', 'PUT k/one.png']);
    expect(s3.objects.get('b/k/one.png')).toEqual({ body, contentType: 'image/png', metadata: { sha256: hex(body) } });
  });

  test('the same bytes again are skipped: HEAD only, no PUT', async () => {
    const s3 = new FakeS3();
    const body = Buffer.from('same');
    await putIfChanged(s3.asClient(), 'b', 'k', body, 'text/plain');
    s3.calls.length = 0;
    const r = await putIfChanged(s3.asClient(), 'b', 'k', Buffer.from(body), 'text/plain');
    expect(r).toMatchObject({ skipped: true, sha256: hex(body) });
    expect(s3.calls).toEqual(['HEAD k']);
  });

  test('different bytes, or an object without a sha256, are rewritten', async () => {
    const s3 = new FakeS3();
    await putIfChanged(s3.asClient(), 'b', 'k', Buffer.from('v1'), 'text/plain');
    const r = await putIfChanged(s3.asClient(), 'b', 'k', Buffer.from('v2'), 'text/plain');
    expect(r.skipped).toBe(false);
    expect(s3.objects.get('b/k')!.body.toString()).toBe('v2');
    s3.objects.set('b/bare', { body: Buffer.from('v2') });
    expect((await putIfChanged(s3.asClient(), 'b', 'bare', Buffer.from('v2'), 'text/plain')).skipped).toBe(false);
  });

  test.each([
    [403, false],
    [400, false],
    [429, true],
    [500, true],
    [503, true],
  ])('HEAD answering %i is a storage error (retryable: %s)', async (status, retryable) => {
    const s3 = new FakeS3();
    s3.failHead = httpError(status);
    const err = await mediaError(putIfChanged(s3.asClient(), 'b', 'k', Buffer.from('x'), 'text/plain'));
    expect(err).toMatchObject({ failureClass: 'storage', retryable });
    expect(err.message).toContain(`HEAD s3://b/k: HTTP ${status}`);
    expect(s3.calls).toEqual(['HEAD k']);
  });

  test('a PUT refused with 403 is final; a PUT failing without an HTTP status (network) is retryable', async () => {
    const s3 = new FakeS3();
    s3.failPut = httpError(403);
    expect(await mediaError(putIfChanged(s3.asClient(), 'b', 'k', Buffer.from('x'), 'text/plain'))).toMatchObject({
      failureClass: 'storage',
      retryable: false,
    });
    s3.failPut = new Error('socket hang up');
    const err = await mediaError(putIfChanged(s3.asClient(), 'b', 'k', Buffer.from('x'), 'text/plain'));
    expect(err).toMatchObject({ failureClass: 'storage', retryable: true });
    expect(err.message).toContain('socket hang up');
  });
});

describe('roleFileName', () => {
  test.each([
    ['grid', 'grid'],
    ['U1', 'U1'],
    ['U2>upscale_subtle', 'U2-upscale_subtle'],
    ['V3>zoom=2', 'V3-zoom-2'],
    ['../etc/passwd', '.._etc_passwd'],
    ['a b/c', 'a_b_c'],
  ])('%s → %s', (role, file) => {
    expect(roleFileName(role)).toBe(file);
  });

  test('never yields a path separator', () => {
    for (const role of ['a/b', 'a\\b', '/abs', 'x>/y']) expect(roleFileName(role)).not.toMatch(/[/\\]/);
  });
});

describe('storeImage (fake S3, local image server)', () => {
  let server: http.Server;
  let base: string;
  let jpeg: Buffer;
  let dispatcher: Dispatcher;
  const policy = { ...DEFAULT_DOWNLOAD_POLICY, allowPrivate: true, timeoutMs: 15_000 };

  beforeAll(async () => {
    jpeg = await sharp({
      create: { width: 1200, height: 800, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 120, sigma: 30 } },
    })
      .jpeg()
      .toBuffer();
    server = http.createServer((req, res) => {
      if (req.url?.startsWith('/gone')) return void res.writeHead(404).end();
      if (req.url?.startsWith('/text')) return void res.writeHead(200, { 'content-type': 'image/png' }).end('<html>not an image</html>');
      // A JPEG served under a .png name and a PNG content type: the bytes decide.
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(jpeg.length) }).end(jpeg);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dispatcher = createDownloadDispatcher(policy);
  });
  afterAll(async () => {
    await dispatcher.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const deps = (s3: FakeS3): MediaDeps => ({ s3: s3.asClient(), bucket: 'bkt', policy, dispatcher });
  const input = (imageUrl: string) => ({
    batchId: 'batch-1',
    rowKey: 'chair-oak',
    prefix: 'out/chairs/chair-oak',
    role: 'U2>upscale_subtle',
    taskId: '17001',
    imageUrl,
    prompt: 'an oak chair',
    parentChain: ['17000', '17001'],
  });

  test('keys follow the sniffed format and the role; the sidecar describes what was stored', async () => {
    const s3 = new FakeS3();
    const stages: string[] = [];
    const stored = await storeImage(deps(s3), input(`${base}/img.png?ex=abc&hm=def`), (stage) => stages.push(stage));
    expect(stored).toMatchObject({
      role: 'U2>upscale_subtle',
      taskId: '17001',
      key: 'out/chairs/chair-oak/U2-upscale_subtle.jpg',
      sha256: hex(jpeg),
      bytes: jpeg.length,
      width: 1200,
      height: 800,
      format: 'jpeg',
      sidecarKey: 'out/chairs/chair-oak/U2-upscale_subtle.json',
      skipped: false,
    });
    expect([...s3.objects.keys()].sort()).toEqual([
      'bkt/out/chairs/chair-oak/U2-upscale_subtle.jpg',
      'bkt/out/chairs/chair-oak/U2-upscale_subtle.json',
      'bkt/out/chairs/chair-oak/thumbs/U2-upscale_subtle-256.webp',
      'bkt/out/chairs/chair-oak/thumbs/U2-upscale_subtle-512.webp',
    ]);
    const original = s3.objects.get('bkt/out/chairs/chair-oak/U2-upscale_subtle.jpg')!;
    expect(original.body.equals(jpeg)).toBe(true);
    expect(original.contentType).toBe('image/jpeg');
    expect(stored.thumbnails.map((t) => [t.key, t.width, t.height, t.format])).toEqual([
      ['out/chairs/chair-oak/thumbs/U2-upscale_subtle-512.webp', 512, 341, 'webp'],
      ['out/chairs/chair-oak/thumbs/U2-upscale_subtle-256.webp', 256, 171, 'webp'],
    ]);
    for (const t of stored.thumbnails) {
      const o = s3.objects.get(`bkt/${t.key}`)!;
      expect(o.contentType).toBe('image/webp');
      expect(t.sha256).toBe(hex(o.body));
      expect(await sharp(o.body).metadata()).toMatchObject({ format: 'webp', width: t.width, height: t.height });
    }
    const sidecar = JSON.parse(s3.objects.get('bkt/out/chairs/chair-oak/U2-upscale_subtle.json')!.body.toString());
    expect(sidecar).toEqual({
      batchId: 'batch-1',
      rowKey: 'chair-oak',
      role: 'U2>upscale_subtle',
      prompt: 'an oak chair',
      taskId: '17001',
      parentChain: ['17000', '17001'],
      sourceUrl: `${base}/img.png`,
      original: { key: stored.key, sha256: hex(jpeg), bytes: jpeg.length, width: 1200, height: 800, format: 'jpeg' },
      thumbnails: stored.thumbnails,
    });
    expect(stages[0]).toBe('download');
    expect(stages).toContain('thumbnails');
    expect(stages[stages.length - 1]).toBe('upload');
  });

  test('a second run with the same bytes uploads nothing and says skipped', async () => {
    const s3 = new FakeS3();
    await storeImage(deps(s3), input(`${base}/img.png`));
    s3.calls.length = 0;
    const again = await storeImage(deps(s3), input(`${base}/img.png`));
    expect(again.skipped).toBe(true);
    expect(s3.calls.filter((c) => c.startsWith('PUT'))).toEqual([]);
    expect(again.sha256).toBe(sha256(jpeg));
  });

  test('a failed download or unreadable bytes upload nothing', async () => {
    const s3 = new FakeS3();
    expect(await mediaError(storeImage(deps(s3), input(`${base}/gone`)))).toMatchObject({ failureClass: 'download', retryable: false });
    expect(await mediaError(storeImage(deps(s3), input(`${base}/text`)))).toMatchObject({ failureClass: 'image', retryable: false });
    expect(s3.calls).toEqual([]);
  });

  test('a storage failure surfaces as a storage MediaError', async () => {
    const s3 = new FakeS3();
    s3.failPut = httpError(503);
    expect(await mediaError(storeImage(deps(s3), input(`${base}/img.png`)))).toMatchObject({ failureClass: 'storage', retryable: true });
  });
});

describe('toFailure', () => {
  test.each([
    ['download', false],
    ['download', true],
    ['image', false],
    ['storage', true],
    ['storage', false],
  ] as const)('MediaError %s (retryable %s) becomes an ApplicationFailure typed Media.<class>', (failureClass, retryable) => {
    const f = toFailure(new MediaError(failureClass, `boom ${failureClass}`, retryable));
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f).toMatchObject({ type: `Media.${failureClass}`, nonRetryable: !retryable, message: `boom ${failureClass}` });
  });

  test('other errors pass through unchanged', () => {
    const e = new Error('plain');
    expect(toFailure(e)).toBe(e);
  });
});
