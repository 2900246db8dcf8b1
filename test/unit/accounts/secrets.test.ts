import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { describeAccounts, loadAccounts } from '../../../config/accounts';
import { loadConfig } from '../../../config/config';

// Keys live only in the worker's and the CLI's memory: what they print, log or put in a workflow input is built from
// describeAccounts, and even the loaded structure serializes without them.
const KEYS = { MJ_KEY_MAIN: 'sk-main-SECRET-0123456789abcdef', MJ_KEY_SPARE: 'sk-spare-SECRET-0123456789abcdef' };
const IMPLICIT_KEY = 'sk-implicit-SECRET-0123456789';
const ALL_KEYS = [...Object.values(KEYS), IMPLICIT_KEY];

const ACCOUNTS = [
  { name: 'main', baseUrl: 'https://mj-a.example', apiKeyEnv: 'MJ_KEY_MAIN', slots: 3, hours: '08:00-23:30', timezone: 'Europe/Berlin' },
  { name: 'spare', baseUrl: 'https://mj-b.example', apiKeyEnv: 'MJ_KEY_SPARE', slots: 12, modes: ['relax'], dailyJobs: 100 },
];

function setup(accounts: unknown) {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-secrets-'));
  fs.writeFileSync(path.join(cwd, 'accounts.json'), JSON.stringify(accounts));
  const config = loadConfig({ MJ_BASE_URL: 'https://mj.example', MJ_API_KEY: IMPLICIT_KEY }, cwd);
  return { config, cwd };
}

/** The keys any 8 characters of which are in `text` (V8's JSON errors, for one, quote the first 10). */
const leaks = (text: string) => ALL_KEYS.filter((k) => [...Array(k.length - 7).keys()].some((i) => text.includes(k.slice(i, i + 8))));

test('the loaded accounts hold the keys, and none of their descriptions or serializations do', () => {
  const { config, cwd } = setup(ACCOUNTS);
  const loaded = loadAccounts({ config, file: 'accounts.json', cwd, implicitName: 'x', env: KEYS });
  // The keys were read (so the checks below could find them if they leaked).
  expect(loaded.accounts.map((a) => a.apiKey)).toEqual(Object.values(KEYS));

  const described = describeAccounts(loaded.accounts);
  expect(described.map((d) => d.name)).toEqual(['main', 'spare']);
  expect(described.map((d) => d.apiKeyEnv)).toEqual(['MJ_KEY_MAIN', 'MJ_KEY_SPARE']);
  expect(leaks(JSON.stringify(described))).toEqual([]);
  expect(leaks(JSON.stringify({ accounts: described }))).toEqual([]);

  expect(leaks(JSON.stringify(loaded))).toEqual([]);
  expect(JSON.stringify(loaded.accounts[0])).toContain('"apiKey":"(secret)"');
  expect(leaks(inspect(loaded, { depth: 10 }))).toEqual([]);
  expect(leaks(`${String(loaded.accounts[0])} ${JSON.stringify([loaded.accounts[1]])}`)).toEqual([]);
});

test("the implicit account's description has no key either", () => {
  const { config } = setup([]);
  const loaded = loadAccounts({ config, implicitName: 'acct-x', env: {} });
  expect(loaded.accounts[0].apiKey).toBe(IMPLICIT_KEY);
  expect(leaks(JSON.stringify(describeAccounts(loaded.accounts)))).toEqual([]);
  expect(leaks(JSON.stringify(loaded))).toEqual([]);
});

test('describing returns copies: changing one changes nothing loaded', () => {
  const { config, cwd } = setup(ACCOUNTS);
  const loaded = loadAccounts({ config, file: 'accounts.json', cwd, implicitName: 'x', env: KEYS });
  const described = describeAccounts(loaded.accounts);
  described[0].slots = 99;
  described[1].modes!.push('fast');
  expect(loaded.accounts[0].spec.slots).toBe(3);
  expect(loaded.accounts[1].spec.modes).toEqual(['relax']);
});

test.each([
  ['a bad field while the keys are set', [{ ...ACCOUNTS[0], slots: 0 }, ACCOUNTS[1]], KEYS],
  ['a key pasted into the file', [{ ...ACCOUNTS[0], apiKey: KEYS.MJ_KEY_MAIN }], KEYS],
  ['a key pasted where its variable belongs', [{ ...ACCOUNTS[0], apiKeyEnv: KEYS.MJ_KEY_MAIN }], KEYS],
  ['a key in the base URL', [{ ...ACCOUNTS[0], baseUrl: `ftp://user:${KEYS.MJ_KEY_MAIN}@mj.example` }], KEYS],
  ['a missing variable', ACCOUNTS, { MJ_KEY_MAIN: KEYS.MJ_KEY_MAIN }],
  [
    'one key under two variables',
    [ACCOUNTS[0], { ...ACCOUNTS[0], name: 'copy', apiKeyEnv: 'MJ_KEY_COPY' }],
    { ...KEYS, MJ_KEY_COPY: KEYS.MJ_KEY_MAIN },
  ],
  ['invalid JSON around a pasted key', `[{"name": "main", "key": "${KEYS.MJ_KEY_MAIN}",}]`, KEYS],
  ['a bare key as the file', KEYS.MJ_KEY_MAIN, KEYS],
])('the error for %s names no key', (_what, accounts, env) => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-secrets-'));
  fs.writeFileSync(path.join(cwd, 'accounts.json'), typeof accounts === 'string' ? accounts : JSON.stringify(accounts));
  const config = loadConfig({}, cwd);
  let message: string | undefined;
  try {
    loadAccounts({ config, file: 'accounts.json', cwd, implicitName: 'x', env });
  } catch (err) {
    message = (err as Error).message;
  }
  expect(message).toMatch(/^accounts file /);
  expect(leaks(message!)).toEqual([]);
});
