import sharp from 'sharp';
import { MediaError } from './errors';
import type { ThumbnailSpec } from '../contracts/media';

export const DEFAULT_THUMBNAILS: ThumbnailSpec[] = [
  { size: 512, format: 'webp' },
  { size: 256, format: 'webp' },
];
export const DEFAULT_PIXEL_LIMIT = 8192 * 8192;
const ACCEPTED = new Set(['png', 'jpeg', 'webp']);

// One libvips cache per process is wasted on images that are each read once.
sharp.cache(false);

export interface ImageInfo {
  format: 'png' | 'jpeg' | 'webp';
  width: number;
  height: number;
}

export interface Thumbnail {
  spec: ThumbnailSpec;
  bytes: Buffer;
  width: number;
  height: number;
}

/** Checks the bytes really are a PNG, JPEG or WebP within the pixel limit, whatever the server called them. */
export async function inspectImage(bytes: Buffer, pixelLimit = DEFAULT_PIXEL_LIMIT): Promise<ImageInfo> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new MediaError('image', `not a readable image: ${(err as Error).message}`, false);
  }
  if (!meta.format || !ACCEPTED.has(meta.format))
    throw new MediaError('image', `format "${meta.format ?? 'unknown'}" is not accepted (png, jpeg or webp)`, false);
  if (!meta.width || !meta.height) throw new MediaError('image', 'the image has no dimensions', false);
  if (meta.width * meta.height > pixelLimit)
    throw new MediaError('image', `${meta.width}×${meta.height} pixels is over the limit of ${pixelLimit}`, false);
  return { format: meta.format as ImageInfo['format'], width: meta.width, height: meta.height };
}

/**
 * Makes every thumbnail of the profile; a corrupt or truncated image fails here rather than yielding grey pixels.
 * The image is decoded once: it is reduced to the largest thumbnail's size, and every thumbnail is made from those
 * pixels (a grid's PNG has no shrink-on-load, so decoding it again for each size would double the work).
 */
export async function makeThumbnails(bytes: Buffer, specs: ThumbnailSpec[], pixelLimit = DEFAULT_PIXEL_LIMIT): Promise<Thumbnail[]> {
  if (specs.length === 0) return [];
  const largest = Math.max(...specs.map((s) => s.size));
  const fit = (size: number) => ({ width: size, height: size, fit: 'inside' as const, withoutEnlargement: true });
  let reduced: { data: Buffer; info: sharp.OutputInfo };
  try {
    reduced = await sharp(bytes, { limitInputPixels: pixelLimit, failOn: 'error' })
      .resize(fit(largest))
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new MediaError('image', `cannot decode the image: ${(err as Error).message}`, false);
  }
  const raw = { width: reduced.info.width, height: reduced.info.height, channels: reduced.info.channels as 1 | 2 | 3 | 4 };
  const out: Thumbnail[] = [];
  for (const spec of specs) {
    try {
      const { data, info } = await sharp(reduced.data, { raw })
        .resize(fit(spec.size))
        .toFormat(spec.format, { quality: spec.quality ?? 80 })
        .toBuffer({ resolveWithObject: true });
      out.push({ spec, bytes: data, width: info.width, height: info.height });
    } catch (err) {
      throw new MediaError('image', `cannot make the ${spec.size}:${spec.format} thumbnail: ${(err as Error).message}`, false);
    }
  }
  return out;
}
