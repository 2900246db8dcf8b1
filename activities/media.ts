import { Context } from '@temporalio/activity';
import { rethumbnailImage, type RethumbnailInput } from '../media/rethumbnail';
import { storeImage, type MediaDeps, type StoreImageInput } from '../media/store-image';
import type { StoredImage } from '../contracts/media';
import { toFailure } from './failures';
import { countingImageBytes } from '../metrics/image-bytes';
import { recordMediaBytes, timedMedia } from '../metrics/record';

export function createMediaActivities(deps: MediaDeps) {
  // Image bytes sent to and read from S3 are counted on the way, while metrics are on.
  const media: MediaDeps = { ...deps, s3: countingImageBytes(deps.s3) };
  return {
    /** Download → thumbnails → S3, heartbeating as it goes so a dead worker is noticed and the step moves elsewhere. */
    async storeImage(input: StoreImageInput): Promise<StoredImage> {
      const ctx = Context.current();
      try {
        return await timedMedia('storeImage', async () => {
          const stored = await storeImage(media, input, (stage, detail) => ctx.heartbeat({ stage, detail }), ctx.cancellationSignal);
          recordMediaBytes('download', stored.bytes);
          return stored;
        });
      } catch (err) {
        throw toFailure(err);
      }
    },

    /** New thumbnails from the original already in S3 (a reprocess): no download. Heartbeats as storeImage does. */
    async rethumbnailImage(input: RethumbnailInput): Promise<StoredImage> {
      const ctx = Context.current();
      try {
        return await timedMedia('rethumbnailImage', () =>
          rethumbnailImage(media, input, (stage) => ctx.heartbeat({ stage }), ctx.cancellationSignal),
        );
      } catch (err) {
        throw toFailure(err);
      }
    },
  };
}

export type MediaActivities = ReturnType<typeof createMediaActivities>;
