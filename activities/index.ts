import type { S3Client } from '@aws-sdk/client-s3';
import type { Dispatcher } from 'undici';
import type { DownloadPolicy } from '../media/download';
import type { MjClient } from '../mj-client/client';
import { createManifestActivities } from './manifest';
import { createMediaActivities } from './media';
import { createMjActivities } from './mj';
import { createReportActivities } from './report';
import { createResultActivities } from './results';
import { createSlotLeaseActivities } from './slot-leases';
import { createRowLivenessActivities } from './row-liveness';
import { createVersionActivities } from './versions';

export interface ActivityDeps {
  s3: S3Client;
  bucket: string;
  mj?: MjClient;
  downloadPolicy?: DownloadPolicy;
  dispatcher?: Dispatcher;
  callbackUrl?: string;
}

/** Orchestration activities: light HTTP and S3 calls, on the main task queue. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createManifestActivities(deps),
    ...createResultActivities(deps),
    ...createReportActivities(deps),
    ...createSlotLeaseActivities(),
    ...createRowLivenessActivities(),
    ...createVersionActivities(deps),
    ...(deps.mj && deps.downloadPolicy && deps.dispatcher
      ? createMjActivities({
          client: deps.mj,
          s3: deps.s3,
          bucket: deps.bucket,
          downloadPolicy: deps.downloadPolicy,
          dispatcher: deps.dispatcher,
          callbackUrl: deps.callbackUrl,
        })
      : {}),
  };
}

export { createMediaActivities };
export type Activities = ReturnType<typeof createActivities> & ReturnType<typeof createMjActivities>;
