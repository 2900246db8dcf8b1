import { createHash } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { MediaError } from './errors';
import { s3StatusOf } from '../storage/objects';

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface StoredObject {
  key: string;
  sha256: string;
  bytes: number;
  /** True when an object with the same sha256 was already there, so nothing was uploaded. */
  skipped: boolean;
}

/**
 * Puts `body` at `key` unless an object with the same sha256 is already there. Buffers only: no aws-chunked
 * streaming, and a retry sends the same bytes again.
 */
export async function putIfChanged(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
  contentType: string,
  signal?: AbortSignal,
): Promise<StoredObject> {
  const digest = sha256(body);
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
    if (head.Metadata?.sha256 === digest) return { key, sha256: digest, bytes: body.length, skipped: true };
  } catch (err) {
    const status = s3StatusOf(err);
    if (status !== 404) throw storageError(`HEAD s3://${bucket}/${key}`, err);
  }
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType, Metadata: { sha256: digest } }), {
      abortSignal: signal,
    });
  } catch (err) {
    throw storageError(`PUT s3://${bucket}/${key}`, err);
  }
  return { key, sha256: digest, bytes: body.length, skipped: false };
}

/** A failed S3 call as a `storage` MediaError. */
export function storageError(what: string, err: unknown): MediaError {
  const status = s3StatusOf(err);
  // Access and bucket errors need an operator; throttling, 5xx and network trouble pass.
  const retryable = status === undefined || status === 429 || status >= 500;
  return new MediaError('storage', `${what}: ${status ? `HTTP ${status} ` : ''}${(err as Error).message}`, retryable);
}
