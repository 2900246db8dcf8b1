import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface S3Settings {
  /** Unset for AWS itself; any S3-compatible server otherwise (versitygw, MinIO, R2, ...). */
  endpoint?: string;
  region: string;
  bucket: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style URLs (http://host/bucket/key): needed by most self-hosted servers. */
  forcePathStyle: boolean;
}

/**
 * One place that builds S3 clients. Credentials come from the settings when given, else from the SDK's
 * default chain (env, profile, instance role). Timeouts are explicit: the SDK's `requestTimeout` only warns.
 */
export function createS3Client(settings: S3Settings, opts: { maxSockets?: number } = {}): S3Client {
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    credentials:
      settings.accessKeyId && settings.secretAccessKey
        ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey }
        : undefined,
    maxAttempts: 4,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 5_000,
      socketTimeout: 60_000,
      httpAgent: { maxSockets: opts.maxSockets ?? 50, keepAlive: true },
      httpsAgent: { maxSockets: opts.maxSockets ?? 50, keepAlive: true },
    }),
  });
}
