import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

// Commands that run no worker must not load the worker SDK (its native core) or sharp (libvips): they start
// faster, and a machine that only submits batches needs neither to work. Runs the built CLI, as users do.
const ROOT = path.resolve(__dirname, '..', '..', '..');
const GUARD = path.join(ROOT, 'test', 'fixtures', 'forbid-modules.js');
const CLI = path.join(ROOT, 'bin', 'mj-batch.js');

function run(args: string[], forbid: string[]) {
  const env = { ...process.env, FORBID_MODULES: forbid.join(','), MJ_BATCH_STACK_DIR: path.join(ROOT, '.mj-batch-none') };
  return spawnSync(process.execPath, ['-r', GUARD, CLI, ...args], { env, encoding: 'utf8', timeout: 60_000 });
}

const HEAVY = ['sharp', '@temporalio/worker'];
const COMMANDS = [
  'run',
  'redrive',
  'reprocess',
  'watch',
  'status',
  'list',
  'pause',
  'resume',
  'cancel',
  'set-concurrency',
  'report',
  'validate',
  'config',
  'doctor',
  'stack',
  'sim',
];

test('the guard works: loading sharp through it exits 99', () => {
  const r = spawnSync(process.execPath, ['-r', GUARD, '-e', "require('sharp')"], {
    env: { ...process.env, FORBID_MODULES: 'sharp' },
    encoding: 'utf8',
  });
  expect(r.status).toBe(99);
  expect(r.stderr).toContain('forbidden module sharp');
});

test.each(COMMANDS)('`mj-batch %s --help` loads neither sharp nor the worker SDK', (command) => {
  const r = run([command, '--help'], HEAVY);
  expect(r.stderr).not.toContain('forbidden module');
  expect(r.status).toBe(0);
});

test('`mj-batch validate` and `mj-batch config` do their work without them', () => {
  const validate = run(['validate', path.join(ROOT, 'examples', 'catalog.csv'), '--json'], HEAVY);
  expect(validate.stderr).not.toContain('forbidden module');
  expect(validate.status).toBe(0);
  expect(JSON.parse(validate.stdout).rows).toBeGreaterThan(0);
  const config = run(['config', '--json'], HEAVY);
  expect(config.stderr).not.toContain('forbidden module');
  expect(JSON.parse(config.stdout).settings.TEMPORAL_ADDRESS).toBeDefined();
});

test('`mj-batch worker --help` is cheap too, but the worker itself needs the SDK (the guard sees it)', () => {
  expect(run(['worker', '--help'], HEAVY).status).toBe(0);
  const worker = run(['worker'], ['@temporalio/worker']);
  expect(worker.status).toBe(99);
});
