import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import sharp from 'sharp';
import type { Dispatcher } from 'undici';
import { toFailure } from '../../activities/failures';
import { createDownloadDispatcher, DEFAULT_DOWNLOAD_POLICY, downloadImage, type DownloadPolicy } from '../../media/download';
import { MediaError } from '../../media/errors';
import { storeImage, type MediaDeps, type StoreImageInput } from '../../media/store-image';
import { isTerminal, MjClient, type MjTask } from '../../mj-client';
import { startSimulator, type RunningSimulator } from '../../simulator/server';
import { createS3Client } from '../../storage/s3-client';
import { stackConfig, unique } from './helpers';

// The media stage end to end: real images from an in-process simulator, stored in the stack's real S3 server.

const config = stackConfig();
const Bucket = config.s3.bucket;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let s3: S3Client;
let sim: RunningSimulator;
let client: MjClient;
let dispatcher: Dispatcher;
const policy: DownloadPolicy = { ...DEFAULT_DOWNLOAD_POLICY, allowPrivate: true };
/** Every S3 command the client sends, by name: proves what was (not) written. */
const sent: { command: string; key?: string }[] = [];

beforeAll(async () => {
  s3 = createS3Client(config.s3);
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push({ command: context.commandName ?? '?', key: (args.input as { Key?: string }).Key });
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  // URLs live for an hour: only the `[sim:expired-url]` job hands out a dead one.
  sim = await startSimulator({ speed: 100, imageUrlTtlMs: 3_600_000 });
  client = new MjClient({ baseUrl: sim.url, apiKey: sim.options.apiKey, mode: 'fast' });
  dispatcher = createDownloadDispatcher(policy);
});

afterAll(async () => {
  await dispatcher?.close();
  await client?.close();
  await sim?.close();
  s3?.destroy();
});

const deps = (extra: Partial<MediaDeps> = {}): MediaDeps => ({ s3, bucket: Bucket, policy, dispatcher, ...extra });

async function untilDone(taskId: string): Promise<MjTask> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const task = await client.fetchTask(taskId);
    if (isTerminal(task)) return task;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`task ${taskId} did not finish`);
}

/** A finished imagine task with an image URL. */
async function imagine(prompt: string): Promise<MjTask> {
  const task = await untilDone((await client.submitImagine({ prompt })).taskId);
  expect(task.status).toBe('SUCCESS');
  expect(task.imageUrl).toMatch(/^http:\/\//);
  return task;
}

function inputFor(task: MjTask, prefix: string, role = 'grid'): StoreImageInput {
  return {
    batchId: 'media-it',
    rowKey: prefix.split('/').pop()!,
    prefix,
    role,
    taskId: task.id,
    imageUrl: task.imageUrl!,
    prompt: task.prompt ?? '',
    parentChain: [task.id],
  };
}

async function getObject(key: string): Promise<Buffer> {
  const got = await s3.send(new GetObjectCommand({ Bucket, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

async function listKeys(prefix: string): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: `${prefix}/` }));
  return (listed.Contents ?? []).map((o) => o.Key!).sort();
}

async function headStatus(key: string): Promise<number> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket, Key: key }));
    return 200;
  } catch (err) {
    if (err instanceof S3ServiceException) return err.$metadata.httpStatusCode ?? 0;
    throw err;
  }
}

async function mediaError(p: Promise<unknown>): Promise<MediaError> {
  const outcome = await p.then(
    (v) => ({ value: v }),
    (e: unknown) => ({ error: e }),
  );
  if (!('error' in outcome)) throw new Error(`expected a MediaError, got a result: ${JSON.stringify(outcome.value)}`);
  if (!(outcome.error instanceof MediaError)) throw new Error(`expected a MediaError, got ${String(outcome.error)}`);
  return outcome.error;
}

test('a finished imagine task: original, both default thumbnails and a sidecar, all matching the downloaded bytes', async () => {
  const task = await imagine('a ceramic mug on a wooden table, studio light');
  const prefix = `${unique('media')}/mug`;
  const expected = (await downloadImage(task.imageUrl!, policy, dispatcher)).bytes;
  const stored = await storeImage(deps(), inputFor(task, prefix));

  expect(stored).toMatchObject({
    role: 'grid',
    taskId: task.id,
    key: `${prefix}/grid.png`,
    format: 'png',
    bytes: expected.length,
    sidecarKey: `${prefix}/grid.json`,
    skipped: false,
  });
  expect(stored.sha256).toBe(sha256(expected));

  // The original: byte-identical in S3, with its sha256 recorded as metadata.
  const original = await getObject(stored.key);
  expect(sha256(original)).toBe(stored.sha256);
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: stored.key }));
  expect(head).toMatchObject({ ContentType: 'image/png', ContentLength: expected.length, Metadata: { sha256: stored.sha256 } });
  const meta = await sharp(original).metadata();
  expect([stored.width, stored.height]).toEqual([meta.width, meta.height]);

  // Thumbnails: 512 and 256 webp, fitting their boxes without enlargement.
  expect(stored.thumbnails.map((t) => t.key)).toEqual([`${prefix}/thumbs/grid-512.webp`, `${prefix}/thumbs/grid-256.webp`]);
  for (const [i, size] of [512, 256].entries()) {
    const t = stored.thumbnails[i]!;
    const bytes = await getObject(t.key);
    expect(sha256(bytes)).toBe(t.sha256);
    const m = await sharp(bytes).metadata();
    expect(m).toMatchObject({ format: 'webp', width: t.width, height: t.height });
    expect(Math.max(m.width!, m.height!)).toBe(Math.min(size, Math.max(meta.width!, meta.height!)));
    expect((await s3.send(new HeadObjectCommand({ Bucket, Key: t.key }))).ContentType).toBe('image/webp');
  }

  // The sidecar says what was stored, and where from (the signed query left out).
  const sidecar = JSON.parse((await getObject(stored.sidecarKey)).toString('utf8'));
  expect(sidecar.original).toEqual({
    key: stored.key,
    sha256: sha256(original),
    bytes: original.length,
    width: meta.width,
    height: meta.height,
    format: 'png',
  });
  expect(sidecar).toMatchObject({
    batchId: 'media-it',
    role: 'grid',
    taskId: task.id,
    parentChain: [task.id],
    prompt: task.prompt,
    sourceUrl: task.imageUrl!.split('?')[0],
  });
  expect(sidecar.sourceUrl).not.toContain('hm=');
  expect(sidecar.thumbnails).toEqual(stored.thumbnails);

  expect(await listKeys(prefix)).toEqual(
    [`${prefix}/grid.json`, `${prefix}/grid.png`, `${prefix}/thumbs/grid-256.webp`, `${prefix}/thumbs/grid-512.webp`].sort(),
  );
});

test('storing the same image again is skipped and rewrites nothing', async () => {
  const task = await imagine('a blue glass vase, soft shadows');
  const prefix = `${unique('media')}/vase`;
  const first = await storeImage(deps(), inputFor(task, prefix));
  expect(first.skipped).toBe(false);
  const keys = await listKeys(prefix);
  expect(keys).toHaveLength(4);
  const before = await Promise.all(keys.map((Key) => s3.send(new HeadObjectCommand({ Bucket, Key }))));
  // LastModified has one-second resolution: let a rewrite, if there were one, show in it.
  await new Promise((r) => setTimeout(r, 1_100));

  const mark = sent.length;
  const second = await storeImage(deps(), inputFor(task, prefix));
  const during = sent.slice(mark);
  expect(second).toEqual({ ...first, skipped: true });
  expect(during.filter((c) => c.command !== 'HeadObjectCommand')).toEqual([]);
  expect(during.map((c) => c.key).sort()).toEqual(keys);

  const after = await Promise.all(keys.map((Key) => s3.send(new HeadObjectCommand({ Bucket, Key }))));
  expect(after.map((h) => [h.ETag, h.LastModified?.toISOString()])).toEqual(before.map((h) => [h.ETag, h.LastModified?.toISOString()]));
});

test('a different image under the same role replaces the stored one', async () => {
  const prefix = `${unique('media')}/row`;
  const a = await storeImage(deps(), inputFor(await imagine('a red bicycle leaning on a wall'), prefix));
  const b = await storeImage(deps(), inputFor(await imagine('a green tractor in a wheat field'), prefix));
  expect(b.key).toBe(a.key);
  expect(b.sha256).not.toBe(a.sha256);
  expect(b.skipped).toBe(false);
  expect(sha256(await getObject(b.key))).toBe(b.sha256);
  expect(JSON.parse((await getObject(b.sidecarKey)).toString()).original.sha256).toBe(b.sha256);
});

test('an upscale (U1) of a grid is stored under its own role next to the grid', async () => {
  const grid = await imagine('a wooden chair, product photo');
  const u1Button = grid.buttons!.find((x) => x.label === 'U1')!;
  const u1 = await untilDone((await client.submitAction({ taskId: grid.id, customId: u1Button.customId })).taskId);
  expect(u1.status).toBe('SUCCESS');
  const prefix = `${unique('media')}/chair`;
  const g = await storeImage(deps(), inputFor(grid, prefix, 'grid'));
  const u = await storeImage(deps(), { ...inputFor(u1, prefix, 'U1'), parentChain: [grid.id, u1.id] });
  expect(u.key).toBe(`${prefix}/U1.png`);
  expect(u.sha256).not.toBe(g.sha256);
  expect(JSON.parse((await getObject(u.sidecarKey)).toString()).parentChain).toEqual([grid.id, u1.id]);
  expect(await listKeys(prefix)).toEqual(
    [
      `${prefix}/U1.json`,
      `${prefix}/U1.png`,
      `${prefix}/grid.json`,
      `${prefix}/grid.png`,
      `${prefix}/thumbs/U1-256.webp`,
      `${prefix}/thumbs/U1-512.webp`,
      `${prefix}/thumbs/grid-256.webp`,
      `${prefix}/thumbs/grid-512.webp`,
    ].sort(),
  );
});

describe('faulty images are refused and nothing is uploaded', () => {
  test.each([
    ['corrupt', 'a teapot [sim:corrupt]'],
    ['truncated', 'a teacup [sim:truncated]'],
    ['oversized', 'a saucer [sim:oversized]'],
  ])('%s → Media.image, non-retryable', async (_kind, prompt) => {
    const task = await imagine(prompt);
    const prefix = `${unique('media')}/bad`;
    const mark = sent.length;
    const err = await mediaError(storeImage(deps(), inputFor(task, prefix)));
    expect(err).toMatchObject({ failureClass: 'image', retryable: false });
    expect(sent.slice(mark)).toEqual([]);
    expect(await headStatus(`${prefix}/grid.png`)).toBe(404);
    expect(await listKeys(prefix)).toEqual([]);
    expect(toFailure(err)).toMatchObject({ type: 'Media.image', nonRetryable: true });
  });

  test('an oversized image is refused by a smaller pixel limit before any thumbnail is made', async () => {
    const task = await imagine('a plain grey card');
    const prefix = `${unique('media')}/limit`;
    const stages: string[] = [];
    const err = await mediaError(storeImage(deps({ pixelLimit: 100 * 100 }), inputFor(task, prefix), (s) => stages.push(s)));
    expect(err).toMatchObject({ failureClass: 'image', retryable: false });
    expect(err.message).toMatch(/over the limit of 10000/);
    expect(stages).not.toContain('thumbnails');
    expect(await listKeys(prefix)).toEqual([]);
  });

  test('an expired URL (403) is a non-retryable download error', async () => {
    const task = await imagine('a spoon on linen [sim:expired-url]');
    const prefix = `${unique('media')}/expired`;
    const err = await mediaError(storeImage(deps(), inputFor(task, prefix)));
    expect(err).toMatchObject({ failureClass: 'download', retryable: false });
    expect(err.message).toMatch(/HTTP 403/);
    expect(await listKeys(prefix)).toEqual([]);
    const failure = toFailure(err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'Media.download', nonRetryable: true });
  });

  test('an image over maxBytes is a non-retryable download error', async () => {
    const task = await imagine('a fork on slate');
    const prefix = `${unique('media')}/toobig`;
    const small = { ...policy, maxBytes: 10_000 };
    const err = await mediaError(storeImage(deps({ policy: small }), inputFor(task, prefix)));
    expect(err).toMatchObject({ failureClass: 'download', retryable: false });
    expect(await listKeys(prefix)).toEqual([]);
  });
});
