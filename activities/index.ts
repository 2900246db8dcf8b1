import type { S3Client } from '@aws-sdk/client-s3';
import type { Dispatcher } from 'undici';
import type { DownloadPolicy } from '../media/download';
import type { MjClients } from '../client/account-clients';
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
  /** The API: one client for every call, or one per account (the worker's), by name. */
  mj?: MjClient | MjClients;
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
          // A lone client serves inputs that name no account; any named account is unknown to it.
          clients: 'byName' in deps.mj ? deps.mj : { default: deps.mj, byName: new Map() },
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
