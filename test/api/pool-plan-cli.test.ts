import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ENV_ONLY_KEYS, FILE_KEYS } from '../../config/config';
import { runCli } from '../integration/cli';

// Durations (manifest/forecast.ts): a fast grid 45 s, an upscale 4 s.

/** Every mj-batch variable blanked, and the servers pointed at a closed port: nothing can be started for real. */
const ENV: NodeJS.ProcessEnv = {
  ...Object.fromEntries([...FILE_KEYS, ...ENV_ONLY_KEYS].map((k) => [k, ''])),
  S3_ENDPOINT: 'http://127.0.0.1:9',
  TEMPORAL_ADDRESS: '127.0.0.1:9',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
};

function workDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-pool-cli-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

const fastRows = (n: number) =>
  ['id,prompt,mode', ...Array.from({ length: n }, (_, i) => `r${i + 1},prompt ${i + 1},fast`)].join('\n') + '\n';
const account = (name: string, slots: number, more: object = {}) => ({
  name,
  baseUrl: `https://${name}.example`,
  apiKeyEnv: `${name}_KEY`,
  slots,
  ...more,
});

test('validate --accounts --deadline --json: the pool forecast by hand, with a cap, a window and a mode nobody serves', async () => {
  // A: fast only, 3 slots, 6 jobs a day. B: fast and relax, 1 slot, open 01:00-09:00 UTC. Start 00:00 UTC.
  // 0 s: B closed -> r1..r3 on A. 45 s: r4..r6 on A (6 jobs: its cap). 90 s: A capped until tomorrow, B still closed.
  // 01:00: r7 on B, then one row every 45 s: r12 starts at 3600 + 5 × 45 = 3825 s and ends at 3870 s = 01:04:30.
  // r13 is turbo: neither account serves it. The keys' variables are unset: validate pays nothing and needs none.
  const dir = workDir({
    'm.csv': `${fastRows(12)}r13,prompt 13,turbo\n`,
    'accounts.json': JSON.stringify([
      account('A', 3, { modes: ['fast'], dailyJobs: 6 }),
      account('B', 1, { modes: ['fast', 'relax'], hours: '01:00-09:00' }),
    ]),
  });
  const args = ['validate', 'm.csv', '--accounts', 'accounts.json', '--timezone', 'UTC', '--start', '2026-03-02T00:00:00Z'];
  const run = await runCli([...args, '--deadline', '07:00', '--json'], { cwd: dir, env: ENV });
  expect(run.code).toBe(0);
  const out = JSON.parse(run.stdout);
  // Every key validate printed before is still there, as it was.
  expect(out).toMatchObject({ valid: true, rows: 13, forecast: { paidJobs: { total: 13, byMode: { fast: 12, turbo: 1 } }, slots: 3 } });
  expect(out.pool).toMatchObject({
    startAt: '2026-03-02T00:00:00.000Z',
    finishAt: '2026-03-02T01:04:30.000Z',
    durationSeconds: 3870,
    deadline: '2026-03-02T07:00:00.000Z',
    meetsDeadline: true,
    // 7 h = 25200 s, less 3870 s.
    marginSeconds: 21330,
    missBySeconds: null,
    timezone: 'UTC',
    paidJobs: { total: 12, byMode: { fast: 12 }, byAccount: { A: 6, B: 6 } },
    unservable: [{ line: 14, key: 'r13', mode: 'turbo', jobs: 1, reason: 'no account serves turbo' }],
  });
  expect(out.pool.accounts).toEqual([
    expect.objectContaining({
      name: 'A',
      jobs: 6,
      busySeconds: 270,
      pauses: [{ reason: 'dailyJobs', from: '2026-03-02T00:01:30.000Z', until: '2026-03-03T00:00:00.000Z' }],
    }),
    expect.objectContaining({
      name: 'B',
      jobs: 6,
      busySeconds: 270,
      pauses: [{ reason: 'hours', from: '2026-03-02T00:00:00.000Z', until: '2026-03-02T01:00:00.000Z' }],
    }),
  ]);
  expect(out.pool.schedule).toBeUndefined();

  // A deadline at 01:00 is missed by 3870 - 3600 = 270 s; the text says so, and lists the row no account runs.
  const text = await runCli([...args, '--deadline', '01:00'], { cwd: dir, env: ENV });
  expect(text.code).toBe(0);
  expect(text.stdout).toContain('  finish      2026-03-02 01:04:30 UTC (after 1 h 4 min 30 s)');
  expect(text.stdout).toContain('  deadline    2026-03-02 01:00:00 UTC: missed by 4 min 30 s');
  expect(text.stdout).toContain('    line 14 (turbo, 1 job(s)): no account serves turbo');
  expect(text.stdout).toContain('daily cap reached 2026-03-02 00:01:30 UTC to 2026-03-03 00:00:00 UTC');
});

test('validate --deadline HH:MM plans from now: the next such time after the start', async () => {
  // A: 3 slots, B: 1 slot, no hours or caps: 12 fast rows run in 3 waves of 4 every 45 s, 135 s in all.
  const dir = workDir({ 'm.csv': fastRows(12), 'accounts.json': JSON.stringify([account('A', 3), account('B', 1)]) });
  const run = await runCli(['validate', 'm.csv', '--accounts', 'accounts.json', '--deadline', '07:00', '--timezone', 'UTC', '--json'], {
    cwd: dir,
    env: ENV,
  });
  expect(run.code).toBe(0);
  const { pool } = JSON.parse(run.stdout);
  const start = Date.parse(pool.startAt);
  const today7 = Date.UTC(new Date(start).getUTCFullYear(), new Date(start).getUTCMonth(), new Date(start).getUTCDate(), 7);
  const deadline = today7 > start ? today7 : today7 + 86_400_000;
  expect(pool.deadline).toBe(new Date(deadline).toISOString());
  expect(pool.durationSeconds).toBe(135);
  expect(Date.parse(pool.finishAt) - start).toBe(135_000);
  expect(pool.paidJobs.byAccount).toEqual({ A: 9, B: 3 });
  const margin = deadline - Date.parse(pool.finishAt);
  expect(pool).toMatchObject(
    margin >= 0
      ? { meetsDeadline: true, marginSeconds: Math.floor(margin / 1000), missBySeconds: null }
      : { meetsDeadline: false, missBySeconds: Math.ceil(-margin / 1000), marginSeconds: null },
  );
});

test('validate refuses a deadline or time zone it cannot read', async () => {
  const dir = workDir({ 'm.csv': fastRows(1) });
  const bad = await runCli(['validate', 'm.csv', '--deadline', '7am'], { cwd: dir, env: ENV });
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain('"7am" is not a time: use HH:MM');
  const zone = await runCli(['validate', 'm.csv', '--deadline', '07:00', '--timezone', 'Mars/Olympus'], { cwd: dir, env: ENV });
  expect(zone.code).not.toBe(0);
  expect(zone.stderr).toContain('unknown time zone "Mars/Olympus"');
});

test('run --deadline refuses (exit 7, nothing started) a batch that cannot make it; --force goes past the check', async () => {
  // Today's one account with --account-slots 1: 12 fast rows one after another, 12 × 45 = 540 s; the deadline is in 60 s.
  // The plan names the account as its slots workflow does (MJ_ACCOUNT).
  const dir = workDir({ 'm.csv': fastRows(12) });
  const deadline = new Date(Date.now() + 60_000).toISOString();
  const args = ['run', 'm.csv', '--account-slots', '1', '--queue-ahead', '0', '--deadline', deadline];
  const env = { ...ENV, MJ_ACCOUNT: 'team-main' };
  const refused = await runCli([...args, '--json'], { cwd: dir, env });
  expect(refused.code).toBe(7);
  const out = JSON.parse(refused.stdout);
  expect(out.error).toMatch(/^the batch cannot finish by .*: its last job would end at .*, .* after the deadline$/);
  expect(out.pool).toMatchObject({ durationSeconds: 540, meetsDeadline: false, paidJobs: { byAccount: { 'team-main': 12 } } });
  expect(out.pool.accounts[0].slots).toBe(1);
  // Refused before anything touched a server: no connection error, in text either.
  const text = await runCli(args, { cwd: dir, env: ENV });
  expect(text.code).toBe(7);
  expect(text.stderr).toContain('nothing was started (--force starts it anyway)');
  expect(text.stderr).not.toContain('ECONNREFUSED');

  // --force: warned, then on to storing the manifest, which fails against the closed port (not the deadline check).
  const forced = await runCli([...args, '--force'], { cwd: dir, env: ENV });
  expect(forced.code).not.toBe(7);
  expect(forced.stderr).toContain('starting anyway (--force)');
  expect(forced.stderr).toContain('ECONNREFUSED');

  // A deadline the plan makes is no obstacle: no warning, straight on to the servers.
  const later = await runCli(['run', 'm.csv', '--account-slots', '1', '--deadline', new Date(Date.now() + 3_600_000).toISOString()], {
    cwd: dir,
    env: ENV,
  });
  expect(later.code).not.toBe(7);
  expect(later.stderr).not.toContain('cannot finish');
  expect(later.stderr).toContain('ECONNREFUSED');
});

test('validate --deadline without --accounts: one account of --slots; a bad accounts file is exit 2 with the reason', async () => {
  // 12 fast rows on 2 slots: 6 waves of 45 s = 270 s, from 22:00 to 22:04:30; the deadline at 22:04 is missed by 30 s.
  const dir = workDir({ 'm.csv': fastRows(12), 'object.json': JSON.stringify({ accounts: [account('A', 3)] }) });
  const run = await runCli(
    ['validate', 'm.csv', '--slots', '2', '--start', '2026-03-02T22:00', '--deadline', '22:04', '--timezone', 'Europe/Paris', '--json'],
    { cwd: dir, env: ENV },
  );
  expect(run.code).toBe(0);
  expect(JSON.parse(run.stdout).pool).toMatchObject({
    startAt: '2026-03-02T21:00:00.000Z', // 22:00 in Paris (UTC+1 in March, before summer time)
    finishAt: '2026-03-02T21:04:30.000Z',
    deadline: '2026-03-02T21:04:00.000Z',
    meetsDeadline: false,
    missBySeconds: 30,
    timezone: 'Europe/Paris',
    // The implicit account is named as its slots workflow is (accountOf: MJ_ACCOUNT, else a hash of URL and key).
    accounts: [
      expect.objectContaining({ name: expect.stringMatching(/^acct-[0-9a-f]{12}$/), slots: 2, rows: 12, jobs: 12, busySeconds: 540 }),
    ],
  });
  const bad = await runCli(['validate', 'm.csv', '--accounts', 'object.json'], { cwd: dir, env: ENV });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('object.json: must be a JSON array of accounts');
});

test('run --deadline plans over MJ_ACCOUNTS_FILE: rows no account serves are refused too', async () => {
  // The only account serves relax; every row is fast: however early the deadline, the batch cannot finish.
  const dir = workDir({ 'm.csv': fastRows(2), 'accounts.json': JSON.stringify([account('R', 2, { modes: ['relax'] })]) });
  const env = { ...ENV, MJ_ACCOUNTS_FILE: path.join(dir, 'accounts.json') };
  const refused = await runCli(['run', 'm.csv', '--deadline', new Date(Date.now() + 86_400_000).toISOString(), '--json'], {
    cwd: dir,
    env,
  });
  expect(refused.code).toBe(7);
  const out = JSON.parse(refused.stdout);
  expect(out.error).toMatch(
    /cannot finish by .*: 2 row\(s\) no account can run \(line 2: no account serves fast; line 3: no account serves fast\)$/,
  );
  expect(out.pool).toMatchObject({
    meetsDeadline: true,
    paidJobs: { total: 0 },
    accounts: [expect.objectContaining({ name: 'R', rows: 0 })],
  });
});

test('run --accounts FILE --deadline: refused with exit 7 when late, and --accounts wins over MJ_ACCOUNTS_FILE', async () => {
  // 12 fast rows over A (3 slots) and B (1 slot): 4 rows a wave of 45 s, 3 waves = 135 s from now.
  const dir = workDir({
    'm.csv': fastRows(12),
    'accounts.json': JSON.stringify([account('A', 3), account('B', 1)]),
    'other.json': JSON.stringify([account('Z', 12)]),
  });
  const env = { ...ENV, MJ_ACCOUNTS_FILE: path.join(dir, 'other.json') };
  const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
  const late = await runCli(['run', 'm.csv', '--accounts', 'accounts.json', '--deadline', inSeconds(90), '--json'], { cwd: dir, env });
  expect(late.code).toBe(7);
  const out = JSON.parse(late.stdout);
  expect(out.error).toMatch(/cannot finish by .*: its last job would end at .*, \d+ s after the deadline$/);
  expect(out.pool).toMatchObject({ meetsDeadline: false, durationSeconds: 135 });
  expect(out.pool.accounts.map((a: { name: string; rows: number }) => [a.name, a.rows])).toEqual([
    ['A', 9],
    ['B', 3],
  ]);
  // In time, run goes past the plan to start the batch, and fails on the closed Temporal port instead.
  const inTime = await runCli(['run', 'm.csv', '--accounts', 'accounts.json', '--deadline', inSeconds(3600), '--json'], { cwd: dir, env });
  expect(inTime.code).not.toBe(7);
  expect(inTime.code).not.toBe(0);
  expect(inTime.stdout + inTime.stderr).not.toContain('cannot finish by');
});

test('run with an accounts file refuses rows whose mode no account serves (exit 1, nothing started)', async () => {
  const rows = ['id,prompt,mode', 'a,a chair,fast', 'b,a lamp,relax', 'c,a rug,', 'd,a vase,turbo'].join('\n') + '\n';
  const dir = workDir({ 'm.csv': rows, 'accounts.json': JSON.stringify([account('F', 3, { modes: ['fast'] })]) });
  const refused = await runCli(['run', 'm.csv', '--accounts', 'accounts.json', '--json'], { cwd: dir, env: ENV });
  expect(refused.code).toBe(1);
  const out = JSON.parse(refused.stdout);
  expect(out.error).toBe('2 row(s) ask for a mode no account of the accounts file serves (fast); nothing was started');
  expect(out.errors).toEqual([
    { line: 3, field: 'mode', message: 'no account serves relax' },
    { line: 5, field: 'mode', message: 'no account serves turbo' },
  ]);
  // Every row served (one without a mode runs anywhere): on to storing the manifest, which meets the closed port.
  const served = workDir({
    'm.csv': 'id,prompt,mode\na,a chair,fast\nc,a rug,\n',
    'accounts.json': JSON.stringify([account('F', 3, { modes: ['fast'] })]),
  });
  const started = await runCli(['run', 'm.csv', '--accounts', 'accounts.json'], { cwd: served, env: ENV });
  expect(started.stderr).not.toContain('no account of the accounts file serves');
  expect(started.stderr).toContain('ECONNREFUSED');
});
