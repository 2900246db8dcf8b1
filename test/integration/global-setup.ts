import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultStackDir } from '../../stack/paths';
import { freePort, isPortFree } from '../../stack/processes';
import { DEFAULT_PORTS, stackUp, type StackOptions } from '../../stack/stack';
import { readStackState } from '../../stack/state';

/**
 * Brings the local stack up for the integration tests, or reuses the one recorded in the stack folder. With no
 * recorded stack and a default port taken by something else, the tests' stack moves to free ports instead of failing.
 */
export default async function globalSetup(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const dir = defaultStackDir();
  const started = Date.now();
  const ports: Partial<StackOptions> = {};
  if (!readStackState(dir)) {
    const free = await Promise.all(Object.values(DEFAULT_PORTS).map((p) => isPortFree(p)));
    if (free.includes(false))
      Object.assign(ports, {
        temporalPort: await freePort(),
        uiPort: await freePort(),
        s3Port: await freePort(),
        simPort: await freePort(),
      });
  }
  // Building the Go binaries on a fresh machine takes minutes; `.ci/run` does it as its own timed step first.
  // The tests' simulator runs fast; a stack the developer already runs keeps its own speed.
  const endpoints = await stackUp({
    dir,
    simSpeed: 50,
    ...ports,
    log: (line) => process.stderr.write(`[stack] ${line}\n`),
    healthTimeoutMs: 120_000,
  });
  const ours = Object.entries(endpoints.services)
    .filter(([, s]) => s === 'started')
    .map(([name]) => name);
  fs.writeFileSync(path.join(dir, 'started-by-tests'), JSON.stringify(ours));
  process.stderr.write(
    `[stack] ready in ${Date.now() - started} ms (${Object.entries(endpoints.services)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ')})\n`,
  );
}
