import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// `mj-batch accounts` runs no worker: like the other such commands (test/unit/house/cli-weight.test.ts) it must load
// neither sharp nor the worker SDK. Runs the built CLI, as users do.
const ROOT = path.resolve(__dirname, '..', '..', '..');
const GUARD = path.join(ROOT, 'test', 'fixtures', 'forbid-modules.js');
const CLI = path.join(ROOT, 'bin', 'mj-batch.js');

function run(args: string[]) {
  const env = { ...process.env, FORBID_MODULES: 'sharp,@temporalio/worker', MJ_BATCH_STACK_DIR: path.join(ROOT, '.mj-batch-none') };
  return spawnSync(process.execPath, ['-r', GUARD, CLI, ...args], { env, encoding: 'utf8', timeout: 60_000 });
}

test('`mj-batch accounts --help` loads neither sharp nor the worker SDK', () => {
  const r = run(['accounts', '--help']);
  expect(r.stderr).not.toContain('forbidden module');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('--accounts <file>');
});

test('a bad accounts file stops `mj-batch accounts` with exit code 2 before Temporal is asked', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-accounts-')), 'accounts.json');
  fs.writeFileSync(
    file,
    JSON.stringify([{ name: 'main', baseUrl: 'https://mj.example', apiKeyEnv: 'MJ_KEY_MAIN', apiKey: 'x', slots: 3 }]),
  );
  const r = run(['accounts', '--json', '--accounts', file]);
  expect(r.stderr).not.toContain('forbidden module');
  expect(r.status).toBe(2);
  expect(r.stderr).toContain(`accounts file ${file}: accounts[0] ("main"): unknown field "apiKey" (keys never go in the file`);
});
