export type Mode = 'fast' | 'relax' | 'turbo';
export const MODES: readonly Mode[] = ['fast', 'relax', 'turbo'];

/**
 * How a gateway spells the speed mode in the path:
 * - `none`: `/mj/submit/imagine` (the mode comes from the account, the token or a `--fast` flag in the prompt)
 * - `mj-dash`: `/mj-fast/mj/submit/imagine` (the C# Plus proxy; new-api cuts it off before forwarding, so the mode is lost)
 * - `plain`: `/fast/mj/submit/imagine` (the integration guide's style; new-api forwards it as it is)
 * - `auto` (the default): `plain`, and `mj-dash` from the first answer that shows the server has no such route (a Plus
 *   proxy's bare 404); `MjClient.modeStyle()` says which one is in use
 */
export type ModePrefixStyle = 'auto' | 'none' | 'mj-dash' | 'plain';
export type ResolvedModePrefixStyle = Exclude<ModePrefixStyle, 'auto'>;
export const MODE_PREFIX_STYLES: readonly ModePrefixStyle[] = ['auto', 'none', 'mj-dash', 'plain'];

export interface RouteOptions {
  mode?: Mode;
  modePrefix?: ModePrefixStyle;
}

/** The path prefix for a mode; `auto` reads as its first choice, `plain` (the client resolves it per server). */
export function modePrefix({ mode, modePrefix: style = 'auto' }: RouteOptions): string {
  if (!mode || style === 'none') return '';
  return style === 'mj-dash' ? `/mj-${mode}` : `/${mode}`;
}

/** `${base}${prefix}/mj${path}`; the base may carry a path of its own (`https://gw.example/api`). */
export function buildUrl(baseUrl: string, path: string, route: RouteOptions): string {
  const base = baseUrl.replace(/\/+$/, '');
  return `${base}${modePrefix(route)}/mj${path}`;
}

/**
 * The prompt with the mode's flag (`--relax`) when it names none: the one way of asking for a mode that every layer
 * honours. The Java proxy reads the mode only from the flags; the C# proxy takes the path's mode first and the flag
 * next; new-api forwards the prompt unchanged (unless MjModeClearEnabled) but drops `/mj-relax` paths, and a C#
 * upstream has no `/relax/mj` route (../shared/reference/midjourney-proxy-api.md §2, §4; docs/gateway-model.md).
 */
export function withModeFlag(prompt: string, mode: Mode | undefined): string {
  if (!mode || /(^|\s)--(fast|relax|turbo)\b/i.test(prompt)) return prompt;
  return `${prompt} --${mode}`;
}
