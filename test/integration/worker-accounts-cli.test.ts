// `mj-batch worker --accounts FILE`: the worker drives every account in the file, names them (never their keys) when
// it starts, and refuses to start when a key variable is missing.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startSimulator, type RunningSimulator } from '../../simulator/server';
import { CLI, REPO_ROOT, runCli } from './cli';
import { unique } from './helpers';

const KEYS = { MJ_KEY_A: 'sk-account-a-0123456789', MJ_KEY_B: 'sk-account-b-0123456789' };
let sims: RunningSimulator[];
let file: string;

beforeAll(async () => {
  sims = [await startSimulator({ apiKey: KEYS.MJ_KEY_A }), await startSimulator({ apiKey: KEYS.MJ_KEY_B })];
  file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-worker-accounts-')), 'accounts.json');
  fs.writeFileSync(
    file,
    JSON.stringify([
      { name: 'A', baseUrl: sims[0]!.url, apiKeyEnv: 'MJ_KEY_A', slots: 3 },
      { name: 'B', baseUrl: sims[1]!.url, apiKeyEnv: 'MJ_KEY_B', slots: 3 },
    ]),
  );
});

afterAll(async () => {
  for (const sim of sims) await sim.close();
});

/** The environment without the single-account API variables (a running local stack may still supply its simulator). */
function envWith(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MJ_BATCH_TASK_QUEUE: unique('worker-accounts'), MJ_BATCH_LOG_FILE: '-', ...extra };
  for (const name of ['MJ_BASE_URL', 'MJ_API_KEY', 'MJ_ACCOUNTS_FILE']) delete env[name];
  return env;
}

test('a key variable the file names but the environment lacks: exit 2, naming the account and the variable', async () => {
  const run = await runCli(['worker', '--accounts', file], { env: envWith({ MJ_KEY_A: KEYS.MJ_KEY_A }) });
  expect(run.code).toBe(2);
  expect(run.stderr).toContain(`accounts file ${file}: no key for "B" (MJ_KEY_B)`);
  expect(run.stderr).not.toContain(KEYS.MJ_KEY_A);
});

test('with every key set it starts from the accounts file, names the accounts without their keys, and stops cleanly', async () => {
  // A child's env replaces the parent's: runCli would merge process.env back in, so spawn directly.
  const worker = spawn(process.execPath, [CLI, 'worker', '--accounts', file], { cwd: REPO_ROOT, env: envWith(KEYS) });
  let output = '';
  worker.stdout.on('data', (d) => (output += d));
  worker.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 60_000;
    while (!/worker polling/.test(output) || !/accounts from/.test(output)) {
      if (Date.now() > deadline) throw new Error(`the worker did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    worker.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  expect(output).toContain(`accounts from ${file}: A, B (calls that name none go to A)`);
  for (const key of Object.values(KEYS)) expect(output).not.toContain(key);
}, 120_000);
