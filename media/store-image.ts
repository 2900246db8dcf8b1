import { imageBaseKey, thumbnailKey } from '../contracts/bucket-layout';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Dispatcher } from 'undici';
import { downloadImage, type DownloadPolicy } from './download';
import { putIfChanged, type StoredObject } from './store';
import { DEFAULT_PIXEL_LIMIT, DEFAULT_THUMBNAILS, inspectImage, makeThumbnails } from './thumbnails';
import type { ThumbnailSpec } from '../contracts/media';
import type { StoredImage, StoredThumbnail } from '../contracts/media';

export interface MediaDeps {
  s3: S3Client;
  bucket: string;
  policy: DownloadPolicy;
  dispatcher: Dispatcher;
  pixelLimit?: number;
}

export interface StoreImageInput {
  batchId: string;
  rowKey: string;
  /** The row's folder in the bucket, e.g. `out/catalog/chairs/chair-oak`. */
  prefix: string;
  /** What the image is in the row's plan: `grid`, `U1`, `U2>upscale_subtle`. */
  role: string;
  taskId: string;
  imageUrl: string;
  prompt: string;
  /** Task ids from the row's first job to this one. */
  parentChain: string[];
  thumbnails?: ThumbnailSpec[];
}

/** `U2>upscale_subtle` → `U2-upscale_subtle`: a role as a safe file name. */
export function roleFileName(role: string): string {
  return role.replace(/[>=]/g, '-').replace(/[^A-Za-z0-9._-]/g, '_');
}

export const CONTENT_TYPES: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp', avif: 'image/avif' };

/** Every upload settled (none left running behind a failure), then the results, or the first failure in the list's order. */
export async function allStored(uploads: Promise<StoredObject>[]): Promise<StoredObject[]> {
  const settled = await Promise.allSettled(uploads);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<StoredObject>).value);
}

/** Download → check → thumbnails → upload, with deterministic keys, so a retry or a re-run rewrites nothing that is already right. */
export async function storeImage(
  deps: MediaDeps,
  input: StoreImageInput,
  progress: (stage: string, detail?: number) => void = () => undefined,
  signal?: AbortSignal,
): Promise<StoredImage> {
  const pixelLimit = deps.pixelLimit ?? DEFAULT_PIXEL_LIMIT;
  progress('download', 0);
  const { bytes } = await downloadImage(input.imageUrl, deps.policy, deps.dispatcher, (n) => progress('download', n), signal);
  const info = await inspectImage(bytes, pixelLimit);
  progress('thumbnails');
  const thumbs = await makeThumbnails(bytes, input.thumbnails ?? DEFAULT_THUMBNAILS, pixelLimit);
  const base = imageBaseKey(input.prefix, roleFileName(input.role));
  progress('upload');
  // The original and its thumbnails go up together; the sidecar, which names them all, only once every one is stored.
  const thumbKeys = thumbs.map((t) => thumbnailKey(input.prefix, roleFileName(input.role), t.spec.size, t.spec.format));
  const [original, ...puts] = await allStored([
    putIfChanged(
      deps.s3,
      deps.bucket,
      `${base}.${info.format === 'jpeg' ? 'jpg' : info.format}`,
      bytes,
      CONTENT_TYPES[info.format]!,
      signal,
    ),
    ...thumbs.map((t, i) =>
      putIfChanged(deps.s3, deps.bucket, thumbKeys[i], t.bytes, CONTENT_TYPES[t.spec.format]!, signal).then((put) => {
        progress('upload');
        return put;
      }),
    ),
  ]);
  const storedThumbs: StoredThumbnail[] = thumbs.map((t, i) => ({
    key: thumbKeys[i],
    sha256: puts[i].sha256,
    width: t.width,
    height: t.height,
    format: t.spec.format,
  }));
  const sidecar = {
    batchId: input.batchId,
    rowKey: input.rowKey,
    role: input.role,
    prompt: input.prompt,
    taskId: input.taskId,
    parentChain: input.parentChain,
    sourceUrl: input.imageUrl.replace(/\?.*$/, ''),
    original: {
      key: original.key,
      sha256: original.sha256,
      bytes: bytes.length,
      width: info.width,
      height: info.height,
      format: info.format,
    },
    thumbnails: storedThumbs,
  };
  const sidecarKey = `${base}.json`;
  await putIfChanged(deps.s3, deps.bucket, sidecarKey, Buffer.from(`${JSON.stringify(sidecar, null, 2)}\n`), 'application/json', signal);
  return {
    role: input.role,
    taskId: input.taskId,
    key: original.key,
    sha256: original.sha256,
    bytes: bytes.length,
    width: info.width,
    height: info.height,
    format: info.format,
    thumbnails: storedThumbs,
    sidecarKey,
    skipped: original.skipped,
  };
}
