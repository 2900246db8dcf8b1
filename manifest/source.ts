import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3StatusOf } from '../storage/objects';

/** Manifests beyond this are refused: rows are read into memory for whole-manifest validation. */
export const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

export function parseS3Uri(uri: string): { bucket: string; key: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}

export class ManifestSourceError extends Error {}

/** The manifest's bytes and their sha256, from a local path or an s3:// URI. */
export async function readManifestBytes(ref: string, s3?: S3Client): Promise<{ bytes: Buffer; sha256: string }> {
  let bytes: Buffer;
  const s3ref = parseS3Uri(ref);
  if (s3ref) {
    if (!s3) throw new ManifestSourceError(`${ref}: an s3:// manifest needs S3 settings (S3_ENDPOINT, credentials)`);
    try {
      const res = await s3.send(new GetObjectCommand({ Bucket: s3ref.bucket, Key: s3ref.key }));
      if ((res.ContentLength ?? 0) > MAX_MANIFEST_BYTES) throw new ManifestSourceError(`${ref} is larger than ${MAX_MANIFEST_BYTES} bytes`);
      bytes = Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      if (err instanceof ManifestSourceError) throw err;
      const status = s3StatusOf(err);
      throw new ManifestSourceError(`${ref}: ${status === 404 ? 'no such object' : (err as Error).message}`);
    }
  } else {
    try {
      const stat = await fs.stat(ref);
      if (!stat.isFile()) throw new ManifestSourceError(`${ref} is not a file`);
      if (stat.size > MAX_MANIFEST_BYTES) throw new ManifestSourceError(`${ref} is larger than ${MAX_MANIFEST_BYTES} bytes`);
      bytes = await fs.readFile(ref);
    } catch (err) {
      if (err instanceof ManifestSourceError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new ManifestSourceError(`${ref}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
  }
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}
