export type Mode = 'fast' | 'relax' | 'turbo';
export const MODES: readonly Mode[] = ['fast', 'relax', 'turbo'];

/**
 * How a gateway spells the speed mode in the path:
 * - `none`: `/mj/submit/imagine` (the mode comes from the account, the token or a `--fast` flag in the prompt)
 * - `mj-dash`: `/mj-fast/mj/submit/imagine` (midjourney-proxy Plus, most gateways)
 * - `plain`: `/fast/mj/submit/imagine` (gateways that price per mode this way)
 */
export type ModePrefixStyle = 'none' | 'mj-dash' | 'plain';

export interface RouteOptions {
  mode?: Mode;
  modePrefix?: ModePrefixStyle;
}

export function modePrefix({ mode, modePrefix: style = 'mj-dash' }: RouteOptions): string {
  if (!mode || style === 'none') return '';
  return style === 'plain' ? `/${mode}` : `/mj-${mode}`;
}

/** `${base}${prefix}/mj${path}`; the base may carry a path of its own (`https://gw.example/api`). */
export function buildUrl(baseUrl: string, path: string, route: RouteOptions): string {
  const base = baseUrl.replace(/\/+$/, '');
  return `${base}${modePrefix(route)}/mj${path}`;
}
