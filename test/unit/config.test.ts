import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { addBatchOptions, type RunFlags } from '../../cli/run-command';
import { accountOf } from '../../client/account-slots';
import { concurrencyOf } from '../../client/options';
import { temporalUiUrl } from '../../client/summary';
import { ConfigError, ENV_ONLY_KEYS, FILE_KEYS, loadConfig, type ConfigKey } from '../../config/config';
import { downloadPolicyFrom } from '../../config/media';
import { parseValue, SETTINGS, settingOf } from '../../config/settings';
import { DEFAULT_DOWNLOAD_POLICY } from '../../media/download';
import { writeStackState, type StackState } from '../../stack/state';

const REPO = path.resolve(__dirname, '..', '..');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-config-'));
}

const stack: StackState = {
  version: 1,
  temporal: { external: false, address: '127.0.0.1:17233', namespace: 'default', uiUrl: 'http://127.0.0.1:18233' },
  s3: {
    external: false,
    endpoint: 'http://127.0.0.1:17070',
    region: 'us-east-1',
    bucket: 'stack-bucket',
    accessKeyId: 'dev-key',
    secretAccessKey: 'dev-secret',
  },
};

test('with nothing configured and no stack, defaults apply', () => {
  const cwd = tempDir();
  const c = loadConfig({}, cwd);
  expect(c.temporal).toMatchObject({ address: 'localhost:7233', namespace: 'default', source: 'default', tls: false });
  expect(c.s3).toMatchObject({ bucket: 'mj-batch', region: 'us-east-1', source: 'default', endpoint: undefined, forcePathStyle: false });
  expect(c.stackDir).toBe(path.join(cwd, '.mj-batch'));
});

test('a running local stack supplies the endpoints and its development credentials', () => {
  const cwd = tempDir();
  writeStackState(path.join(cwd, '.mj-batch'), stack);
  const c = loadConfig({}, cwd);
  expect(c.temporal).toMatchObject({ address: '127.0.0.1:17233', source: 'stack' });
  expect(c.s3).toMatchObject({
    endpoint: 'http://127.0.0.1:17070',
    bucket: 'stack-bucket',
    accessKeyId: 'dev-key',
    secretAccessKey: 'dev-secret',
    forcePathStyle: true,
    source: 'stack',
  });
});

test('environment variables win over the stack, and an external S3 never gets the stack credentials', () => {
  const cwd = tempDir();
  writeStackState(path.join(cwd, '.mj-batch'), stack);
  const c = loadConfig(
    { TEMPORAL_ADDRESS: 'temporal.example:7233', TEMPORAL_NAMESPACE: 'prod', S3_ENDPOINT: 'https://r2.example', S3_BUCKET: 'real' },
    cwd,
  );
  expect(c.temporal).toMatchObject({ address: 'temporal.example:7233', namespace: 'prod', source: 'env' });
  expect(c.s3).toMatchObject({ endpoint: 'https://r2.example', bucket: 'real', source: 'env' });
  expect(c.s3.accessKeyId).toBeUndefined();
  expect(c.s3.secretAccessKey).toBeUndefined();
});

test('empty variables count as unset', () => {
  const cwd = tempDir();
  writeStackState(path.join(cwd, '.mj-batch'), stack);
  const c = loadConfig({ TEMPORAL_ADDRESS: '', S3_ENDPOINT: '' }, cwd);
  expect(c.temporal.address).toBe('127.0.0.1:17233');
  expect(c.s3.endpoint).toBe('http://127.0.0.1:17070');
});

test('an API key turns TLS on unless TEMPORAL_TLS says otherwise', () => {
  const cwd = tempDir();
  expect(loadConfig({ TEMPORAL_API_KEY: 'k' }, cwd).temporal.tls).toBe(true);
  expect(loadConfig({ TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' }, cwd).temporal.tls).toBe(false);
});

test('MJ_BATCH_STACK_DIR moves the stack folder', () => {
  const cwd = tempDir();
  const elsewhere = tempDir();
  writeStackState(elsewhere, stack);
  expect(loadConfig({ MJ_BATCH_STACK_DIR: elsewhere }, cwd).temporal.address).toBe('127.0.0.1:17233');
});

describe('the settings table: every value is checked, and parsed to its type', () => {
  const withFile = (values: Record<string, unknown>): { cwd: string; file: string } => {
    const cwd = tempDir();
    const file = path.join(cwd, 'mj-batch.config.json');
    fs.writeFileSync(file, JSON.stringify(values));
    return { cwd, file };
  };
  const messageOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).exitCode).toBe(2);
      return (err as Error).message;
    }
    throw new Error('expected a ConfigError');
  };

  // One bad value per type that has any (string and path settings take any text); `accepts` is what the message must say.
  const bad: [ConfigKey, string, string][] = [
    ['MJ_IMAGE_MAX_BYTES', 'abc', 'is not a whole number (accepts a whole number >= 1)'],
    ['MJ_BATCH_MEDIA_CONCURRENCY', '0', 'is out of range (accepts a whole number >= 1)'],
    ['MJ_BATCH_ACTIVITY_CONCURRENCY', '2.5', 'is not a whole number (accepts a whole number >= 1)'],
    ['MJ_AUTH_HEADER', 'nope', 'is not one of the choices (accepts bearer, mj-api-secret)'],
    ['MJ_MODE_PREFIX', 'fast', 'is not one of the choices (accepts auto, mj-dash, plain, none)'],
    ['TEMPORAL_TLS', 'maybe', 'is not a yes/no value (accepts 1/0, true/false, yes/no or on/off)'],
    ['MJ_CALLBACKS', '2', 'is not a yes/no value (accepts 1/0, true/false, yes/no or on/off)'],
    ['MJ_BASE_URL', 'mj.example.com', 'is not a URL (accepts an http:// or https:// URL)'],
    ['S3_ENDPOINT', 'ftp://s3.example', 'is not an http(s) URL (accepts an http:// or https:// URL)'],
    ['TEMPORAL_ADDRESS', 'http://temporal:7233', 'is not host:port'],
    ['MJ_CALLBACK_LISTEN', '0.0.0.0:99999', 'is not host:port'],
    ['MJ_IMAGE_HOSTS', 'a.example, b example', 'is not a comma-separated list'],
  ];

  test.each(bad)(
    '%s=%s is refused from the environment and from the file, naming the setting, the value and what it accepts',
    (key, value, why) => {
      expect(messageOf(() => loadConfig({ [key]: value }, tempDir()))).toContain(`${key}: ${JSON.stringify(value)} ${why}`);
      expect(messageOf(() => loadConfig({ [key]: value }, tempDir()))).toMatch(/, in the environment$/);
      const { cwd, file } = withFile({ [key]: value });
      expect(messageOf(() => loadConfig({}, cwd))).toBe(
        messageOf(() => loadConfig({ [key]: value }, tempDir())).replace('in the environment', `in config file ${file}`),
      );
    },
  );

  test('the exact wording, for MJ_IMAGE_MAX_BYTES=abc', () => {
    expect(messageOf(() => loadConfig({ MJ_IMAGE_MAX_BYTES: 'abc' }, tempDir()))).toBe(
      'MJ_IMAGE_MAX_BYTES: "abc" is not a whole number (accepts a whole number >= 1), in the environment',
    );
  });

  test('environment-only whole numbers: a bad MJ_ACCOUNT_SLOTS no longer turns the shared limit off', () => {
    expect(messageOf(() => loadConfig({ MJ_ACCOUNT_SLOTS: 'abc' }, tempDir()))).toContain(
      'MJ_ACCOUNT_SLOTS: "abc" is not a whole number (accepts a whole number >= 0)',
    );
    expect(messageOf(() => loadConfig({ MJ_SLOTS: '0' }, tempDir()))).toContain(
      'MJ_SLOTS: "0" is out of range (accepts a whole number >= 1)',
    );
    expect(messageOf(() => loadConfig({ MJ_QUEUE_AHEAD: '-1' }, tempDir()))).toContain(
      'MJ_QUEUE_AHEAD: "-1" is out of range (accepts a whole number >= 0)',
    );
    expect(messageOf(() => loadConfig({}, withFile({ MJ_ACCOUNT_SLOTS: 2 }).cwd))).toMatch(
      /MJ_ACCOUNT_SLOTS can only be set in the environment/,
    );
  });

  test("a secret's bad value is never echoed", () => {
    const secretNumber = { ...settingOf('MJ_IMAGE_MAX_BYTES')!, secret: true };
    const message = messageOf(() => parseValue(secretNumber, 'hunter2-not-a-number', 'the environment'));
    expect(message).toBe('MJ_IMAGE_MAX_BYTES: (secret) is not a whole number (accepts a whole number >= 1), in the environment');
    expect(message).not.toContain('hunter2');
  });

  test('valid values parse to typed values, from the environment and the file', () => {
    for (const [text, value] of [
      ['1', true],
      ['TRUE', true],
      ['Yes', true],
      ['on', true],
      ['0', false],
      ['false', false],
      ['NO', false],
      ['Off', false],
    ] as const) {
      expect(loadConfig({ S3_FORCE_PATH_STYLE: text }, tempDir()).s3.forcePathStyle).toBe(value);
    }
    const c = loadConfig(
      {
        MJ_IMAGE_MAX_BYTES: '1048576',
        MJ_AUTH_HEADER: 'mj-api-secret',
        MJ_MODE_PREFIX: 'mj-dash',
        MJ_IMAGE_HOSTS: 'cdn.example, *.discordapp.net,',
        MJ_CALLBACK_LISTEN: ':7090',
        TEMPORAL_ADDRESS: 'temporal.example',
        MJ_IMAGE_ALLOW_PRIVATE: 'no',
        MJ_BATCH_MEDIA_CONCURRENCY: '3',
      },
      withFile({ MJ_BATCH_ACTIVITY_CONCURRENCY: 20, MJ_CALLBACKS: 'off', TEMPORAL_TLS: true }).cwd,
    );
    expect(c.worker).toEqual({
      callbacks: false,
      callbackListen: { host: '127.0.0.1', port: 7090 },
      callbackPublicUrl: undefined,
      callbackSecret: undefined,
      mediaConcurrency: 3,
      activityConcurrency: 20,
      imageHosts: ['cdn.example', '*.discordapp.net'],
      imageAllowPrivate: false,
      imageMaxBytes: 1048576,
      // Sized from this process's heap limit (test/unit/workflow-cache.test.ts checks the sizing).
      maxCachedWorkflows: expect.any(Number),
    });
    expect(c.mj).toMatchObject({ auth: 'mj-api-secret', modePrefix: 'mj-dash' });
    expect(c.temporal).toMatchObject({ address: 'temporal.example', tls: true });
    expect(c.values).toMatchObject({
      MJ_IMAGE_MAX_BYTES: 1048576,
      MJ_CALLBACKS: false,
      TEMPORAL_TLS: true,
      MJ_IMAGE_HOSTS: ['cdn.example', '*.discordapp.net'],
    });
  });

  test('defaults, and the account slots: MJ_ACCOUNT_SLOTS, else MJ_SLOTS, else 3', () => {
    const cwd = tempDir();
    const c = loadConfig({}, cwd);
    expect(c.worker).toMatchObject({
      callbacks: true,
      callbackListen: { host: '127.0.0.1', port: 0 },
      activityConcurrency: 50,
      imageHosts: [],
      imageMaxBytes: DEFAULT_DOWNLOAD_POLICY.maxBytes,
    });
    expect(c.worker.mediaConcurrency).toBeGreaterThanOrEqual(1);
    expect(c.account).toEqual({ slots: 3, apiSlots: 3, queueAhead: 2, maxQueueAhead: 8 });
    expect(c.logFile).toBe(path.join(cwd, '.mj-batch', 'logs', 'mj-batch.log'));
    expect(loadConfig({ MJ_SLOTS: '5' }, cwd).account).toEqual({ slots: 5, apiSlots: 5, queueAhead: 2, maxQueueAhead: 8 });
    expect(loadConfig({ MJ_SLOTS: '4', MJ_ACCOUNT_SLOTS: '0', MJ_QUEUE_AHEAD: '0', MJ_MAX_QUEUE_AHEAD: '0' }, cwd).account).toEqual({
      slots: 0,
      apiSlots: 4,
      queueAhead: 0,
      maxQueueAhead: 0,
    });
    expect(concurrencyOf({ accountSlots: 0, queueAhead: 1, apiSlots: 4 })).toBe(5);
    expect(concurrencyOf({ accountSlots: 2, queueAhead: 1, apiSlots: 4 })).toBe(6);
    // Shared slots whose queue-ahead may grow: rows enough for the most it may grow to; without them it never grows.
    expect(concurrencyOf({ accountSlots: 2, queueAhead: 1, maxQueueAhead: 5, apiSlots: 4 })).toBe(14);
    expect(concurrencyOf({ accountSlots: 2, queueAhead: 3, maxQueueAhead: 1 })).toBe(10);
    expect(concurrencyOf({ accountSlots: 0, queueAhead: 1, maxQueueAhead: 5, apiSlots: 4 })).toBe(5);
  });

  test('the image download policy comes from the configuration; private addresses only for a local API unless set', () => {
    const local = loadConfig({ MJ_BASE_URL: 'http://127.0.0.1:7080' }, tempDir());
    expect(downloadPolicyFrom(local).allowPrivate).toBe(true);
    expect(
      downloadPolicyFrom(loadConfig({ MJ_BASE_URL: 'http://127.0.0.1:7080', MJ_IMAGE_ALLOW_PRIVATE: 'off' }, tempDir())).allowPrivate,
    ).toBe(false);
    const remote = loadConfig({ MJ_BASE_URL: 'https://mj.example', MJ_IMAGE_HOSTS: 'cdn.example', MJ_IMAGE_MAX_BYTES: '10' }, tempDir());
    expect(downloadPolicyFrom(remote)).toMatchObject({ allowPrivate: false, allowHosts: ['cdn.example'], maxBytes: 10 });
    expect(downloadPolicyFrom({ ...remote, mj: { ...remote.mj, baseUrl: 'http://localhost:1' } }).allowPrivate).toBe(true);
  });

  test('MJ_ACCOUNT and TEMPORAL_UI_URL reach their readers through the configuration', () => {
    const c = loadConfig({ MJ_ACCOUNT: 'team/a', TEMPORAL_UI_URL: 'https://ui.example/' }, tempDir());
    expect(accountOf(c.mj)).toBe('team_a');
    expect(temporalUiUrl(c)).toBe('https://ui.example');
    expect(accountOf(loadConfig({}, tempDir()).mj)).toMatch(/^acct-[0-9a-f]{12}$/);
  });

  test('--account-slots and --queue-ahead default from the checked environment; the command line wins', async () => {
    const saved = { ...process.env };
    const parse = async (argv: string[], env: Record<string, string>) => {
      Object.assign(
        process.env,
        {
          MJ_BATCH_CONFIG: '',
          MJ_BATCH_STACK_DIR: tempDir(),
          MJ_ACCOUNT_SLOTS: '',
          MJ_SLOTS: '',
          MJ_QUEUE_AHEAD: '',
          MJ_MAX_QUEUE_AHEAD: '',
        },
        env,
      );
      let flags: RunFlags | undefined;
      await addBatchOptions(new Command('t').exitOverride())
        .action((f: RunFlags) => void (flags = f))
        .parseAsync(argv, { from: 'user' });
      return flags!;
    };
    try {
      expect(await parse([], {})).toMatchObject({ accountSlots: 3, queueAhead: 2, maxQueueAhead: 8, apiSlots: 3 });
      expect(await parse(['--max-queue-ahead', '4'], { MJ_MAX_QUEUE_AHEAD: '6' })).toMatchObject({ maxQueueAhead: 4 });
      expect(await parse([], { MJ_MAX_QUEUE_AHEAD: '6' })).toMatchObject({ maxQueueAhead: 6 });
      const noLimit = await parse([], { MJ_ACCOUNT_SLOTS: '0', MJ_SLOTS: '4', MJ_QUEUE_AHEAD: '1' });
      expect(noLimit).toMatchObject({ accountSlots: 0, queueAhead: 1, apiSlots: 4 });
      expect(concurrencyOf(noLimit)).toBe(5);
      expect(await parse(['--account-slots', '6', '--queue-ahead', '0'], { MJ_ACCOUNT_SLOTS: '2', MJ_QUEUE_AHEAD: '3' })).toMatchObject({
        accountSlots: 6,
        queueAhead: 0,
      });
      await expect(parse([], { MJ_ACCOUNT_SLOTS: 'abc' })).rejects.toThrow(
        'MJ_ACCOUNT_SLOTS: "abc" is not a whole number (accepts a whole number >= 0), in the environment',
      );
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });

  test('the key lists come from the table: each setting once, file keys and environment-only keys apart', () => {
    const names = SETTINGS.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    expect([...FILE_KEYS, ...ENV_ONLY_KEYS].sort()).toEqual([...names].sort());
    expect(ENV_ONLY_KEYS).toEqual(
      expect.arrayContaining([
        'MJ_BATCH_CONFIG',
        'MJ_BATCH_STACK_DIR',
        'MJ_BATCH_LOG_FILE',
        'MJ_BATCH_CACHE_DIR',
        'MJ_SLOTS',
        'MJ_ACCOUNT_SLOTS',
        'MJ_QUEUE_AHEAD',
        'MJ_MAX_QUEUE_AHEAD',
      ]),
    );
    for (const s of SETTINGS)
      if (s.type.kind === 'enum') expect(s.default === undefined || (s.type.values as readonly string[]).includes(s.default)).toBe(true);
  });

  test('the README settings table documents exactly the table', () => {
    const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1));
    const documented = section
      .split('\n')
      .filter((l) => /^\| `/.test(l))
      .flatMap((l) => [...l.split('|')[1].matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]));
    expect([...documented].sort()).toEqual(SETTINGS.map((s) => s.name).sort());
  });
});

test('no source file outside config/ (and stack/, bench/, scripts/, test/, simulator/) reads a setting from process.env', () => {
  const skip = new Set(['node_modules', 'dist', '.git', 'config', 'stack', 'bench', 'scripts', 'test', 'simulator', 'test-artifacts']);
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && !skip.has(e.name) && !e.name.startsWith('.')) walk(path.join(dir, e.name));
      else if (e.isFile() && e.name.endsWith('.ts')) files.push(path.join(dir, e.name));
    }
  };
  walk(REPO);
  expect(files.length).toBeGreaterThan(20);
  // A direct read, or process.env handed on (`env = process.env`, `?? process.env`) to be read under another name.
  const direct = /process\.env(?:\.|\[\s*['"`])(?:MJ_|TEMPORAL_|S3_|AWS_(?:REGION|ACCESS_KEY_ID|SECRET_ACCESS_KEY)\b)/;
  const handedOn = /(?:[=:(,]|\?\?)\s*process\.env\b(?!\.)/;
  const offenders = files.flatMap((file) =>
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .map((line, i) => ({ line: line.replace(/\/\/.*$|^\s*\*.*$/, ''), at: `${path.relative(REPO, file)}:${i + 1}` }))
      .filter(({ line }) => direct.test(line) || handedOn.test(line))
      .map(({ at }) => at),
  );
  expect(offenders).toEqual([]);
});
