import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCommand } from '../../../cli/run-command';
import { ConfigError } from '../../../config/config';

const MANIFEST = path.resolve(__dirname, '..', '..', '..', 'examples', 'catalog.csv');

test('`run --accounts` refuses a bad accounts file (exit 2) before anything starts', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-run-accounts-'));
  const file = path.join(dir, 'accounts.json');
  fs.writeFileSync(file, JSON.stringify([{ name: 'main', baseUrl: 'https://mj.example', apiKeyEnv: 'MJ_KEY_NOT_SET_ANYWHERE', slots: 0 }]));
  const run = runCommand().exitOverride();
  const failure = run.parseAsync([MANIFEST, '--accounts', file], { from: 'user' }).then(
    () => undefined,
    (err: unknown) => err,
  );
  const err = await failure;
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).exitCode).toBe(2);
  expect((err as ConfigError).message).toBe(`accounts file ${file}: accounts[0] ("main"), slots: must be a whole number from 1 to 100`);
});

test('`run --accounts` needs no key variable on the machine that submits: a good file goes past the check', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-run-accounts-'));
  const file = path.join(dir, 'accounts.json');
  fs.writeFileSync(file, JSON.stringify([{ name: 'main', baseUrl: 'https://mj.example', apiKeyEnv: 'MJ_KEY_NOT_SET_ANYWHERE', slots: 3 }]));
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    // The next step reads the manifest: a missing one is its error (exit 2 for "not found"), not the accounts'.
    await runCommand()
      .exitOverride()
      .parseAsync([path.join(dir, 'missing.csv'), '--accounts', file], { from: 'user' });
    expect(process.exitCode).toBe(2);
    expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toMatch(/^mj-batch: cannot read the manifest: /);
  } finally {
    stderr.mockRestore();
    process.exitCode = undefined;
  }
});
