// Image bytes the media activities move through S3, counted where they are sent: every uploaded original and
// thumbnail (sidecars are JSON, not images; an object already stored is skipped by a HEAD and sends nothing), and
// every original a reprocess reads back.
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { metricsOn, recordMediaBytes } from './record';

const isImage = (contentType: string | undefined) => contentType?.startsWith('image/') ?? false;

function sizeOf(body: unknown): number {
  if (typeof body === 'string') return Buffer.byteLength(body);
  return body instanceof Uint8Array ? body.byteLength : 0;
}

/** The client, with its `send` counting image transfers while metrics are on; everything else is the client's own. */
export function countingImageBytes(s3: S3Client): S3Client {
  const send = s3.send.bind(s3) as (command: unknown, options?: unknown) => Promise<unknown>;
  const counted = async (command: unknown, options?: unknown) => {
    const output = await send(command, options);
    if (!metricsOn()) return output;
    if (command instanceof PutObjectCommand && isImage(command.input.ContentType)) recordMediaBytes('upload', sizeOf(command.input.Body));
    if (command instanceof GetObjectCommand) {
      const got = output as { ContentType?: string; ContentLength?: number };
      if (isImage(got.ContentType)) recordMediaBytes('download', got.ContentLength ?? 0);
    }
    return output;
  };
  return new Proxy(s3, { get: (target, prop, receiver) => (prop === 'send' ? counted : Reflect.get(target, prop, receiver)) });
}
