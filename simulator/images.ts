import { createHash } from 'node:crypto';
import sharp from 'sharp';

/** Tile size for an aspect ratio: about 1024² pixels, sides multiples of 16 (1:1 gives 1024×1024). */
export function tileSize(aspect: string): { width: number; height: number } {
  const m = /^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$/.exec(aspect.trim());
  const ratio = m ? Number(m[1]) / Number(m[2]) : 1;
  const clamped = Math.min(4, Math.max(0.25, Number.isFinite(ratio) && ratio > 0 ? ratio : 1));
  const round16 = (v: number) => Math.max(16, Math.round(v / 16) * 16);
  return { width: round16(1024 * Math.sqrt(clamped)), height: round16(1024 / Math.sqrt(clamped)) };
}

function seedBytes(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/**
 * Paints one tile into `out` (RGB) at (x0, y0): a diagonal gradient between two colours from the key, a disc, and
 * light deterministic grain, so PNGs have a realistic size and every key looks different.
 */
function paintTile(out: Buffer, stride: number, x0: number, y0: number, w: number, h: number, key: string): void {
  const s = seedBytes(key);
  const c1 = [s[0]!, s[1]!, s[2]!];
  const c2 = [s[3]!, s[4]!, s[5]!];
  const disc = [255 - s[6]!, 255 - s[7]!, 255 - s[8]!];
  const cx = w * (0.25 + (s[9]! / 255) * 0.5);
  const cy = h * (0.25 + (s[10]! / 255) * 0.5);
  const r2 = (Math.min(w, h) * (0.12 + (s[11]! / 255) * 0.2)) ** 2;
  let grain = s.readUInt32LE(12) || 1;
  for (let y = 0; y < h; y++) {
    let p = ((y0 + y) * stride + x0) * 3;
    for (let x = 0; x < w; x++) {
      grain ^= grain << 13;
      grain ^= grain >>> 17;
      grain ^= grain << 5;
      const n = (grain & 15) - 8;
      const t = (x / w + y / h) / 2;
      const dx = x - cx;
      const dy = y - cy;
      const inDisc = dx * dx + dy * dy < r2;
      for (let ch = 0; ch < 3; ch++) {
        const base = inDisc ? disc[ch]! : c1[ch]! + (c2[ch]! - c1[ch]!) * t;
        const v = base + n;
        out[p + ch] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
      p += 3;
    }
  }
}

const PNG_OPTIONS = { compressionLevel: 6, adaptiveFiltering: false } as const;

/** A 2×2 grid, each tile keyed by `key` and its index: the same key and aspect always give the same bytes. */
export async function renderGrid(key: string, aspect = '1:1'): Promise<Buffer> {
  const { width, height } = tileSize(aspect);
  const raw = Buffer.alloc(width * 2 * height * 2 * 3);
  for (let i = 0; i < 4; i++) paintTile(raw, width * 2, (i % 2) * width, Math.floor(i / 2) * height, width, height, `${key}#${i + 1}`);
  return sharp(raw, { raw: { width: width * 2, height: height * 2, channels: 3 } })
    .png(PNG_OPTIONS)
    .toBuffer();
}

/** Tile `index` (1–4, left to right, top to bottom) of the grid for `key`: exactly that quadrant's pixels. */
export async function renderTile(key: string, aspect: string, index: number): Promise<Buffer> {
  const { width, height } = tileSize(aspect);
  const raw = Buffer.alloc(width * height * 3);
  paintTile(raw, width, 0, 0, width, height, `${key}#${index}`);
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .png(PNG_OPTIONS)
    .toBuffer();
}

/** An upscale of tile `index` by `factor` (HD upscales double each side). */
export async function renderUpscale(key: string, aspect: string, index: number, factor: number): Promise<Buffer> {
  const tile = await renderTile(key, aspect, index);
  const { width, height } = tileSize(aspect);
  return sharp(tile)
    .resize(width * factor, height * factor, { kernel: 'lanczos3' })
    .png(PNG_OPTIONS)
    .toBuffer();
}

/** The small WebP preview a running job shows. */
export async function renderPreview(key: string, aspect: string): Promise<Buffer> {
  const grid = await renderGrid(key, aspect);
  return sharp(grid).resize(512, 512, { fit: 'inside' }).webp({ quality: 50 }).toBuffer();
}

/** An image far beyond any sane pixel limit (a decompression bomb for the media stage's limitInputPixels). */
export async function renderOversized(side = 12_000): Promise<Buffer> {
  return sharp({ create: { width: side, height: side, channels: 3, background: { r: 40, g: 90, b: 160 } } })
    .png(PNG_OPTIONS)
    .toBuffer();
}

/** PNG signature and header intact (it sniffs as PNG) but the pixel data is garbage: decoding must fail. */
export function corrupt(png: Buffer): Buffer {
  const out = Buffer.from(png);
  const h = seedBytes(`corrupt:${png.length}`);
  for (let i = 64; i < out.length; i += 97) out[i] = h[i % 32]! ^ 0xa5;
  return out;
}

/** The first 60% of the bytes, as a download cut short. */
export function truncate(png: Buffer): Buffer {
  return png.subarray(0, Math.floor(png.length * 0.6));
}
