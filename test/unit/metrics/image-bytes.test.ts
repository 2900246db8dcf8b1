import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { countingImageBytes } from '../../../metrics/image-bytes';
import { useRecorder } from '../../../metrics/record';
import { createMetricsRegistry } from '../../../metrics/registry';
import { byLabel, parseExposition } from '../../metrics-text';

/** Answers what S3 answers for these three commands, and counts the calls that reach it. */
class StandInS3 {
  calls = 0;
  marker = 'the client itself';
  async send(cmd: unknown): Promise<unknown> {
    this.calls++;
    if (cmd instanceof GetObjectCommand)
      return cmd.input.Key!.endsWith('.json')
        ? { ContentType: 'application/json', ContentLength: 50 }
        : { ContentType: 'image/png', ContentLength: 4096 };
    if (cmd instanceof HeadObjectCommand) return { ContentLength: 99, ContentType: 'image/png' };
    return {};
  }
}

afterEach(() => useRecorder(undefined));

async function traffic(s3: S3Client) {
  await s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'r/grid.png', Body: Buffer.alloc(1000), ContentType: 'image/png' }));
  await s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'r/thumbs/grid-512.webp', Body: new Uint8Array(300), ContentType: 'image/webp' }));
  await s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'r/grid.json', Body: Buffer.alloc(200), ContentType: 'application/json' }));
  await s3.send(new HeadObjectCommand({ Bucket: 'b', Key: 'r/grid.png' }));
  await s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'r/grid.png' }));
  await s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'r/grid.json' }));
}

test('image uploads and image reads are counted; sidecars and HEADs are not; the client is otherwise itself', async () => {
  const registry = createMetricsRegistry();
  useRecorder(registry.recorder);
  const inner = new StandInS3();
  const s3 = countingImageBytes(inner as unknown as S3Client);
  await traffic(s3);
  expect(inner.calls).toBe(6);
  expect((s3 as unknown as StandInS3).marker).toBe('the client itself');
  expect(byLabel(parseExposition(await registry.text()), 'mj_batch_media_bytes_total', 'direction')).toEqual({
    upload: 1300,
    download: 4096,
  });
});

test('with metrics off, the calls go through and nothing is counted', async () => {
  const inner = new StandInS3();
  await traffic(countingImageBytes(inner as unknown as S3Client));
  expect(inner.calls).toBe(6);
  const registry = createMetricsRegistry();
  useRecorder(registry.recorder);
  expect(byLabel(parseExposition(await registry.text()), 'mj_batch_media_bytes_total', 'direction')).toEqual({});
});
