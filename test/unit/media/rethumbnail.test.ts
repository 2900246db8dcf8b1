// rethumbnailImage over an in-memory bucket: new thumbnails from the stored original (real sharp), the sidecar
// rewritten to name them, and a lost or changed original refused with its class, writing nothing.
import { createHash } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import type { StoredImage } from '../../../contracts/media';
import { MediaError } from '../../../media/errors';
import { rethumbnailImage, type RethumbnailDeps } from '../../../media/rethumbnail';
import { FakeS3 } from '../fake-s3';

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The shared fake, plus the HEAD putIfChanged sends (an object's sha256 metadata is its bytes'), counting PUTs. */
class Bucket extends FakeS3 {
  readonly puts: string[] = [];
  failGets?: unknown;

  override async send(cmd: unknown): Promise<unknown> {
    if (cmd instanceof HeadObjectCommand) {
      const body = this.objects.get(`${cmd.input.Bucket}/${cmd.input.Key}`);
      if (!body) throw Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
      return { ContentLength: body.length, Metadata: { sha256: hex(body) } };
    }
    if (cmd instanceof PutObjectCommand) this.puts.push(cmd.input.Key!);
    if (this.failGets && !(cmd instanceof PutObjectCommand)) throw this.failGets;
    return super.send(cmd);
  }

  bytes(key: string): Buffer {
    const body = this.objects.get(`b/${key}`);
    if (!body) throw new Error(`no object ${key}`);
    return body;
  }
}

const PREFIX = 'out/chairs/chair-oak';
const ORIGINAL = `${PREFIX}/U2-upscale_subtle.png`;
const SIDECAR = `${PREFIX}/U2-upscale_subtle.json`;
const OLD_THUMB = `${PREFIX}/thumbs/U2-upscale_subtle-512.webp`;
const PROFILE = [
  { size: 300, format: 'webp' as const },
  { size: 64, format: 'png' as const },
];

let png: Buffer;
beforeAll(async () => {
  png = await sharp({
    create: { width: 600, height: 400, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 120, sigma: 30 } },
  })
    .png()
    .toBuffer();
});

/** A bucket holding what storeImage left for one image (original, an old thumbnail, the sidecar), and its record. */
function stored(): { s3: Bucket; image: StoredImage; sidecar: Record<string, unknown> } {
  const s3 = new Bucket();
  const image: StoredImage = {
    role: 'U2>upscale_subtle',
    taskId: '17001',
    key: ORIGINAL,
    sha256: hex(png),
    bytes: png.length,
    width: 600,
    height: 400,
    format: 'png',
    thumbnails: [{ key: OLD_THUMB, sha256: 'old', width: 512, height: 341, format: 'webp' }],
    sidecarKey: SIDECAR,
    skipped: false,
  };
  const sidecar = {
    batchId: 'batch-1',
    rowKey: 'chair-oak',
    role: image.role,
    prompt: 'an oak chair',
    taskId: '17001',
    parentChain: ['17000', '17001'],
    sourceUrl: 'https://cdn.test/17001.png',
    original: { key: ORIGINAL, sha256: image.sha256, bytes: png.length, width: 600, height: 400, format: 'png' },
    thumbnails: image.thumbnails,
  };
  s3.put(ORIGINAL, png);
  s3.put(OLD_THUMB, Buffer.from('old thumbnail bytes'));
  s3.put(SIDECAR, Buffer.from(JSON.stringify(sidecar)));
  return { s3, image, sidecar };
}

const deps = (s3: Bucket): RethumbnailDeps => ({ s3: s3.asClient(), bucket: 'b' });

async function mediaError(p: Promise<unknown>): Promise<MediaError> {
  const outcome = await p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a MediaError, got ${JSON.stringify(outcome.value)}`);
  if (!(outcome.error instanceof MediaError)) throw new Error(`expected a MediaError, got ${String(outcome.error)}`);
  return outcome.error;
}

test('makes the new profile from the stored original, stores it, and rewrites the sidecar to name it', async () => {
  const { s3, image, sidecar } = stored();
  const stages: string[] = [];
  const out = await rethumbnailImage(deps(s3), { image, thumbnails: PROFILE }, (stage) => stages.push(stage));

  const keys = [`${PREFIX}/thumbs/U2-upscale_subtle-300.webp`, `${PREFIX}/thumbs/U2-upscale_subtle-64.png`];
  expect(out).toEqual({
    ...image,
    skipped: true,
    thumbnails: [
      { key: keys[0], sha256: hex(s3.bytes(keys[0]!)), width: 300, height: 200, format: 'webp' },
      { key: keys[1], sha256: hex(s3.bytes(keys[1]!)), width: 64, height: 43, format: 'png' },
    ],
  });
  // Real images at the new sizes, decoded back.
  for (const [i, t] of out.thumbnails.entries()) {
    const meta = await sharp(s3.bytes(t.key)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual([PROFILE[i]!.format, t.width, t.height]);
  }
  // The sidecar keeps what only the first store knew, and names the new thumbnails only.
  expect(JSON.parse(s3.bytes(SIDECAR).toString('utf8'))).toEqual({ ...sidecar, thumbnails: out.thumbnails });
  // The original is read once and never rewritten; the old thumbnail stays where it was.
  expect(s3.getsOf(ORIGINAL)).toBe(1);
  expect(s3.puts.sort()).toEqual([...keys, SIDECAR].sort());
  expect(s3.bytes(OLD_THUMB).toString()).toBe('old thumbnail bytes');
  expect(stages[0]).toBe('read');
  expect(stages).toEqual(expect.arrayContaining(['thumbnails', 'upload', 'sidecar']));
});

test('the same profile again rewrites nothing', async () => {
  const { s3, image } = stored();
  const first = await rethumbnailImage(deps(s3), { image, thumbnails: PROFILE });
  s3.puts.length = 0;
  const again = await rethumbnailImage(deps(s3), { image: first, thumbnails: PROFILE });
  expect(again).toEqual(first);
  expect(s3.puts).toEqual([]);
});

test('without a profile, the default sizes (512 and 256 webp) are made', async () => {
  const { s3, image } = stored();
  const out = await rethumbnailImage(deps(s3), { image });
  expect(out.thumbnails.map((t) => [t.key, t.width, t.format])).toEqual([
    [`${PREFIX}/thumbs/U2-upscale_subtle-512.webp`, 512, 'webp'],
    [`${PREFIX}/thumbs/U2-upscale_subtle-256.webp`, 256, 'webp'],
  ]);
});

test('a lost sidecar is written again from the record', async () => {
  const { s3, image } = stored();
  s3.objects.delete(`b/${SIDECAR}`);
  const out = await rethumbnailImage(deps(s3), { image, thumbnails: PROFILE });
  expect(JSON.parse(s3.bytes(SIDECAR).toString('utf8'))).toEqual({
    role: image.role,
    taskId: image.taskId,
    original: { key: ORIGINAL, sha256: image.sha256, bytes: png.length, width: 600, height: 400, format: 'png' },
    thumbnails: out.thumbnails,
  });
});

test('a missing original is a final storage failure; nothing is written', async () => {
  const { s3, image } = stored();
  s3.objects.delete(`b/${ORIGINAL}`);
  const sidecarBefore = s3.bytes(SIDECAR);
  const err = await mediaError(rethumbnailImage(deps(s3), { image, thumbnails: PROFILE }));
  expect(err).toMatchObject({ failureClass: 'storage', retryable: false });
  expect(err.message).toBe(`the original s3://b/${ORIGINAL} is missing`);
  expect(s3.puts).toEqual([]);
  expect(s3.bytes(SIDECAR)).toEqual(sidecarBefore);
});

test('an original whose bytes are not the recorded ones is a final image failure; nothing is written', async () => {
  const { s3, image } = stored();
  const other = await sharp(png).flip().png().toBuffer();
  s3.put(ORIGINAL, other);
  const err = await mediaError(rethumbnailImage(deps(s3), { image, thumbnails: PROFILE }));
  expect(err).toMatchObject({ failureClass: 'image', retryable: false });
  expect(err.message).toContain(`s3://b/${ORIGINAL} changed since it was stored (sha256 ${hex(other).slice(0, 12)}`);
  expect(s3.puts).toEqual([]);
  expect(await mediaError(rethumbnailImage(deps(s3), { image: { ...image, sha256: '' } }))).toMatchObject({
    failureClass: 'image',
    message: expect.stringContaining('no sha256 is recorded'),
  });
});

test('bytes that match the record but do not decode are an image failure', async () => {
  const { s3, image } = stored();
  const truncated = png.subarray(0, Math.floor(png.length / 3));
  s3.put(ORIGINAL, truncated);
  const err = await mediaError(rethumbnailImage(deps(s3), { image: { ...image, sha256: hex(truncated) }, thumbnails: PROFILE }));
  expect(err).toMatchObject({ failureClass: 'image', retryable: false });
  expect(s3.puts).toEqual([]);
});

test.each([
  [503, true],
  [403, false],
])('S3 answering %i to the read is a storage failure (retryable: %s)', async (status, retryable) => {
  const { s3, image } = stored();
  s3.failGets = Object.assign(new Error(`status ${status}`), { $metadata: { httpStatusCode: status } });
  const err = await mediaError(rethumbnailImage(deps(s3), { image, thumbnails: PROFILE }));
  expect(err).toMatchObject({ failureClass: 'storage', retryable });
  expect(err.message).toContain(`GET s3://b/`);
  expect(err.message).toContain(`HTTP ${status}`);
});

test('a record whose original and sidecar keys disagree writes nothing', async () => {
  const { s3, image } = stored();
  const err = await mediaError(rethumbnailImage(deps(s3), { image: { ...image, sidecarKey: `${PREFIX}/elsewhere.json` } }));
  expect(err).toMatchObject({ failureClass: 'storage', retryable: false });
  expect(s3.puts).toEqual([]);
  expect(s3.getsOf(ORIGINAL)).toBe(0);
});
