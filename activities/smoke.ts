import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SmokeInput, SmokeResult } from '../workflows/smoke';

export interface SmokeDeps {
  s3: S3Client;
  bucket: string;
}

export function createSmokeActivities({ s3, bucket }: SmokeDeps) {
  return {
    /** Writes the text to S3, reads it back and checks the bytes survived the round trip. */
    async storeSmokeObject(input: SmokeInput): Promise<SmokeResult> {
      const body = Buffer.from(input.text, 'utf8');
      const sha256 = createHash('sha256').update(body).digest('hex');
      await s3.send(new PutObjectCommand({
        Bucket: bucket, Key: input.key, Body: body, ContentType: 'text/plain; charset=utf-8', Metadata: { sha256 },
      }));
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: input.key }));
      const readBack = Buffer.from(await got.Body!.transformToByteArray());
      const readSha = createHash('sha256').update(readBack).digest('hex');
      if (readSha !== sha256) throw new Error(`S3 returned different bytes for ${input.key}: sha256 ${readSha}, expected ${sha256}`);
      return { bucket, key: input.key, bytes: body.length, sha256 };
    },
  };
}

export type SmokeActivities = ReturnType<typeof createSmokeActivities>;
