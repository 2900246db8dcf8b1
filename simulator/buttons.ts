// Buttons as a Plus-protocol proxy returns them: `{customId, emoji, label, type: 2, style: 2}` with the customId
// formats Midjourney's Discord components use. {hash} is the job's UUID (properties.messageHash).
export interface SimButton {
  customId: string;
  emoji: string;
  label: string;
  type: number;
  style: number;
}

const button = (customId: string, label: string, emoji = ''): SimButton => ({ customId, emoji, label, type: 2, style: 2 });

/** The 9 buttons of a grid (imagine, variation, reroll, blend, pan, zoom). */
export function gridButtons(hash: string): SimButton[] {
  return [
    ...[1, 2, 3, 4].map((i) => button(`MJ::JOB::upsample::${i}::${hash}`, `U${i}`)),
    button(`MJ::JOB::reroll::0::${hash}::SOLO`, '', '🔄'),
    ...[1, 2, 3, 4].map((i) => button(`MJ::JOB::variation::${i}::${hash}`, `V${i}`)),
  ];
}

/** A single image after U1–U4 (v7): HD upscales, vary, zoom, pan, like. */
export function upscaledButtons(hash: string, version = 'v7'): SimButton[] {
  return [
    button(`MJ::JOB::upsample_${version}_2x_subtle::1::${hash}::SOLO`, 'Upscale (Subtle)'),
    button(`MJ::JOB::upsample_${version}_2x_creative::1::${hash}::SOLO`, 'Upscale (Creative)'),
    button(`MJ::JOB::low_variation::1::${hash}::SOLO`, 'Vary (Subtle)', '🪄'),
    button(`MJ::JOB::high_variation::1::${hash}::SOLO`, 'Vary (Strong)', '🪄'),
    button(`MJ::Inpaint::1::${hash}::SOLO`, 'Vary (Region)', '🖌️'),
    button(`MJ::Outpaint::50::1::${hash}::SOLO`, 'Zoom Out 2x', '🔍'),
    button(`MJ::Outpaint::75::1::${hash}::SOLO`, 'Zoom Out 1.5x', '🔍'),
    button(`MJ::CustomZoom::${hash}`, 'Custom Zoom', '🔍'),
    button(`MJ::JOB::pan_left::1::${hash}::SOLO`, '', '⬅️'),
    button(`MJ::JOB::pan_right::1::${hash}::SOLO`, '', '➡️'),
    button(`MJ::JOB::pan_up::1::${hash}::SOLO`, '', '⬆️'),
    button(`MJ::JOB::pan_down::1::${hash}::SOLO`, '', '⬇️'),
    button(`MJ::BOOKMARK::${hash}`, '', '❤️'),
  ];
}

/** After an HD upscale: vary, zoom and reroll. */
export function hdUpscaledButtons(hash: string): SimButton[] {
  return [
    button(`MJ::JOB::low_variation::1::${hash}::SOLO`, 'Vary (Subtle)', '🪄'),
    button(`MJ::JOB::high_variation::1::${hash}::SOLO`, 'Vary (Strong)', '🪄'),
    button(`MJ::Outpaint::50::1::${hash}::SOLO`, 'Zoom Out 2x', '🔍'),
    button(`MJ::Outpaint::75::1::${hash}::SOLO`, 'Zoom Out 1.5x', '🔍'),
    button(`MJ::JOB::reroll::0::${hash}::SOLO`, '', '🔄'),
  ];
}

/** Describe: one button per suggested prompt, plus retry. */
export function describeButtons(prompts: string[]): SimButton[] {
  return [
    ...prompts.map((p, i) => button(`MJ::Job::PicReader::${i + 1}`, p.slice(0, 80), ['1️⃣', '2️⃣', '3️⃣', '4️⃣'][i]!)),
    button('MJ::Picread::Retry', '', '🔄'),
  ];
}

/** Shorten: one button per shortened prompt. */
export function shortenButtons(hash: string, count: number): SimButton[] {
  return Array.from({ length: count }, (_, i) =>
    button(`MJ::Job::PromptAnalyzer::${hash}::${i + 1}`, `${i + 1}`, ['1️⃣', '2️⃣', '3️⃣', '4️⃣', '5️⃣'][i]!),
  );
}

/** What pressing a customId does, as the simulator models it. */
export type Press =
  | { kind: 'upscale'; index: number }
  | { kind: 'variation'; index: number }
  | { kind: 'reroll' }
  | { kind: 'hd-upscale'; factor: number; label: 'subtle' | 'creative' | '2x' | '4x' }
  | { kind: 'vary'; strength: 'subtle' | 'strong' }
  | { kind: 'vary-region' }
  | { kind: 'zoom'; factor: number }
  | { kind: 'custom-zoom' }
  | { kind: 'pan'; direction: string }
  | { kind: 'bookmark' }
  | { kind: 'pic-reader'; index: number }
  | { kind: 'describe-retry' }
  | { kind: 'prompt-analyzer'; index: number };

export function parsePress(customId: string): Press | undefined {
  let m: RegExpExecArray | null;
  if ((m = /^MJ::JOB::upsample::([1-4])::/.exec(customId))) return { kind: 'upscale', index: Number(m[1]) };
  if ((m = /^MJ::JOB::variation::([1-4])::/.exec(customId))) return { kind: 'variation', index: Number(m[1]) };
  if (/^MJ::JOB::reroll::0::/.test(customId)) return { kind: 'reroll' };
  if ((m = /^MJ::JOB::upsample_[a-z0-9]+_2x_(subtle|creative)::/.exec(customId)))
    return { kind: 'hd-upscale', factor: 2, label: m[1] as 'subtle' | 'creative' };
  if ((m = /^MJ::JOB::upsample_v5_(2x|4x)::/.exec(customId)))
    return { kind: 'hd-upscale', factor: m[1] === '4x' ? 4 : 2, label: m[1] as '2x' | '4x' };
  if (/^MJ::JOB::low_variation::/.test(customId)) return { kind: 'vary', strength: 'subtle' };
  if (/^MJ::JOB::high_variation::/.test(customId)) return { kind: 'vary', strength: 'strong' };
  if (/^MJ::Inpaint::/.test(customId)) return { kind: 'vary-region' };
  if ((m = /^MJ::Outpaint::(50|75)::/.exec(customId))) return { kind: 'zoom', factor: m[1] === '50' ? 2 : 1.5 };
  if (/^MJ::CustomZoom::/.test(customId)) return { kind: 'custom-zoom' };
  if ((m = /^MJ::JOB::pan_(left|right|up|down)::/.exec(customId))) return { kind: 'pan', direction: m[1]! };
  if (/^MJ::BOOKMARK::/.test(customId)) return { kind: 'bookmark' };
  if ((m = /^MJ::Job::PicReader::([1-4])$/.exec(customId))) return { kind: 'pic-reader', index: Number(m[1]) };
  if (customId === 'MJ::Picread::Retry') return { kind: 'describe-retry' };
  if ((m = /^MJ::Job::PromptAnalyzer::.*::(\d+)$/.exec(customId))) return { kind: 'prompt-analyzer', index: Number(m[1]) };
  return undefined;
}
