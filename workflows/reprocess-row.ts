import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { mediaActivities } from './media-activities';
import type { createResultActivities } from '../activities/results';
import { rowOutcomeOf } from '../contracts/failures';
import { releaseSlotSignal, rowFinishedSignal } from '../contracts/handlers';
import type { StoredImage } from '../contracts/media';
import { modeMismatch, type FailureClass, type ItemInput, type ItemResult, type ItemStage } from '../contracts/rows';
import { BatchIdKey, RowKeyKey, RowStageKey } from '../contracts/search-attributes';

const results = proxyActivities<ReturnType<typeof createResultActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});

/** Why one image got no new thumbnails; `final` when the activity said so (original gone or changed), not when retries ran out. */
interface ImageFailure {
  role: string;
  failureClass: FailureClass;
  message: string;
  final: boolean;
}

function imageFailure(image: StoredImage, err: unknown): ImageFailure {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (!(cause instanceof ApplicationFailure)) return { role: image.role, failureClass: 'storage', message, final: false };
  const outcome = rowOutcomeOf(cause.type, message);
  // Only media failures come from this activity; anything else is still a stored image that could not be read back.
  const failureClass = outcome.failureClass === 'image' ? 'image' : 'storage';
  return { role: image.role, failureClass, message: outcome.reason, final: cause.nonRetryable === true };
}

/**
 * A row of a reprocess (`mj-batch reprocess`): new thumbnails for every image its stored result names, made from the
 * originals in S3. No job, no download: it works with the API unreachable, and it holds no account slot.
 *
 * What is stored: the earlier result with the new images, its status as before. A row with no stored image is SKIPPED
 * and its record left as it was (an earlier FAILED stays FAILED in the report). An image whose original is gone or
 * changed keeps its old entry; a SUCCESS row with one is stored FAILED (`storage` / `image`), which `redrive` repairs.
 * A failure that is not final (retries ran out) or a cancel changes no status in the record.
 */
export async function reprocessRowWorkflow(input: ItemInput): Promise<ItemResult> {
  const { row, options } = input;
  const media = mediaActivities(options.mediaTaskQueue);
  upsertSearchAttributes([
    { key: BatchIdKey, value: input.batchId },
    { key: RowKeyKey, value: row.key },
    { key: RowStageKey, value: 'queued' },
  ]);
  const reportStage = (stage: ItemStage) => upsertSearchAttributes([{ key: RowStageKey, value: stage }]);

  /** The server drops a signal still in flight when its sender completes: each is awaited, and sent even while cancelled. */
  const tell = (workflowId: string, send: (id: string) => Promise<void>) =>
    CancellationScope.nonCancellable(() => send(workflowId)).catch(() => undefined);
  // No job, so a slot the batch took for the row goes back at once.
  if (input.slotLease) {
    const { workflowId, leaseId } = input.slotLease;
    await tell(workflowId, (id) => getExternalWorkflowHandle(id).signal(releaseSlotSignal, leaseId));
  }
  const finish = async (r: ItemResult): Promise<ItemResult> => {
    reportStage(r.status === 'FAILED' ? 'failed' : 'done');
    if (input.reportTo) {
      const said = { rowKey: r.rowKey, status: r.status, modeMismatch: modeMismatch(r) || undefined };
      await tell(input.reportTo, (id) => getExternalWorkflowHandle(id).signal(rowFinishedSignal, said));
    }
    return r;
  };
  const ended = (status: 'CANCELLED' | 'FAILED', failureClass: FailureClass, reason: string): ItemResult => ({
    rowKey: row.key,
    line: row.line,
    status,
    failureClass,
    reason,
    taskIds: [],
    images: [],
  });

  let previous: ItemResult | null;
  try {
    previous = await results.loadRowResult({ outputPrefix: input.outputPrefix, rowKey: row.key });
  } catch (err) {
    // Nothing was changed: the stored record stays as it was.
    if (isCancellation(err)) return finish(ended('CANCELLED', 'cancelled', 'the batch was cancelled'));
    return finish(ended('FAILED', 'storage', `cannot read the row's stored result: ${(err as Error).message}`));
  }
  if (!previous || previous.images.length === 0) {
    const why = previous
      ? `the row ended ${previous.status}${previous.failureClass ? ` (${previous.failureClass})` : ''}`
      : 'no result stored';
    return finish({
      rowKey: row.key,
      line: row.line,
      status: 'SKIPPED',
      reason: `no stored original: ${why}`,
      taskIds: previous?.taskIds ?? [],
      images: [],
    });
  }

  reportStage('media');
  const earlier = previous.images;
  const settled = await Promise.allSettled(earlier.map((image) => media.rethumbnailImage({ image, thumbnails: options.thumbnails })));
  const images = settled.map((s, i) => (s.status === 'fulfilled' ? s.value : earlier[i]!));
  const cancelled = settled.some((s) => s.status === 'rejected' && isCancellation(s.reason));
  const failures = settled.flatMap((s, i) =>
    s.status === 'rejected' && !isCancellation(s.reason) ? [imageFailure(earlier[i]!, s.reason)] : [],
  );
  const said = failures.map((f) => `no new thumbnails for ${f.role}: ${f.message}`).join('; ');

  let stored: ItemResult = { ...previous, images };
  const final = failures.find((f) => f.final);
  if (final && previous.status === 'SUCCESS') stored = { ...stored, status: 'FAILED', failureClass: final.failureClass, reason: said };
  if (settled.some((s) => s.status === 'fulfilled') || stored.status !== previous.status) {
    // Recorded even when the batch is being cancelled: the sidecars already name the new thumbnails.
    await CancellationScope.nonCancellable(() =>
      results.saveRowResult({ batchId: input.batchId, outputPrefix: input.outputPrefix, row, result: stored }),
    );
  }
  // The batch counts what this run did; the record keeps what the row is.
  if (failures.length > 0) return finish({ ...stored, status: 'FAILED', failureClass: (final ?? failures[0]!).failureClass, reason: said });
  if (cancelled) return finish({ ...stored, status: 'CANCELLED', failureClass: 'cancelled', reason: 'the batch was cancelled' });
  return finish(stored);
}
