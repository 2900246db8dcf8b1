import { proxyActivities } from '@temporalio/workflow';
import type { createMediaActivities } from '../activities/media';

/** The media worker's activities, on its own task queue (CPU-heavy sharp work kept apart from orchestration). */
export function mediaActivities(taskQueue: string) {
  return proxyActivities<ReturnType<typeof createMediaActivities>>({
    taskQueue,
    startToCloseTimeout: '10m',
    // Each stage heartbeats (download progress, thumbnails, every upload): a dead worker is noticed within this.
    heartbeatTimeout: '30s',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '60s', maximumAttempts: 6 },
  });
}
