import { BUTTON_INTENTS, type ButtonIntent } from '../mj-client/buttons';

/** One step of a follow-up plan: press the button with this intent (Custom Zoom carries its zoom factor). */
export interface PlanStep {
  intent: ButtonIntent;
  zoom?: number;
}

/** Each chain starts from the row's grid and presses its steps in order: `U2>upscale_subtle` is one chain of two. */
export type FollowUpPlan = PlanStep[][];

// What a button press yields decides which buttons the next step can press.
const ON_GRID = new Set<ButtonIntent>(['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', 'reroll']);
const ON_SINGLE = new Set<ButtonIntent>([
  'upscale_subtle',
  'upscale_creative',
  'upscale_2x',
  'upscale_4x',
  'vary_subtle',
  'vary_strong',
  'zoom_2x',
  'zoom_1.5x',
  'zoom_custom',
  'pan_left',
  'pan_right',
  'pan_up',
  'pan_down',
]);
const MAKES_SINGLE = new Set<ButtonIntent>(['U1', 'U2', 'U3', 'U4']);
const MAKES_UPSCALE = new Set<ButtonIntent>(['upscale_subtle', 'upscale_creative', 'upscale_2x', 'upscale_4x']);

export class PlanError extends Error {}

/**
 * Parses a follow-up plan: comma-separated chains of `>`-separated steps, e.g. `U1,U3`, `all` (U1–U4),
 * `U2>upscale_subtle`, `V1>U1`, `U4>zoom_custom=1.5`. An empty plan means "the grid only".
 */
export function parsePlan(text: string): FollowUpPlan {
  const trimmed = text.trim();
  if (!trimmed) return [];
  const chains: FollowUpPlan = [];
  for (const rawChain of trimmed.split(',')) {
    const chainText = rawChain.trim();
    if (!chainText) throw new PlanError(`empty step in "${text}" (two commas in a row?)`);
    if (chainText.toLowerCase() === 'all') {
      chains.push(...(['U1', 'U2', 'U3', 'U4'] as const).map((intent) => [{ intent }]));
      continue;
    }
    const steps: PlanStep[] = [];
    let on: 'grid' | 'single' | 'upscaled' = 'grid';
    for (const rawStep of chainText.split('>')) {
      // Split at the first "=" only: "zoom_custom=1.5=2" is a bad value, not zoom 1.5.
      const stepText = rawStep.trim();
      const eq = stepText.indexOf('=');
      const [name, arg] = eq === -1 ? [stepText, undefined] : [stepText.slice(0, eq), stepText.slice(eq + 1)];
      const intent = BUTTON_INTENTS.find((i) => i.toLowerCase() === name.trim().toLowerCase());
      if (!intent)
        throw new PlanError(
          `unknown follow-up "${name.trim()}" in "${chainText}"; known: all, ${BUTTON_INTENTS.filter((i) => i !== 'vary_region').join(', ')}`,
        );
      if (intent === 'vary_region')
        throw new PlanError(`vary_region needs a mask image, which a manifest cannot carry; use vary_subtle or vary_strong`);
      if (on === 'grid' && !ON_GRID.has(intent))
        throw new PlanError(
          `"${intent}" is a button of a single image, but "${chainText}" presses it on a grid; start with U1–U4 (e.g. U1>${intent})`,
        );
      if (on !== 'grid' && !ON_SINGLE.has(intent))
        throw new PlanError(`"${intent}" is a button of a grid, but "${chainText}" presses it on a single image`);
      if (on === 'upscaled' && (MAKES_UPSCALE.has(intent) || intent.startsWith('pan_') || intent === 'zoom_custom')) {
        throw new PlanError(`"${intent}" is not offered after an HD upscale in "${chainText}"`);
      }
      const step: PlanStep = { intent };
      if (intent === 'zoom_custom') {
        const zoom = Number(arg);
        if (arg === undefined || !(zoom >= 1 && zoom <= 2))
          throw new PlanError(`zoom_custom needs a zoom factor from 1 to 2, e.g. zoom_custom=1.5`);
        step.zoom = zoom;
      } else if (arg !== undefined) throw new PlanError(`"${intent}" takes no value (got "=${arg}")`);
      steps.push(step);
      on = MAKES_SINGLE.has(intent) ? 'single' : MAKES_UPSCALE.has(intent) ? 'upscaled' : 'grid';
    }
    chains.push(steps);
  }
  return chains;
}

/** The plan back as text, in the manifest's own syntax. */
export function formatPlan(plan: FollowUpPlan): string {
  return plan.map((chain) => chain.map((s) => (s.zoom !== undefined ? `${s.intent}=${s.zoom}` : s.intent)).join('>')).join(',');
}

/** Paid follow-up jobs the plan creates (one per step). */
export function planJobCount(plan: FollowUpPlan): number {
  return plan.reduce((n, chain) => n + chain.length, 0);
}
