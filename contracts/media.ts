// What the media stage stores for an image, as workflows, results and the report carry it.

export interface ThumbnailSpec {
  /** Longest side in pixels (`fit: inside`, never enlarged). */
  size: number;
  format: 'webp' | 'jpeg' | 'png' | 'avif';
  quality?: number;
}

/** Parses "512:webp,256:webp" (or "512,256") into thumbnail specs. */
export function parseThumbnailProfile(text: string): ThumbnailSpec[] {
  return text.split(',').map((part) => {
    const [sizeText, format = 'webp'] = part.trim().split(':');
    const size = Number(sizeText);
    if (!Number.isInteger(size) || size < 16 || size > 4096)
      throw new Error(`thumbnail size "${sizeText}" must be a whole number from 16 to 4096`);
    if (!['webp', 'jpeg', 'png', 'avif'].includes(format)) throw new Error(`thumbnail format "${format}" must be webp, jpeg, png or avif`);
    return { size, format: format as ThumbnailSpec['format'] };
  });
}

export interface StoredThumbnail {
  key: string;
  sha256: string;
  width: number;
  height: number;
  format: string;
}

export interface StoredImage {
  role: string;
  taskId: string;
  key: string;
  sha256: string;
  bytes: number;
  width: number;
  height: number;
  format: string;
  thumbnails: StoredThumbnail[];
  sidecarKey: string;
  /** The original was already stored with the same sha256. */
  skipped: boolean;
}
