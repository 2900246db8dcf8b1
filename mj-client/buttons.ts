import type { MjButton, MjTask } from './schemas';

/** What a button does, named the way a follow-up plan names it. */
export type ButtonIntent =
  | 'U1'
  | 'U2'
  | 'U3'
  | 'U4'
  | 'V1'
  | 'V2'
  | 'V3'
  | 'V4'
  | 'reroll'
  | 'upscale_subtle'
  | 'upscale_creative'
  | 'upscale_2x'
  | 'upscale_4x'
  | 'vary_subtle'
  | 'vary_strong'
  | 'vary_region'
  | 'zoom_2x'
  | 'zoom_1.5x'
  | 'zoom_custom'
  | 'pan_left'
  | 'pan_right'
  | 'pan_up'
  | 'pan_down';

export const BUTTON_INTENTS: readonly ButtonIntent[] = [
  'U1',
  'U2',
  'U3',
  'U4',
  'V1',
  'V2',
  'V3',
  'V4',
  'reroll',
  'upscale_subtle',
  'upscale_creative',
  'upscale_2x',
  'upscale_4x',
  'vary_subtle',
  'vary_strong',
  'vary_region',
  'zoom_2x',
  'zoom_1.5x',
  'zoom_custom',
  'pan_left',
  'pan_right',
  'pan_up',
  'pan_down',
];

// customId formats of the Plus protocol (Discord component ids), e.g. `MJ::JOB::upsample::2::<hash>`,
// `MJ::JOB::upsample_v7_2x_subtle::1::<hash>::SOLO`, `MJ::Outpaint::50::1::<hash>::SOLO`, `MJ::CustomZoom::<hash>`.
const PATTERNS: [RegExp, (m: RegExpExecArray) => ButtonIntent][] = [
  [/^MJ::JOB::upsample::([1-4])::/, (m) => `U${m[1]}` as ButtonIntent],
  [/^MJ::JOB::variation::([1-4])::/, (m) => `V${m[1]}` as ButtonIntent],
  [/^MJ::JOB::reroll::/, () => 'reroll'],
  [/^MJ::JOB::upsample_[a-z0-9]+_2x_subtle::/i, () => 'upscale_subtle'],
  [/^MJ::JOB::upsample_[a-z0-9]+_2x_creative::/i, () => 'upscale_creative'],
  [/^MJ::JOB::upsample_v5_2x::/, () => 'upscale_2x'],
  [/^MJ::JOB::upsample_v5_4x::/, () => 'upscale_4x'],
  [/^MJ::JOB::low_variation::/, () => 'vary_subtle'],
  [/^MJ::JOB::high_variation::/, () => 'vary_strong'],
  [/^MJ::Inpaint::/, () => 'vary_region'],
  [/^MJ::Outpaint::50::/, () => 'zoom_2x'],
  [/^MJ::Outpaint::75::/, () => 'zoom_1.5x'],
  [/^MJ::CustomZoom::/, () => 'zoom_custom'],
  [/^MJ::JOB::pan_(left|right|up|down)::/, (m) => `pan_${m[1]}` as ButtonIntent],
];

export function intentOf(customId: string): ButtonIntent | undefined {
  for (const [re, name] of PATTERNS) {
    const m = re.exec(customId);
    if (m) return name(m);
  }
  return undefined;
}

/** The button on `task` that does `intent`, if the task offers it. */
export function findButton(task: Pick<MjTask, 'buttons'>, intent: ButtonIntent): MjButton | undefined {
  return (task.buttons ?? []).find((b) => intentOf(b.customId) === intent);
}

/** Intents whose click always opens a MODAL that `/submit/modal` must confirm (with a prompt or a mask). */
export const MODAL_INTENTS: ReadonlySet<ButtonIntent> = new Set(['vary_region', 'zoom_custom']);
