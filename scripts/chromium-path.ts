/**
 * Where the browser tests find Chromium: CHROMIUM_PATH when set, else the binary of Debian's `chromium` package.
 * The demo test launches this path, so provisioning checks exactly what the tests will launch.
 */
export const DEBIAN_CHROMIUM = '/usr/bin/chromium';

export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.CHROMIUM_PATH ?? DEBIAN_CHROMIUM;
}
