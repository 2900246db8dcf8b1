import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { accountOf } from '../../../client/account-slots';
import { accountsFileOf, loadAccounts, loadAccountSpecs, type LoadAccountsOptions } from '../../../config/accounts';
import { ConfigError, loadConfig } from '../../../config/config';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-accounts-'));
}

const MAIN = { name: 'main', baseUrl: 'https://mj-a.example', apiKeyEnv: 'MJ_KEY_MAIN', slots: 3 };
const SPARE = { name: 'spare', baseUrl: 'https://mj-b.example/api', apiKeyEnv: 'MJ_KEY_SPARE', slots: 12 };
const KEYS = { MJ_KEY_MAIN: 'sk-main-0123456789abcdef', MJ_KEY_SPARE: 'sk-spare-0123456789abcdef' };

/** An accounts file in a fresh folder, and the config (from `env`) of that folder. */
function withAccounts(content: unknown, env: NodeJS.ProcessEnv = {}) {
  const cwd = tempDir();
  const file = path.join(cwd, 'accounts.json');
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  const config = loadConfig({ MJ_ACCOUNTS_FILE: 'accounts.json', ...env }, cwd);
  return { cwd, file, config, opts: { config, implicitName: 'unused', env: KEYS, cwd } satisfies LoadAccountsOptions };
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('without an accounts file', () => {
  test("today's settings are one account, named as the shared slots already name it", () => {
    const env = {
      MJ_BASE_URL: 'https://mj.example',
      MJ_API_KEY: 'sk-implicit-0123456789abcdef',
      MJ_SLOTS: '5',
      MJ_QUEUE_AHEAD: '1',
      MJ_AUTH_HEADER: 'mj-api-secret',
      MJ_MODE_PREFIX: 'plain',
    };
    const config = loadConfig(env, tempDir());
    const loaded = loadAccounts({ config, implicitName: accountOf(config.mj), env: {} });
    expect(loaded.file).toBeUndefined();
    expect(loaded.accounts).toHaveLength(1);
    const [account] = loaded.accounts;
    expect(account.spec).toEqual({
      name: accountOf(config.mj),
      baseUrl: 'https://mj.example',
      apiKeyEnv: 'MJ_API_KEY',
      slots: 5,
      queueAhead: 1,
      modes: ['fast', 'relax', 'turbo'],
      authHeader: 'mj-api-secret',
      modePrefix: 'plain',
      timezone: 'UTC',
      weight: 1,
    });
    expect(account.spec.name).toMatch(/^acct-[0-9a-f]{12}$/);
    expect(account.apiKey).toBe('sk-implicit-0123456789abcdef');

    const named = loadConfig({ ...env, MJ_ACCOUNT: 'team a' }, tempDir());
    expect(loadAccounts({ config: named, implicitName: accountOf(named.mj) }).accounts[0].spec.name).toBe('team_a');
  });

  test('with no API configured it is an error saying what to set', () => {
    const config = loadConfig({}, tempDir());
    expect(accountsFileOf({ config })).toBeUndefined();
    const err = errorOf(() => loadAccounts({ config, implicitName: 'x' }));
    expect(err.message).toMatch(/^no Midjourney API configured: set MJ_BASE_URL and MJ_API_KEY, or an accounts file \(MJ_ACCOUNTS_FILE\)/);
    expect(err.exitCode).toBe(2);
  });
});

describe('the accounts file', () => {
  test('is read with its defaults filled in and each key from its variable', () => {
    const { file, opts } = withAccounts(
      [MAIN, { ...SPARE, modes: ['relax'], hours: '22:00-06:00', timezone: 'Asia/Shanghai', dailyJobs: 200 }],
      {
        MJ_AUTH_HEADER: 'mj-api-secret',
      },
    );
    const loaded = loadAccounts(opts);
    expect(loaded.file).toBe(file);
    expect(loaded.accounts.map((a) => a.spec)).toEqual([
      {
        ...MAIN,
        queueAhead: 0,
        modes: ['fast', 'relax', 'turbo'],
        authHeader: 'mj-api-secret',
        modePrefix: 'auto',
        timezone: 'UTC',
        weight: 1,
      },
      {
        ...SPARE,
        queueAhead: 0,
        modes: ['relax'],
        authHeader: 'mj-api-secret',
        modePrefix: 'auto',
        hours: '22:00-06:00',
        timezone: 'Asia/Shanghai',
        dailyJobs: 200,
        weight: 1,
      },
    ]);
    expect(loaded.accounts.map((a) => a.apiKey)).toEqual([KEYS.MJ_KEY_MAIN, KEYS.MJ_KEY_SPARE]);
  });

  test('keeps every optional field it is given', () => {
    const full = {
      ...MAIN,
      queueAhead: 2,
      modes: ['fast', 'turbo'],
      authHeader: 'bearer',
      modePrefix: 'mj-dash',
      dailyJobs: 1,
      hours: '08:00-23:30',
      timezone: 'Europe/Berlin',
      minGapMs: 1500,
      jitterMs: 0,
      weight: 0.5,
    };
    expect(loadAccounts(withAccounts([full]).opts).accounts[0].spec).toEqual(full);
  });

  test('in the config file is relative to the config file; in the environment, to the working directory; --accounts wins', () => {
    const cwd = tempDir();
    fs.mkdirSync(path.join(cwd, 'conf'));
    fs.writeFileSync(path.join(cwd, 'conf', 'mj.json'), JSON.stringify({ MJ_ACCOUNTS_FILE: 'accounts.json' }));
    fs.writeFileSync(path.join(cwd, 'conf', 'accounts.json'), JSON.stringify([MAIN]));
    fs.writeFileSync(path.join(cwd, 'other.json'), JSON.stringify([SPARE]));

    const fromFile = loadConfig({ MJ_BATCH_CONFIG: 'conf/mj.json' }, cwd);
    expect(fromFile.accountsFile).toBe(path.join(cwd, 'conf', 'accounts.json'));
    expect(fromFile.sources.MJ_ACCOUNTS_FILE).toBe('file');
    expect(loadAccounts({ config: fromFile, implicitName: 'x', env: KEYS }).accounts.map((a) => a.spec.name)).toEqual(['main']);

    const fromEnv = loadConfig({ MJ_BATCH_CONFIG: 'conf/mj.json', MJ_ACCOUNTS_FILE: 'other.json' }, cwd);
    expect(fromEnv.accountsFile).toBe(path.join(cwd, 'other.json'));

    const flag = loadAccounts({ config: fromFile, file: 'other.json', cwd, implicitName: 'x', env: KEYS });
    expect(flag.file).toBe(path.join(cwd, 'other.json'));
    expect(flag.accounts.map((a) => a.spec.name)).toEqual(['spare']);
  });

  test('that cannot be read, or is not a JSON array of accounts, is refused naming the file', () => {
    const cwd = tempDir();
    const config = loadConfig({}, cwd);
    const missing = errorOf(() => loadAccounts({ config, file: 'nope.json', cwd, implicitName: 'x' }));
    expect(missing.message).toBe(`accounts file ${path.join(cwd, 'nope.json')}: no such file (named by --accounts)`);
    expect(missing.exitCode).toBe(2);

    const viaSetting = withAccounts([MAIN]);
    fs.rmSync(viaSetting.file);
    expect(errorOf(() => loadAccounts(viaSetting.opts)).message).toMatch(/no such file \(named by MJ_ACCOUNTS_FILE\)$/);

    const { file, opts } = withAccounts('[{"name": "main",}]');
    expect(errorOf(() => loadAccounts(opts)).message).toMatch(new RegExp(`^accounts file ${file}: invalid JSON`));
    expect(errorOf(() => loadAccounts(withAccounts({ accounts: [MAIN] }).opts)).message).toMatch(/: must be a JSON array of accounts/);
    expect(errorOf(() => loadAccounts(withAccounts([]).opts)).message).toMatch(/: lists no accounts$/);
    expect(errorOf(() => loadAccounts(withAccounts([MAIN, 'spare']).opts)).message).toMatch(/: accounts\[1\]: must be a JSON object$/);
  });

  test.each([
    [{ name: 'has space' }, 'accounts[0], name: "has space" must be 1 to 64 letters, digits, ".", "_" or "-"'],
    [{ name: 'x'.repeat(65) }, 'accounts[0], name: '],
    [{ baseUrl: 'ftp://mj.example' }, '("main"), baseUrl: must be an http:// or https:// URL'],
    [{ baseUrl: 'not a url' }, '("main"), baseUrl: must be an http:// or https:// URL'],
    [{ apiKeyEnv: 'sk-live-123' }, '("main"), apiKeyEnv: must be the name of an environment variable'],
    [{ slots: 0 }, '("main"), slots: must be a whole number from 1 to 100'],
    [{ slots: 101 }, '("main"), slots: must be a whole number from 1 to 100'],
    [{ slots: 2.5 }, '("main"), slots: must be a whole number from 1 to 100'],
    [{ slots: '3' }, '("main"), slots: must be a whole number from 1 to 100'],
    [{ slots: undefined }, '("main"), slots: is required'],
    [{ queueAhead: -1 }, '("main"), queueAhead: must be a whole number from 0 to 100'],
    [{ queueAhead: 101 }, '("main"), queueAhead: must be a whole number from 0 to 100'],
    [{ modes: [] }, '("main"), modes: must name at least one mode'],
    [{ modes: ['fast', 'slow'] }, '("main"), modes[1]: may hold only "fast", "relax" and "turbo"'],
    [{ modes: ['fast', 'fast'] }, '("main"), modes: names a mode twice'],
    [{ modes: 'fast' }, '("main"), modes: must be a list of modes'],
    [{ authHeader: 'basic' }, '("main"), authHeader: must be "bearer" or "mj-api-secret"'],
    [{ modePrefix: 'dash' }, '("main"), modePrefix: must be "auto", "mj-dash", "plain" or "none"'],
    [{ dailyJobs: 0 }, '("main"), dailyJobs: must be a whole number >= 1'],
    [{ hours: '8-23' }, '("main"): hours "8-23" is not HH:MM-HH:MM'],
    [{ hours: '08:00-08:00' }, '("main"): hours "08:00-08:00" opens and closes at the same time'],
    [{ timezone: 'Mars/Olympus' }, '("main"), timezone: "Mars/Olympus" is not a time zone'],
    [{ minGapMs: -5 }, '("main"), minGapMs: must be a whole number >= 0'],
    [{ jitterMs: 0.5 }, '("main"), jitterMs: must be a whole number >= 0'],
    [{ weight: 0 }, '("main"), weight: must be a number > 0'],
    [{ weight: '1' }, '("main"), weight: must be a number > 0'],
    [{ colour: 'blue' }, '("main"): unknown field "colour" (fields: name, baseUrl, apiKeyEnv, slots,'],
    [{ apiKey: 'sk-live-123' }, '("main"): unknown field "apiKey" (keys never go in the file: put the key in an environment variable'],
  ])('a bad field (%j) is refused naming the file, the account and the field', (change, message) => {
    const { file, opts } = withAccounts([{ ...MAIN, ...change }]);
    const err = errorOf(() => loadAccounts(opts));
    expect(err.message.startsWith(`accounts file ${file}: accounts[0]`)).toBe(true);
    expect(err.message).toContain(message);
    expect(err.exitCode).toBe(2);
  });

  test('every problem of every account is listed at once', () => {
    const { opts } = withAccounts([MAIN, { ...SPARE, slots: 0, weight: -1 }, { name: 'third' }]);
    const lines = errorOf(() => loadAccounts(opts)).message.split('\n');
    expect(lines[0]).toMatch(/: 5 problems:$/);
    expect(lines.slice(1)).toEqual([
      '  accounts[1] ("spare"), slots: must be a whole number from 1 to 100',
      '  accounts[1] ("spare"), weight: must be a number > 0',
      '  accounts[2] ("third"), baseUrl: is required',
      '  accounts[2] ("third"), apiKeyEnv: is required',
      '  accounts[2] ("third"), slots: is required',
    ]);
  });

  test('names are unique', () => {
    const { opts } = withAccounts([MAIN, { ...SPARE, name: 'main' }]);
    expect(errorOf(() => loadAccounts(opts)).message).toMatch(/: accounts\[1\] \("main"\), name: accounts\[0\] already has this name/);
  });

  test('one account listed twice (the same URL and key) is refused: it would get twice its slots', () => {
    const sameVar = withAccounts([MAIN, { ...MAIN, name: 'again', baseUrl: 'https://mj-a.example/' }]);
    expect(errorOf(() => loadAccounts(sameVar.opts)).message).toMatch(
      /accounts\[1\] \("again"\): the same baseUrl and apiKeyEnv as accounts\[0\] \("main"\)/,
    );
    const sameKey = withAccounts([MAIN, { ...MAIN, name: 'again', apiKeyEnv: 'MJ_KEY_COPY' }]);
    const err = errorOf(() => loadAccounts({ ...sameKey.opts, env: { ...KEYS, MJ_KEY_COPY: KEYS.MJ_KEY_MAIN } }));
    expect(err.message).toMatch(/"again" \(MJ_KEY_COPY\) and "main" \(MJ_KEY_MAIN\) hold the same key for the same baseUrl/);
    // The same key on another server is another account.
    const otherUrl = withAccounts([MAIN, { ...MAIN, name: 'elsewhere', baseUrl: 'https://mj-c.example' }]);
    expect(loadAccounts(otherUrl.opts).accounts).toHaveLength(2);
  });

  test('a key variable that is unset or empty is an error naming the accounts and variables', () => {
    const { file, opts } = withAccounts([MAIN, SPARE]);
    const err = errorOf(() => loadAccounts({ ...opts, env: { MJ_KEY_MAIN: KEYS.MJ_KEY_MAIN, MJ_KEY_SPARE: '  ' } }));
    expect(err.message).toBe(
      `accounts file ${file}: no key for "spare" (MJ_KEY_SPARE): set that variable in the environment of the worker and the CLI`,
    );
    expect(errorOf(() => loadAccounts({ ...opts, env: {} })).message).toMatch(
      /no key for "main" \(MJ_KEY_MAIN\), "spare" \(MJ_KEY_SPARE\): set those variables/,
    );
  });

  test('keys come from process.env when no env is given', () => {
    const { opts } = withAccounts([MAIN]);
    process.env.MJ_KEY_MAIN = 'sk-from-process-env-0123456789';
    try {
      expect(loadAccounts({ ...opts, env: undefined }).accounts[0].apiKey).toBe('sk-from-process-env-0123456789');
    } finally {
      delete process.env.MJ_KEY_MAIN;
    }
  });
});

test('the specs alone are checked the same way and need no key', () => {
  expect(loadAccountSpecs({ config: loadConfig({}, tempDir()) })).toBeUndefined();
  const { opts } = withAccounts([MAIN, SPARE]);
  expect(loadAccountSpecs(opts)!.map((s) => [s.name, s.queueAhead])).toEqual([
    ['main', 0],
    ['spare', 0],
  ]);
  expect(() => loadAccounts({ ...opts, env: {} })).toThrow(/no key for/);
  const bad = withAccounts([{ ...MAIN, slots: 0 }]);
  expect(errorOf(() => loadAccountSpecs(bad.opts)).message).toMatch(
    /accounts\[0\] \("main"\), slots: must be a whole number from 1 to 100$/,
  );
});
