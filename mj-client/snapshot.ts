// A task as the workflows keep it: small, because it is recorded in history.
import type { TaskSnapshot } from '../contracts/rows';
import { intentOf } from './buttons';
import type { MjTask } from './schemas';
import { modeRanOf, parseProgress } from './task';

/** The task's state, its buttons with what they do, and Describe's or Shorten's text. */
export function snapshotOf(task: MjTask): TaskSnapshot {
  const props = task.properties ?? {};
  const finalPrompt = typeof props.finalPrompt === 'string' ? props.finalPrompt : undefined;
  const text =
    task.action === 'DESCRIBE'
      ? (finalPrompt ?? task.promptEn ?? undefined)
      : task.action === 'SHORTEN'
        ? (finalPrompt ?? task.description ?? undefined)
        : undefined;
  return {
    taskId: task.id,
    status: task.status,
    progress: parseProgress(task.progress),
    imageUrl: task.imageUrl || undefined,
    failReason: task.failReason || undefined,
    buttons: (task.buttons ?? []).map((b) => ({ customId: b.customId, intent: intentOf(b.customId) })),
    finalPrompt,
    text,
    modeRan: modeRanOf(task),
    ...jobTimesOf(task),
  };
}

/**
 * A finished job's time in the API's queue and on its slot, when the API gives all three times in order. A Plus
 * proxy sets `startTime` when it hands the job to Discord (leaving its queue) and `finishTime` at the end; a new-api
 * gateway shows 0 for both until its first upstream poll (../shared/reference/midjourney-proxy-api.md, task fields
 * and states), so a zero or out-of-order time gives no figures rather than wrong ones.
 */
function jobTimesOf(task: MjTask): { queuedMs?: number; ranMs?: number } {
  const { submitTime, startTime, finishTime } = task;
  if (!submitTime || !startTime || !finishTime || startTime < submitTime || finishTime < startTime) return {};
  return { queuedMs: startTime - submitTime, ranMs: finishTime - startTime };
}
