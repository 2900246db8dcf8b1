import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ENV_ONLY_KEYS, FILE_KEYS } from '../../config/config';
import { SETTINGS } from '../../config/settings';
import { runCli } from '../integration/cli';

const SECRETS = {
  TEMPORAL_API_KEY: 'tmprl-api-key-0123456789abcdefghij',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRET',
  MJ_API_KEY: 'sk-mj-9876543210zyxwvutsrq',
  MJ_CALLBACK_SECRET: 'cb-path-secret-5551212',
};

/** Every mj-batch variable blanked (empty means unset), so the developer's own environment cannot leak into the results. */
function cleanEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  return { ...Object.fromEntries([...FILE_KEYS, ...ENV_ONLY_KEYS].map((k) => [k, ''])), ...vars };
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mj-config-cli-'));
}

test('config --json: values and sources from env, file and defaults, and no secret anywhere in the output', async () => {
  const cwd = tempDir();
  fs.writeFileSync(
    path.join(cwd, 'mj-batch.config.json'),
    JSON.stringify({
      TEMPORAL_ADDRESS: 'file.example:7233',
      S3_BUCKET: 'file-bucket',
      MJ_BASE_URL: 'https://mj.example',
      MJ_CALLBACK_SECRET: SECRETS.MJ_CALLBACK_SECRET,
    }),
  );
  const env = cleanEnv({
    TEMPORAL_ADDRESS: 'env.example:7233',
    TEMPORAL_API_KEY: SECRETS.TEMPORAL_API_KEY,
    AWS_SECRET_ACCESS_KEY: SECRETS.AWS_SECRET_ACCESS_KEY,
    AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    MJ_API_KEY: SECRETS.MJ_API_KEY,
    MJ_BATCH_TASK_QUEUE: 'q1',
  });
  const run = await runCli(['config', '--json'], { cwd, env });
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const out = JSON.parse(run.stdout);
  expect(out.configFile).toBe(fs.realpathSync(path.join(cwd, 'mj-batch.config.json')));
  expect(out.stackFile).toBeNull();
  expect(out.settings).toMatchObject({
    TEMPORAL_ADDRESS: { value: 'env.example:7233', source: 'env' },
    TEMPORAL_NAMESPACE: { value: 'default', source: 'default' },
    TEMPORAL_TLS: { value: true },
    TEMPORAL_API_KEY: { value: 'tmpr…(34 chars)', source: 'env' },
    S3_BUCKET: { value: 'file-bucket', source: 'file' },
    S3_REGION: { value: 'us-east-1', source: 'default' },
    AWS_ACCESS_KEY_ID: { value: 'AKIA…MPLE', source: 'env' },
    MJ_BASE_URL: { value: 'https://mj.example', source: 'file' },
    MJ_CALLBACK_SECRET: { value: 'cb-p…(22 chars)', source: 'file' },
    MJ_BATCH_TASK_QUEUE: { value: 'q1', source: 'env' },
    MJ_BATCH_STACK_DIR: { value: path.join(fs.realpathSync(cwd), '.mj-batch'), source: 'default' },
  });
  const human = await runCli(['config'], { cwd, env });
  expect(human.code).toBe(0);
  expect(human.stdout).toMatch(/^ {2}TEMPORAL_ADDRESS +env\.example:7233 +env$/m);
  expect(human.stdout).toMatch(/^ {2}S3_BUCKET +file-bucket +file$/m);
  for (const secret of Object.values(SECRETS)) {
    for (const text of [run.stdout, run.stderr, human.stdout, human.stderr]) expect(text).not.toContain(secret);
  }
});

test('an invalid config file: exit 2 with the file and the reason, in text and JSON', async () => {
  const cwd = tempDir();
  const file = path.join(cwd, 'mj-batch.config.json');
  fs.writeFileSync(file, JSON.stringify({ S3_BUCKETT: 'x' }));
  const text = await runCli(['config'], { cwd, env: cleanEnv({}) });
  expect(text.code).toBe(2);
  expect(text.stderr).toContain(`unknown setting "S3_BUCKETT" (did you mean S3_BUCKET?)`);
  expect(text.stderr).toContain(fs.realpathSync(file));
  fs.writeFileSync(file, '{"S3_BUCKET": ');
  const json = await runCli(['config', '--json'], { cwd, env: cleanEnv({}) });
  expect(json.code).toBe(2);
  expect(JSON.parse(json.stdout).error).toMatch(/^config file .*mj-batch\.config\.json: invalid JSON/);
});

test('MJ_BATCH_CONFIG naming a missing file, and a TLS file that cannot be read: exit 2', async () => {
  const cwd = tempDir();
  const missing = await runCli(['config'], { cwd, env: cleanEnv({ MJ_BATCH_CONFIG: 'prod.json' }) });
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/prod\.json: no such file \(named by MJ_BATCH_CONFIG\)/);
  fs.writeFileSync(path.join(cwd, 'client.pem'), 'crt');
  const tls = await runCli(['config', '--json'], {
    cwd,
    env: cleanEnv({ TEMPORAL_TLS_CERT: 'client.pem', TEMPORAL_TLS_KEY: 'client.key' }),
  });
  expect(tls.code).toBe(2);
  const out = JSON.parse(tls.stdout);
  expect(out.settings.TEMPORAL_TLS).toEqual({ value: true, source: 'default' });
  expect(out.error).toMatch(/^TEMPORAL_TLS_KEY: cannot read .*client\.key: no such file$/);
});

test('a bad value, from the environment or the file: exit 2 with the setting and what it accepts, in text and JSON', async () => {
  const cwd = tempDir();
  const json = await runCli(['config', '--json'], { cwd, env: cleanEnv({ MJ_IMAGE_MAX_BYTES: 'abc' }) });
  expect(json.code).toBe(2);
  expect(JSON.parse(json.stdout)).toEqual({
    error: 'MJ_IMAGE_MAX_BYTES: "abc" is not a whole number (accepts a whole number >= 1), in the environment',
  });
  const text = await runCli(['config'], { cwd, env: cleanEnv({ TEMPORAL_TLS: 'maybe' }) });
  expect(text.code).toBe(2);
  expect(text.stderr).toContain(
    'TEMPORAL_TLS: "maybe" is not a yes/no value (accepts 1/0, true/false, yes/no or on/off), in the environment',
  );
  const file = path.join(cwd, 'mj-batch.config.json');
  fs.writeFileSync(file, JSON.stringify({ MJ_AUTH_HEADER: 'nope' }));
  const fromFile = await runCli(['config', '--json'], { cwd, env: cleanEnv({}) });
  expect(fromFile.code).toBe(2);
  expect(JSON.parse(fromFile.stdout).error).toBe(
    `MJ_AUTH_HEADER: "nope" is not one of the choices (accepts bearer, mj-api-secret), in config file ${fs.realpathSync(file)}`,
  );
});

test('run refuses a bad MJ_ACCOUNT_SLOTS (exit 2) instead of quietly turning the shared limit off', async () => {
  const run = await runCli(['run', 'no-such-manifest.csv'], { cwd: tempDir(), env: cleanEnv({ MJ_ACCOUNT_SLOTS: 'abc' }) });
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('MJ_ACCOUNT_SLOTS: "abc" is not a whole number (accepts a whole number >= 0), in the environment');
});

test('config --json lists every setting of the table, with typed values', async () => {
  const run = await runCli(['config', '--json'], {
    cwd: tempDir(),
    env: cleanEnv({ MJ_IMAGE_HOSTS: 'a.example,b.example', MJ_QUEUE_AHEAD: '4', MJ_CALLBACKS: 'off' }),
  });
  expect(run.code).toBe(0);
  const { settings } = JSON.parse(run.stdout);
  expect(Object.keys(settings).sort()).toEqual(SETTINGS.map((s) => s.name).sort());
  expect(settings).toMatchObject({
    MJ_IMAGE_HOSTS: { value: 'a.example,b.example', source: 'env' },
    MJ_QUEUE_AHEAD: { value: 4, source: 'env' },
    MJ_CALLBACKS: { value: false, source: 'env' },
    MJ_ACCOUNT_SLOTS: { value: 3, source: 'default' },
    MJ_BATCH_ACTIVITY_CONCURRENCY: { value: 50, source: 'default' },
    MJ_AUTH_HEADER: { value: 'bearer', source: 'default' },
  });
});
