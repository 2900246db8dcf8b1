import { Context } from '@temporalio/activity';
import { storeImage, type MediaDeps, type StoreImageInput } from '../media/store-image';
import type { StoredImage } from '../contracts/media';
import { toFailure } from './failures';

export function createMediaActivities(deps: MediaDeps) {
  return {
    /** Download → thumbnails → S3, heartbeating as it goes so a dead worker is noticed and the step moves elsewhere. */
    async storeImage(input: StoreImageInput): Promise<StoredImage> {
      const ctx = Context.current();
      try {
        return await storeImage(deps, input, (stage, detail) => ctx.heartbeat({ stage, detail }), ctx.cancellationSignal);
      } catch (err) {
        throw toFailure(err);
      }
    },
  };
}

export type MediaActivities = ReturnType<typeof createMediaActivities>;
