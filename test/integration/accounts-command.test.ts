import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureAccountPool } from '../../client/account-pool';
import { accountPoolWorkflowId } from '../../contracts/account-pool';
import { loadAccountSpecs } from '../../config/accounts';
import { runCli } from './cli';
import { startPipeline, type Pipeline } from './pipeline-harness';

// `mj-batch accounts` as a user runs it, against the real workers: the accounts file before any batch used it,
// then the task queue's pool once it runs.
let p: Pipeline;
let accountsFile: string;

beforeAll(async () => {
  p = await startPipeline({ speed: 50 });
  accountsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-accounts-')), 'accounts.json');
  fs.writeFileSync(
    accountsFile,
    JSON.stringify([
      { name: 'alpha', baseUrl: p.sim.url, apiKeyEnv: 'MJ_KEY_ALPHA_UNSET', slots: 3, queueAhead: 1 },
      { name: 'beta', baseUrl: p.sim.url, apiKeyEnv: 'MJ_KEY_BETA_UNSET', slots: 2, modes: ['relax'], dailyJobs: 100 },
    ]),
  );
});

afterAll(async () => {
  // The pool never ends by itself, and the pipeline's stop ends only the slots workflows.
  await p?.client.workflow
    .getHandle(accountPoolWorkflowId(p.taskQueue))
    .terminate('test finished')
    .catch(() => undefined);
  await p?.stop();
});

const accounts = async (...args: string[]) => {
  const run = await runCli(['accounts', ...args], { env: p.cliEnv });
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  return run.stdout;
};

test('without a pool, the accounts file shows its accounts idle (no key needed to read it)', async () => {
  const report = JSON.parse(await accounts('--json', '--accounts', accountsFile));
  expect(report).toMatchObject({ source: 'file', taskQueue: p.taskQueue, file: accountsFile, waiting: 0 });
  expect(report.stalled).toBeUndefined();
  expect(report.accounts).toEqual([
    {
      name: 'alpha',
      status: 'idle',
      modes: ['fast', 'relax', 'turbo'],
      slots: 3,
      effectiveSlots: 3,
      queueAhead: 1,
      inUse: 0,
      jobsToday: 0,
      refusalsLastHour: 0,
    },
    {
      name: 'beta',
      status: 'idle',
      modes: ['relax'],
      slots: 2,
      effectiveSlots: 2,
      queueAhead: 0,
      inUse: 0,
      jobsToday: 0,
      dailyJobs: 100,
      refusalsLastHour: 0,
    },
  ]);
  const text = await accounts('--accounts', accountsFile);
  expect(text).toContain(`accounts file ${accountsFile}: no pool runs on task queue ${p.taskQueue} yet`);
  expect(text).toMatch(/^ {2}alpha {2}idle \(no batch has used the pool yet\) {2}in use 0\/3/m);
});

test('without a file or a pool, the single account shows idle until a batch uses its slots', async () => {
  const report = JSON.parse(await accounts('--json'));
  expect(report).toMatchObject({ source: 'slots', taskQueue: p.taskQueue, waiting: 0 });
  expect(report.accounts).toHaveLength(1);
  expect(report.accounts[0]).toMatchObject({ status: 'idle', inUse: 0 });
});

test('a bad accounts file stops the command with exit code 2, naming the file and the field', async () => {
  const bad = path.join(path.dirname(accountsFile), 'bad.json');
  fs.writeFileSync(bad, JSON.stringify([{ name: 'alpha', baseUrl: p.sim.url, apiKeyEnv: 'MJ_KEY_ALPHA_UNSET', slots: 0 }]));
  const run = await runCli(['accounts', '--json', '--accounts', bad], { env: p.cliEnv });
  expect(run.code).toBe(2);
  expect(run.stderr).toContain(`accounts file ${bad}: accounts[0] ("alpha"), slots: must be a whole number from 1 to 100`);
});

test('once the pool runs, both accounts show active with their slots, from the pool, with or without the file', async () => {
  const specs = loadAccountSpecs({ config: p.config, file: accountsFile })!;
  await ensureAccountPool(p.client, p.taskQueue, specs);

  const report = JSON.parse(await accounts('--json'));
  expect(report).toMatchObject({ source: 'pool', taskQueue: p.taskQueue, waiting: 0 });
  expect(report.stalled).toBeUndefined();
  expect(report.accounts).toEqual([
    {
      name: 'alpha',
      status: 'active',
      modes: ['fast', 'relax', 'turbo'],
      slots: 3,
      effectiveSlots: 3,
      queueAhead: 1,
      inUse: 0,
      jobsToday: 0,
      refusalsLastHour: 0,
    },
    {
      name: 'beta',
      status: 'active',
      modes: ['relax'],
      slots: 2,
      effectiveSlots: 2,
      queueAhead: 0,
      inUse: 0,
      jobsToday: 0,
      dailyJobs: 100,
      refusalsLastHour: 0,
    },
  ]);
  // The running pool wins over the file.
  expect(JSON.parse(await accounts('--json', '--accounts', accountsFile)).source).toBe('pool');

  const text = (await accounts()).split('\n');
  expect(text[0]).toBe(`pool of task queue ${p.taskQueue}: 2 account(s), 0 row(s) waiting for a slot`);
  expect(text[1]).toMatch(/^ {2}alpha {2}active {2}in use 0\/3 \(slots 3, \+1 queue-ahead\); jobs today 0; refusals in the last hour 0$/);
  expect(text[2]).toMatch(/^ {2}beta {3}active {2}in use 0\/2 \(slots 2\); jobs today 0\/100; refusals in the last hour 0; modes relax$/);
});
