import type { S3Client } from '@aws-sdk/client-s3';
import { createSmokeActivities } from './smoke';

export interface ActivityDeps {
  s3: S3Client;
  bucket: string;
}

/** All activities, built from their dependencies so tests can hand in real local servers without module mocking. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSmokeActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
