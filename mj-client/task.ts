import type { Mode } from './routing';
import type { MjTask } from './schemas';

export const TERMINAL_STATUSES = new Set(['SUCCESS', 'FAILURE', 'CANCEL']);

/** "0%" ... "100%" as a number; "" and null (not started yet, or failed on some proxies) are 0. */
export function parseProgress(progress: string | null | undefined): number {
  if (!progress) return 0;
  const match = /^\s*(\d{1,3}(?:\.\d+)?)\s*%?\s*$/.exec(progress);
  if (!match) return 0;
  return Math.min(100, Math.max(0, Math.floor(Number(match[1]))));
}

export function isTerminal(task: Pick<MjTask, 'status'>): boolean {
  return TERMINAL_STATUSES.has(task.status);
}

/** A MODAL task waits for `/submit/modal`: code 21 at submit, or status MODAL when fetched (gateways rewrite 21 to 1). */
export function isModal(input: { code?: number } | Pick<MjTask, 'status'>): boolean {
  if ('code' in input && input.code === 21) return true;
  return 'status' in input && input.status === 'MODAL';
}

/** The image URLs of a finished task: `imageUrl`, plus `imageUrls[].url` where the proxy lists them. */
export function imageUrlsOf(task: MjTask): string[] {
  const urls = new Set<string>();
  if (task.imageUrl) urls.add(task.imageUrl);
  const list = (task as Record<string, unknown>).imageUrls;
  if (Array.isArray(list))
    for (const item of list) if (item && typeof (item as { url?: unknown }).url === 'string') urls.add((item as { url: string }).url);
  return [...urls];
}

/**
 * The speed mode a task ran in, where the API reports it: the Plus view's `mode` (C# TaskInfo.Mode), else the
 * `(fast)` / `(relaxed)` / `(turbo)` that ends Midjourney's message in `properties.messageContent` (CS). Gateways report
 * neither: undefined there means "not known", not "fast".
 */
export function modeRanOf(task: Pick<MjTask, 'mode' | 'properties'>): Mode | undefined {
  const named = /^(fast|relax|turbo)$/i.exec(task.mode ?? '');
  if (named) return named[1]!.toLowerCase() as Mode;
  const content = task.properties?.messageContent;
  const said = typeof content === 'string' ? /\((fast|relaxed|turbo)\)\s*$/i.exec(content) : null;
  if (!said) return undefined;
  const word = said[1]!.toLowerCase();
  return word === 'relaxed' ? 'relax' : (word as Mode);
}
