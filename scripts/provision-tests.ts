/**
 * Run by `npm test` (pretest) and `.ci/run`: makes sure the Chromium the browser tests drive is on the machine.
 * Missing, it installs Debian's `chromium` with apt-get, as root or through passwordless sudo; otherwise it exits 1
 * naming the command to run. (The Temporal and S3 servers are provisioned by the integration tests' global setup.)
 */
import { spawnSync } from 'node:child_process';
import { isExecutable } from '../stack/binaries';
import { chromiumPath, DEBIAN_CHROMIUM } from './chromium-path';

const INSTALL = 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium';
const MANUAL = `sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends chromium'`;

function version(file: string): string {
  // Only for the log line: a browser that cannot even print its version is still reported as found.
  const run = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  return run.status === 0 ? run.stdout.trim() : 'version unknown';
}

function fail(message: string): never {
  console.error(`provision-tests: ${message}`);
  process.exit(1);
}

function main(): void {
  const file = chromiumPath();
  if (isExecutable(file)) {
    console.log(`provision-tests: Chromium found at ${file} (${version(file)})`);
    return;
  }
  // An explicit path is the user's choice: installing Debian's package would not put anything there.
  if (process.env.CHROMIUM_PATH !== undefined)
    fail(`CHROMIUM_PATH=${file} is not an executable file; point it at a Chromium binary, or unset it to use Debian's ${DEBIAN_CHROMIUM}`);

  // Root runs apt-get directly; otherwise only sudo that needs no password, since a prompt would hang `npm test`.
  const root = process.getuid?.() === 0;
  const sudo = !root && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if (!root && !sudo)
    fail(
      `Chromium is missing (${file}) and installing it needs root. Run:\n  ${MANUAL}\nthen \`npm test\` again (or set CHROMIUM_PATH to an existing Chromium).`,
    );

  console.log(`provision-tests: Chromium missing at ${file}; installing Debian's chromium with apt-get${sudo ? ' (sudo -n)' : ''}...`);
  const command = sudo ? ['sudo', '-n', 'sh', '-c', INSTALL] : ['sh', '-c', INSTALL];
  const run = spawnSync(command[0], command.slice(1), { stdio: 'inherit' });
  if (run.status !== 0) fail(`installing chromium failed (${run.error?.message ?? `exit code ${run.status}`}); run:\n  ${MANUAL}`);
  if (!isExecutable(file)) fail(`apt-get installed chromium but ${file} is still not executable`);
  console.log(`provision-tests: installed Chromium at ${file} (${version(file)})`);
}

main();
