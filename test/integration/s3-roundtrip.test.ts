import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createS3Client } from '../../storage/s3-client';
import { stackConfig, unique } from './helpers';

// The client keeps the SDK's default checksum settings (WHEN_SUPPORTED): the server must decode aws-chunked
// bodies with checksum trailers, not store the framing as content.
const config = stackConfig();
const s3 = createS3Client(config.s3);
const Bucket = config.s3.bucket;
const prefix = `${unique('s3-roundtrip')}/`;

afterAll(() => s3.destroy());

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('put, get, head and list round-trip the exact bytes and metadata', async () => {
  const body = randomBytes(300_000);
  await s3.send(
    new PutObjectCommand({
      Bucket,
      Key: `${prefix}a.bin`,
      Body: body,
      ContentType: 'application/octet-stream',
      Metadata: { sha256: sha256(body) },
    }),
  );
  await s3.send(new PutObjectCommand({ Bucket, Key: `${prefix}b.txt`, Body: 'second' }));

  const got = await s3.send(new GetObjectCommand({ Bucket, Key: `${prefix}a.bin` }));
  const bytes = await got.Body!.transformToByteArray();
  expect(bytes.length).toBe(body.length);
  expect(sha256(bytes)).toBe(sha256(body));

  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: `${prefix}a.bin` }));
  expect(head.ContentLength).toBe(body.length);
  expect(head.ContentType).toBe('application/octet-stream');
  expect(head.Metadata).toEqual({ sha256: sha256(body) });

  const listed = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: prefix }));
  expect(listed.Contents?.map((o) => [o.Key, o.Size])).toEqual([
    [`${prefix}a.bin`, body.length],
    [`${prefix}b.txt`, 6],
  ]);
});

test('a streamed PUT (aws-chunked with a checksum trailer) stores the payload, not the framing', async () => {
  const body = randomBytes(300_000);
  await s3.send(new PutObjectCommand({ Bucket, Key: `${prefix}stream.bin`, Body: Readable.from([body]), ContentLength: body.length }));
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: `${prefix}stream.bin` }));
  expect(head.ContentLength).toBe(body.length);
  const got = await s3.send(new GetObjectCommand({ Bucket, Key: `${prefix}stream.bin` }));
  expect(sha256(await got.Body!.transformToByteArray())).toBe(sha256(body));
});

test('HEAD of a missing key is a 404, and a deleted key is gone', async () => {
  await s3.send(new PutObjectCommand({ Bucket, Key: `${prefix}gone.txt`, Body: 'x' }));
  await s3.send(new DeleteObjectCommand({ Bucket, Key: `${prefix}gone.txt` }));
  const err = await s3.send(new HeadObjectCommand({ Bucket, Key: `${prefix}gone.txt` })).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(S3ServiceException);
  expect((err as S3ServiceException).$metadata.httpStatusCode).toBe(404);
});

test('a 20 MB multipart upload through lib-storage arrives whole', async () => {
  const size = 20 * 1024 * 1024;
  const body = randomBytes(size);
  // A stream body of unknown length forces lib-storage to split it into 5 MiB parts itself.
  const upload = new Upload({
    client: s3,
    params: { Bucket, Key: `${prefix}big.bin`, Body: Readable.from(chunks(body, 1 << 20)) },
    partSize: 5 * 1024 * 1024,
    queueSize: 4,
  });
  const parts: number[] = [];
  upload.on('httpUploadProgress', (p) => {
    if (p.part) parts.push(p.part);
  });
  const result = await upload.done();

  expect(new Set(parts).size).toBe(4);
  expect(result.ETag).toMatch(/-4"?$/);
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: `${prefix}big.bin` }));
  expect(head.ContentLength).toBe(size);
  const got = await s3.send(new GetObjectCommand({ Bucket, Key: `${prefix}big.bin` }));
  expect(sha256(await got.Body!.transformToByteArray())).toBe(sha256(body));
});

function* chunks(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
