// startWorkers reads the accounts before it connects to anything: a missing key or API is a ConfigError (exit 2),
// and an accounts file replaces MJ_BASE_URL and MJ_API_KEY. (What loadAccounts checks is in load.test.ts.)
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createAccountClients } from '../../../client/account-clients';
import { loadAccounts } from '../../../config/accounts';
import { ConfigError, loadConfig } from '../../../config/config';
import { startWorkers } from '../../../worker/run-worker';

const ACCOUNTS = [
  { name: 'A', baseUrl: 'https://mj-a.example', apiKeyEnv: 'MJ_KEY_A', slots: 3 },
  { name: 'B', baseUrl: 'https://mj-b.example', apiKeyEnv: 'MJ_KEY_B', slots: 3, authHeader: 'mj-api-secret', modePrefix: 'none' },
];

function folder(): string {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-worker-accounts-'));
  fs.writeFileSync(path.join(cwd, 'accounts.json'), JSON.stringify(ACCOUNTS));
  return cwd;
}

/** A port nothing listens on: reaching a connection attempt would fail differently than a ConfigError. */
const NOWHERE = { TEMPORAL_ADDRESS: '127.0.0.1:1' };

async function rejection(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

test('a key variable the accounts file names but the environment lacks stops the worker before it connects', async () => {
  const cwd = folder();
  const config = loadConfig({ ...NOWHERE, MJ_ACCOUNTS_FILE: 'accounts.json' }, cwd);
  const err = await rejection(startWorkers(config, { env: { MJ_KEY_A: 'sk-a-0123456789' } }));
  expect(err).toBeInstanceOf(ConfigError);
  expect(err.message).toBe(
    `accounts file ${path.join(cwd, 'accounts.json')}: no key for "B" (MJ_KEY_B): set that variable in the environment of the worker and the CLI`,
  );
  expect(err.message).not.toContain('sk-a-0123456789');
});

test('an explicit accounts file wins over MJ_ACCOUNTS_FILE, and without either the single-account settings are required', async () => {
  const cwd = folder();
  const config = loadConfig({ ...NOWHERE, MJ_ACCOUNTS_FILE: 'other.json' }, cwd);
  const explicit = await rejection(startWorkers(config, { accountsFile: path.join(cwd, 'accounts.json'), env: {} }));
  expect(explicit.message).toMatch(/^accounts file .*accounts\.json: no key for "A" \(MJ_KEY_A\), "B" \(MJ_KEY_B\)/);

  const none = await rejection(startWorkers(loadConfig(NOWHERE, cwd), { env: {} }));
  expect(none).toBeInstanceOf(ConfigError);
  expect(none.message).toMatch(/^no Midjourney API configured: set MJ_BASE_URL and MJ_API_KEY, or an accounts file/);
});

test('one client per account, the first the default; each sends its own key its own way, with its own mode prefix', async () => {
  // Answers every call as not found, recording how each request was authorized.
  const seen: { path: string; authorization?: string; secret?: string }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({
      path: req.url ?? '',
      authorization: req.headers.authorization,
      secret: req.headers['mj-api-secret'] as string | undefined,
    });
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 3, description: 'task not found' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-worker-accounts-'));
  fs.writeFileSync(
    path.join(cwd, 'accounts.json'),
    JSON.stringify(ACCOUNTS.map((a) => ({ ...a, baseUrl: `${base}/${a.name.toLowerCase()}` }))),
  );
  const config = loadConfig({ MJ_ACCOUNTS_FILE: 'accounts.json', MJ_MODE_PREFIX: 'plain' }, cwd);
  const accounts = loadAccounts({ config, implicitName: 'unused', env: { MJ_KEY_A: 'sk-a-0123456789', MJ_KEY_B: 'sk-b-0123456789' } });
  const clients = createAccountClients(accounts, config);
  try {
    expect([...clients.byName.keys()]).toEqual(['A', 'B']);
    expect(clients.default).toBe(clients.byName.get('A'));
    for (const client of clients.byName.values()) await client.fetchTask('1', { mode: 'relax' }).catch(() => undefined);
    expect(seen).toEqual([
      { path: '/a/relax/mj/task/1/fetch', authorization: 'Bearer sk-a-0123456789', secret: undefined },
      { path: '/b/mj/task/1/fetch', authorization: undefined, secret: 'sk-b-0123456789' },
    ]);
  } finally {
    await clients.close();
    server.close();
  }
});
