// An in-memory stand-in for the few S3 commands the unit tests' code paths send (Put, Get, List, Delete). Only for
// logic above S3: whatever claims S3 works is tested against the real S3 server in test/integration/.
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** An in-memory S3 stand-in that counts the GETs of each key. */
export class FakeS3 {
  readonly objects = new Map<string, Buffer>();
  readonly gets = new Map<string, number>();

  async send(cmd: unknown): Promise<unknown> {
    if (cmd instanceof PutObjectCommand) {
      this.objects.set(`${cmd.input.Bucket}/${cmd.input.Key}`, Buffer.from(cmd.input.Body as Buffer));
      return {};
    }
    if (cmd instanceof GetObjectCommand) {
      const k = `${cmd.input.Bucket}/${cmd.input.Key}`;
      this.gets.set(k, (this.gets.get(k) ?? 0) + 1);
      await new Promise((r) => setImmediate(r));
      const body = this.objects.get(k);
      if (!body) throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
      return { ContentLength: body.length, Body: { transformToByteArray: async () => new Uint8Array(body) } };
    }
    if (cmd instanceof ListObjectsV2Command) {
      const prefix = `${cmd.input.Bucket}/${cmd.input.Prefix ?? ''}`;
      const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(`${cmd.input.Bucket}/`.length));
      return { Contents: keys.map((Key) => ({ Key })), IsTruncated: false };
    }
    if (cmd instanceof DeleteObjectCommand) {
      this.objects.delete(`${cmd.input.Bucket}/${cmd.input.Key}`);
      return {};
    }
    throw new Error(`unexpected command ${(cmd as object).constructor.name}`);
  }

  asClient(): S3Client {
    return this as unknown as S3Client;
  }

  getsOf(key: string, bucket = 'b'): number {
    return this.gets.get(`${bucket}/${key}`) ?? 0;
  }

  put(key: string, body: Buffer, bucket = 'b'): void {
    this.objects.set(`${bucket}/${key}`, body);
  }
}
