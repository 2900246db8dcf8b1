// Label values, each from a small fixed set or an account's name: never a key, a prompt, a task id or a URL, so a
// series count stays bounded and a dashboard leaks nothing.
import { intentOf, type ButtonIntent } from '../mj-client/buttons';
import { MjApiError } from '../mj-client/errors';
import type { Kind } from '../manifest/row';

const ACTION_OF_KIND: Record<Kind, string> = { imagine: 'IMAGINE', blend: 'BLEND', describe: 'DESCRIBE', shorten: 'SHORTEN' };

/** A button's job as the proxy names its action (the task's `action` field). */
function actionOfIntent(intent: ButtonIntent | undefined): string {
  if (intent === undefined) return 'ACTION';
  if (/^U[1-4]$/.test(intent) || intent.startsWith('upscale_')) return 'UPSCALE';
  if (/^V[1-4]$/.test(intent) || intent === 'vary_subtle' || intent === 'vary_strong') return 'VARIATION';
  if (intent === 'vary_region') return 'INPAINT';
  if (intent === 'reroll') return 'REROLL';
  if (intent.startsWith('zoom_')) return 'ZOOM';
  return 'PAN';
}

/** The action of a new job (its kind) or of a button pressed (its customId). */
export function jobAction(job: { op: 'new'; kind: Kind } | { op: 'action'; customId: string }): string {
  return job.op === 'new' ? ACTION_OF_KIND[job.kind] : actionOfIntent(intentOf(job.customId));
}

export const modeLabel = (mode: string | undefined): string => mode ?? 'default';

/**
 * Why the API refused a submit (`rate-limited`, `queue-full`, `quota-exhausted`, `unauthorized`, `banned-prompt`,
 * ...: the client's error reasons, each the `Mj.<reason>` failure type), or undefined when it was no refusal: an
 * ambiguous answer (the job may exist), a cancelled call, or an error before the API was asked.
 */
export function refusalReason(err: unknown): string | undefined {
  if (!(err instanceof MjApiError) || err.kind === 'ambiguous' || err.kind === 'cancelled') return undefined;
  return err.reason;
}
