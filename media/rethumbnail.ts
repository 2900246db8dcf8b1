// New thumbnails for an image already stored: read the original back from S3, check it is the recorded one, make
// the thumbnails from one decode, upload them, and rewrite the sidecar to name them. No download, no API call.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { thumbnailKey } from '../contracts/bucket-layout';
import type { StoredImage, StoredThumbnail, ThumbnailSpec } from '../contracts/media';
import { s3StatusOf } from '../storage/objects';
import { MediaError } from './errors';
import { putIfChanged, sha256, storageError } from './store';
import { allStored, CONTENT_TYPES } from './store-image';
import { DEFAULT_PIXEL_LIMIT, DEFAULT_THUMBNAILS, makeThumbnails } from './thumbnails';

export interface RethumbnailDeps {
  s3: S3Client;
  bucket: string;
  pixelLimit?: number;
}

export interface RethumbnailInput {
  /** The image as the row's stored result names it: its original's key and sha256, its sidecar. */
  image: StoredImage;
  /** Default 512:webp and 256:webp, as when the image was first stored. */
  thumbnails?: ThumbnailSpec[];
}

/** `<row prefix>/<file name>.json` → where the image's thumbnails go, as storeImage named them. */
function layoutOf(image: StoredImage): { rowPrefix: string; fileName: string } {
  const base = image.sidecarKey.endsWith('.json') ? image.sidecarKey.slice(0, -'.json'.length) : undefined;
  // The original is `<base>.<ext>`: a record whose keys disagree is not one storeImage wrote, so nothing is written for it.
  if (!base || !image.key.startsWith(`${base}.`))
    throw new MediaError('storage', `the stored image ${image.key} has no matching sidecar key (${image.sidecarKey})`, false);
  const slash = base.lastIndexOf('/');
  return { rowPrefix: slash < 0 ? '' : base.slice(0, slash), fileName: base.slice(slash + 1) };
}

/** The object's bytes, or null when there is none; any other failure is a `storage` error. */
async function readObject(deps: RethumbnailDeps, key: string, signal?: AbortSignal): Promise<Buffer | null> {
  try {
    const res = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key }), { abortSignal: signal });
    return Buffer.from(await res.Body!.transformToByteArray());
  } catch (err) {
    if (s3StatusOf(err) === 404) return null;
    throw storageError(`GET s3://${deps.bucket}/${key}`, err);
  }
}

/** The sidecar as it was, so fields only storeImage knew (prompt, parent chain, source URL) survive; or null. */
function parseSidecar(bytes: Buffer | null): Record<string, unknown> | null {
  if (!bytes) return null;
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Makes `input.thumbnails` for the stored original and returns the image with them. Thumbnails of other sizes from
 * before stay in the bucket, named nowhere: nothing is deleted, so a reader still holding an old link keeps working.
 * A missing original is a `storage` failure, bytes that are not the recorded ones an `image` failure (both final).
 */
export async function rethumbnailImage(
  deps: RethumbnailDeps,
  input: RethumbnailInput,
  progress: (stage: string) => void = () => undefined,
  signal?: AbortSignal,
): Promise<StoredImage> {
  const { image } = input;
  const { rowPrefix, fileName } = layoutOf(image);
  const where = `s3://${deps.bucket}/${image.key}`;
  progress('read');
  const [original, oldSidecar] = await Promise.all([readObject(deps, image.key, signal), readObject(deps, image.sidecarKey, signal)]);
  if (!original) throw new MediaError('storage', `the original ${where} is missing`, false);
  if (!image.sha256) throw new MediaError('image', `no sha256 is recorded for ${where}, so it cannot be checked`, false);
  const actual = sha256(original);
  if (actual !== image.sha256)
    throw new MediaError(
      'image',
      `the original ${where} changed since it was stored (sha256 ${actual.slice(0, 12)}, recorded ${image.sha256.slice(0, 12)})`,
      false,
    );

  progress('thumbnails');
  const thumbs = await makeThumbnails(original, input.thumbnails ?? DEFAULT_THUMBNAILS, deps.pixelLimit ?? DEFAULT_PIXEL_LIMIT);
  progress('upload');
  const keys = thumbs.map((t) => thumbnailKey(rowPrefix, fileName, t.spec.size, t.spec.format));
  const puts = await allStored(
    thumbs.map((t, i) =>
      putIfChanged(deps.s3, deps.bucket, keys[i], t.bytes, CONTENT_TYPES[t.spec.format]!, signal).then((put) => {
        progress('upload');
        return put;
      }),
    ),
  );
  const thumbnails: StoredThumbnail[] = thumbs.map((t, i) => ({
    key: keys[i],
    sha256: puts[i].sha256,
    width: t.width,
    height: t.height,
    format: t.spec.format,
  }));

  // Only once every thumbnail is stored, as storeImage does: the sidecar never names one that is not there.
  progress('sidecar');
  const sidecar = {
    ...(parseSidecar(oldSidecar) ?? {
      role: image.role,
      taskId: image.taskId,
      original: {
        key: image.key,
        sha256: image.sha256,
        bytes: image.bytes,
        width: image.width,
        height: image.height,
        format: image.format,
      },
    }),
    thumbnails,
  };
  await putIfChanged(
    deps.s3,
    deps.bucket,
    image.sidecarKey,
    Buffer.from(`${JSON.stringify(sidecar, null, 2)}\n`),
    'application/json',
    signal,
  );
  return { ...image, thumbnails, skipped: true };
}
