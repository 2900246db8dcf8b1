import sharp from 'sharp';
import { MediaError } from '../../../media/errors';
import { DEFAULT_PIXEL_LIMIT, DEFAULT_THUMBNAILS, inspectImage, makeThumbnails } from '../../../media/thumbnails';
import { parseThumbnailProfile } from '../../../contracts/media';

// Images are made in memory with sharp; noise keeps them from compressing to a few bytes, so truncation cuts pixel data.
function noisy(width: number, height: number) {
  return sharp({ create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } });
}

async function mediaError(p: Promise<unknown>): Promise<MediaError> {
  const outcome = await p.then(
    (v) => ({ value: v }),
    (e: unknown) => ({ error: e }),
  );
  if (!('error' in outcome)) throw new Error(`expected a MediaError, got a result: ${JSON.stringify(outcome.value)}`);
  if (!(outcome.error instanceof MediaError)) throw new Error(`expected a MediaError, got ${String(outcome.error)}`);
  return outcome.error;
}

let png: Buffer;
let jpeg: Buffer;
let webp: Buffer;
beforeAll(async () => {
  const base = noisy(320, 180);
  [png, jpeg, webp] = await Promise.all([base.clone().png().toBuffer(), base.clone().jpeg().toBuffer(), base.clone().webp().toBuffer()]);
});

describe('inspectImage', () => {
  test.each([['png'], ['jpeg'], ['webp']] as const)('detects %s from the bytes, with its dimensions', async (format) => {
    const bytes = { png, jpeg, webp }[format];
    expect(await inspectImage(bytes)).toEqual({ format, width: 320, height: 180 });
  });

  test('the format comes from the bytes alone: the same pixels in three containers give three answers', async () => {
    const formats = await Promise.all([png, jpeg, webp].map(async (b) => (await inspectImage(b)).format));
    expect(formats).toEqual(['png', 'jpeg', 'webp']);
  });

  test('garbage bytes are refused with failureClass image, non-retryable', async () => {
    const garbage = Buffer.alloc(4096);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 17) & 0xff;
    for (const bytes of [garbage, Buffer.from('<html><body>Access denied</body></html>'), Buffer.alloc(0)]) {
      const err = await mediaError(inspectImage(bytes));
      expect(err).toMatchObject({ failureClass: 'image', retryable: false });
    }
  });

  test('a PNG cut inside its header is refused with failureClass image', async () => {
    const err = await mediaError(inspectImage(png.subarray(0, 20)));
    expect(err).toMatchObject({ failureClass: 'image', retryable: false });
    expect(err.message).toMatch(/not a readable image/);
  });

  test('a WebP cut short is refused (its container length no longer matches)', async () => {
    const err = await mediaError(inspectImage(webp.subarray(0, Math.floor(webp.length * 0.6))));
    expect(err).toMatchObject({ failureClass: 'image', retryable: false });
  });

  test.each([['gif'], ['tiff']] as const)('a readable %s is refused: only png, jpeg and webp are accepted', async (format) => {
    const bytes = await noisy(40, 30).toFormat(format).toBuffer();
    const err = await mediaError(inspectImage(bytes));
    expect(err).toMatchObject({ failureClass: 'image', retryable: false });
    expect(err.message).toContain(`format "${format}" is not accepted`);
  });

  test('the pixel limit: width × height over it is refused, exactly at it is accepted', async () => {
    const bytes = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#336699' } })
      .png()
      .toBuffer();
    expect(await inspectImage(bytes, 300 * 200)).toEqual({ format: 'png', width: 300, height: 200 });
    const err = await mediaError(inspectImage(bytes, 300 * 200 - 1));
    expect(err).toMatchObject({ failureClass: 'image', retryable: false });
    expect(err.message).toMatch(/over the limit of 59999/);
  });

  test('the default pixel limit refuses a 12000×12000 image (read from its header, never decoded)', async () => {
    expect(12_000 * 12_000).toBeGreaterThan(DEFAULT_PIXEL_LIMIT);
    const huge = await sharp({ create: { width: 12_000, height: 12_000, channels: 3, background: '#000' } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    const err = await mediaError(inspectImage(huge));
    expect(err).toMatchObject({ failureClass: 'image', retryable: false });
  });
});

describe('makeThumbnails', () => {
  test('fits inside the box without enlarging: 300×200 with size 512 stays 300×200', async () => {
    const small = await noisy(300, 200).png().toBuffer();
    const [t] = await makeThumbnails(small, [{ size: 512, format: 'webp' }]);
    expect(t).toMatchObject({ width: 300, height: 200 });
    expect(await sharp(t!.bytes).metadata()).toMatchObject({ format: 'webp', width: 300, height: 200 });
  });

  test('2048×1024 with size 512 becomes 512×256; a portrait 1024×2048 becomes 256×512 at size 512', async () => {
    const wide = await noisy(2048, 1024).png().toBuffer();
    const tall = await noisy(1024, 2048).jpeg().toBuffer();
    const [w] = await makeThumbnails(wide, [{ size: 512, format: 'webp' }]);
    const [h] = await makeThumbnails(tall, [{ size: 512, format: 'webp' }]);
    expect(await sharp(w!.bytes).metadata()).toMatchObject({ width: 512, height: 256 });
    expect(await sharp(h!.bytes).metadata()).toMatchObject({ width: 256, height: 512 });
    expect(w).toMatchObject({ width: 512, height: 256 });
    expect(h).toMatchObject({ width: 256, height: 512 });
  });

  test('produces one thumbnail per spec, in order, each in the requested format and size', async () => {
    const src = await noisy(1600, 900).png().toBuffer();
    const specs = [
      { size: 800, format: 'jpeg' },
      { size: 400, format: 'png' },
      { size: 200, format: 'webp' },
      { size: 100, format: 'avif' },
    ] as const;
    const thumbs = await makeThumbnails(src, [...specs]);
    expect(thumbs.map((t) => t.spec)).toEqual(specs);
    const metas = await Promise.all(thumbs.map((t) => sharp(t.bytes).metadata()));
    expect(metas.map((m) => m.format)).toEqual(['jpeg', 'png', 'webp', 'heif']);
    expect(metas.map((m) => m.compression ?? null)).toEqual([null, null, null, 'av1']);
    expect(metas.map((m) => [m.width, m.height])).toEqual([
      [800, 450],
      [400, 225],
      [200, 113],
      [100, 56],
    ]);
    expect(thumbs.map((t) => [t.width, t.height])).toEqual(metas.map((m) => [m.width, m.height]));
  });

  test('the default profile is 512 and 256 webp', async () => {
    expect(DEFAULT_THUMBNAILS).toEqual([
      { size: 512, format: 'webp' },
      { size: 256, format: 'webp' },
    ]);
    const thumbs = await makeThumbnails(await noisy(1024, 1024).webp().toBuffer(), DEFAULT_THUMBNAILS);
    const metas = await Promise.all(thumbs.map((t) => sharp(t.bytes).metadata()));
    expect(metas.map((m) => [m.format, m.width, m.height])).toEqual([
      ['webp', 512, 512],
      ['webp', 256, 256],
    ]);
  });

  test('a quality setting changes the output (lower quality, fewer bytes)', async () => {
    const src = await noisy(800, 800).png().toBuffer();
    const [low, high] = await makeThumbnails(src, [
      { size: 400, format: 'jpeg', quality: 20 },
      { size: 400, format: 'jpeg', quality: 95 },
    ]);
    expect(low!.bytes.length).toBeLessThan(high!.bytes.length);
  });

  test.each([['png'], ['jpeg']] as const)(
    'a %s cut short (header intact) is refused with failureClass image rather than padded with grey',
    async (format) => {
      const bytes = { png, jpeg }[format];
      const cut = bytes.subarray(0, Math.floor(bytes.length * 0.6));
      // The header still reads, so only decoding can tell.
      expect(await inspectImage(cut)).toMatchObject({ format, width: 320, height: 180 });
      const err = await mediaError(makeThumbnails(cut, [{ size: 64, format: 'webp' }]));
      expect(err).toMatchObject({ failureClass: 'image', retryable: false });
    },
  );

  test('corrupt pixel data behind a valid PNG header is refused with failureClass image', async () => {
    const bad = Buffer.from(png);
    for (let i = 64; i < bad.length; i += 97) bad[i] = bad[i]! ^ 0xa5;
    const err = await mediaError(makeThumbnails(bad, [{ size: 64, format: 'webp' }]));
    expect(err).toMatchObject({ failureClass: 'image', retryable: false });
  });

  test('the pixel limit also guards decoding', async () => {
    const src = await noisy(300, 200).png().toBuffer();
    expect(await makeThumbnails(src, [{ size: 64, format: 'webp' }], 300 * 200)).toHaveLength(1);
    const err = await mediaError(makeThumbnails(src, [{ size: 64, format: 'webp' }], 300 * 200 - 1));
    expect(err).toMatchObject({ failureClass: 'image', retryable: false });
  });
});

describe('parseThumbnailProfile', () => {
  test('"512:webp,256:jpeg" gives two specs with their formats', () => {
    expect(parseThumbnailProfile('512:webp,256:jpeg')).toEqual([
      { size: 512, format: 'webp' },
      { size: 256, format: 'jpeg' },
    ]);
  });

  test('"512,256" defaults the format to webp', () => {
    expect(parseThumbnailProfile('512,256')).toEqual([
      { size: 512, format: 'webp' },
      { size: 256, format: 'webp' },
    ]);
  });

  test('spaces around parts, png and avif, and the 16 and 4096 bounds are accepted', () => {
    expect(parseThumbnailProfile(' 16:png , 4096:avif ')).toEqual([
      { size: 16, format: 'png' },
      { size: 4096, format: 'avif' },
    ]);
  });

  test.each(['0', '15', '4097', '-512', '512.5', 'abc', '', '512,', ':webp', '1e3x'])('size in "%s" is refused', (text) => {
    expect(() => parseThumbnailProfile(text)).toThrow(/thumbnail size .* must be a whole number from 16 to 4096/);
  });

  test.each(['512:gif', '512:jpg', '512:WEBP', '512:tiff', '256:webp,512:bmp'])('format in "%s" is refused', (text) => {
    expect(() => parseThumbnailProfile(text)).toThrow(/thumbnail format .* must be webp, jpeg, png or avif/);
  });
});
