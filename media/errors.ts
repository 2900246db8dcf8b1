/**
 * Why a media step failed, as a failure class the results report and `redrive --class` use:
 * - `download`: the image could not be fetched (expired URL, HTTP error, blocked host, too large, too slow);
 * - `image`: the bytes are not an image we accept (corrupt, truncated, wrong format, too many pixels);
 * - `storage`: S3 refused or failed.
 * `retryable` says whether the same step may succeed later.
 */
export type MediaFailureClass = 'download' | 'image' | 'storage';

export class MediaError extends Error {
  constructor(
    readonly failureClass: MediaFailureClass,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'MediaError';
  }
}
