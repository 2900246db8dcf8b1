// The MJ activities over two accounts, as the worker builds them from an accounts file: two simulators with their own
// keys, a job journal in an in-memory S3. Each call goes to the account its input names, and only there.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { createMjActivities, type SubmitJobInput } from '../../activities/mj';
import { createAccountClients } from '../../client/account-clients';
import { loadAccounts } from '../../config/accounts';
import { loadConfig } from '../../config/config';
import { FailureType } from '../../contracts/failures';
import { createDownloadDispatcher, DEFAULT_DOWNLOAD_POLICY } from '../../media/download';
import { MjClient } from '../../mj-client';
import { startSimulator, type RunningSimulator } from '../../simulator/server';
import { fingerprintOf, journalKey, readJournal, writeJournal } from '../../storage/job-journal';
import { FakeS3 } from '../unit/fake-s3';

const BUCKET = 'b';
const dispatcher = createDownloadDispatcher(DEFAULT_DOWNLOAD_POLICY);
let simA: RunningSimulator;
let simB: RunningSimulator;
let clients: ReturnType<typeof createAccountClients>;

beforeAll(async () => {
  simA = await startSimulator({ speed: 100, apiKey: 'sk-account-a' });
  simB = await startSimulator({ speed: 100, apiKey: 'sk-account-b' });
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-account-clients-'));
  fs.writeFileSync(
    path.join(cwd, 'accounts.json'),
    JSON.stringify([
      { name: 'A', baseUrl: simA.url, apiKeyEnv: 'MJ_KEY_A', slots: 3 },
      { name: 'B', baseUrl: simB.url, apiKeyEnv: 'MJ_KEY_B', slots: 3 },
    ]),
  );
  // No MJ_BASE_URL or MJ_API_KEY: the accounts file is all the worker needs.
  const config = loadConfig({ MJ_ACCOUNTS_FILE: 'accounts.json' }, cwd);
  const accounts = loadAccounts({ config, implicitName: 'unused', env: { MJ_KEY_A: 'sk-account-a', MJ_KEY_B: 'sk-account-b' } });
  clients = createAccountClients(accounts, config);
});

afterAll(async () => {
  await clients.close();
  await dispatcher.close();
  await simA.close();
  await simB.close();
});

function activities(s3 = new FakeS3()) {
  return createMjActivities({ clients, s3: s3.asClient(), bucket: BUCKET, downloadPolicy: DEFAULT_DOWNLOAD_POLICY, dispatcher });
}

const imagine = (state: string, extra: Pick<SubmitJobInput, 'account' | 'journal'> = {}): SubmitJobInput => ({
  op: 'new',
  kind: 'imagine',
  prompt: `a lighthouse for ${state}`,
  images: [],
  state,
  policy: 'at-most-once',
  callbacks: false,
  ...extra,
});

const states = (sim: RunningSimulator) => sim.engine.ledger().map((j) => j.state);

/** API requests the simulator has answered (its admin routes are not counted). */
async function apiRequests(sim: RunningSimulator): Promise<number> {
  const stats = (await (await fetch(`${sim.url}/_sim/stats`)).json()) as { requests: { byEndpoint: Record<string, number> } };
  return Object.values(stats.requests.byEndpoint).reduce((a, b) => a + b, 0);
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

test("a submit naming account B lands in B's ledger only, and fetchTask with that account reads it from B", async () => {
  const mj = activities();
  const submitted = await mj.submitJob(imagine('row-b', { account: 'B' }));
  expect(states(simB)).toContain('row-b');
  expect(states(simA)).not.toContain('row-b');

  const fromB = await mj.fetchTask({ taskId: submitted.taskId, account: 'B' });
  expect(fromB.taskId).toBe(submitted.taskId);
  // The default account (A, the file's first) has never heard of B's task.
  const fromDefault = await failureOf(mj.fetchTask({ taskId: submitted.taskId }));
  expect(fromDefault.type).toBe('Mj.task-not-found');
});

test('an input without an account goes to the default account, the first in the file', async () => {
  const mj = activities();
  const submitted = await mj.submitJob(imagine('row-default'));
  expect(states(simA)).toContain('row-default');
  expect(states(simB)).not.toContain('row-default');
  expect((await mj.fetchTask({ taskId: submitted.taskId })).taskId).toBe(submitted.taskId);
  expect((await mj.fetchTask({ taskId: submitted.taskId, account: 'A' })).taskId).toBe(submitted.taskId);
});

test('an account this worker does not know fails before any request, to the API or to S3', async () => {
  const s3 = new FakeS3();
  const mj = activities(s3);
  const before = [await apiRequests(simA), await apiRequests(simB)];
  const journal = { outputPrefix: 'out/unknown', rowKey: 'row-c' };

  for (const call of [
    mj.submitJob(imagine('row-c', { account: 'C', journal })),
    mj.fetchTask({ taskId: '1700000000000001', account: 'C' }),
  ]) {
    const failure = await failureOf(call);
    expect(failure.type).toBe(FailureType.account);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.details).toEqual(['unknown-account', 'this worker has no account named "C" (start it with the same accounts file)']);
  }
  expect([await apiRequests(simA), await apiRequests(simB)]).toEqual(before);
  expect(s3.gets.size).toBe(0);
  expect(s3.objects.size).toBe(0);
});

test("the journal records the account, and a retry adopts the job through that account's client", async () => {
  const s3 = new FakeS3();
  const mj = activities(s3);
  const journal = { outputPrefix: 'out/journal', rowKey: 'row-j' };
  const input = imagine('row-j', { account: 'B', journal });
  const first = await mj.submitJob(input);
  const entry = await readJournal(s3.asClient(), BUCKET, journalKey(journal, { op: 'new' }));
  expect(entry).toMatchObject({ taskId: first.taskId, account: 'B' });

  const requestsToA = await apiRequests(simA);
  const again = await mj.submitJob(input);
  expect(again).toMatchObject({ taskId: first.taskId, adopted: true });
  expect(states(simB).filter((s) => s === 'row-j')).toHaveLength(1);
  expect(await apiRequests(simA)).toBe(requestsToA);
});

test("a submit that never heard back is looked for in the named account's task list", async () => {
  const s3 = new FakeS3();
  const mj = activities(s3);
  const journal = { outputPrefix: 'out/intent', rowKey: 'row-i' };
  const input = imagine('row-i', { account: 'B', journal });
  const prompt = 'a lighthouse for row-i';
  // An earlier attempt recorded its intent, and its job reached B; its answer was lost.
  await writeJournal(s3.asClient(), BUCKET, journalKey(journal, { op: 'new' }), {
    fingerprint: fingerprintOf(['imagine', prompt, [], null]),
    intentAt: Date.now() - 1000,
    account: 'B',
  });
  const direct = new MjClient({ baseUrl: simB.url, apiKey: 'sk-account-b' });
  const lost = await direct.submitImagine({ prompt, state: 'row-i' });
  await direct.close();

  const requestsToA = await apiRequests(simA);
  const adopted = await mj.submitJob(input);
  expect(adopted).toMatchObject({ taskId: lost.taskId, adopted: true });
  expect(states(simB).filter((s) => s === 'row-i')).toHaveLength(1);
  expect(await apiRequests(simA)).toBe(requestsToA);
});

test('a re-run whose lease is on another account adopts the job where the journal says it went, and says which', async () => {
  const s3 = new FakeS3();
  const mj = activities(s3);
  const journal = { outputPrefix: 'out/moved', rowKey: 'row-m' };
  const first = await mj.submitJob(imagine('row-m', { account: 'B', journal }));
  // The next run's pool granted the row's lease on A: the job is looked for on B, not paid for again on A.
  const requestsToA = await apiRequests(simA);
  const again = await mj.submitJob(imagine('row-m', { account: 'A', journal }));
  expect(again).toEqual({ taskId: first.taskId, modal: false, queued: expect.any(Boolean), adopted: true, account: 'B' });
  expect(states(simB).filter((s) => s === 'row-m')).toHaveLength(1);
  expect(states(simA).filter((s) => s === 'row-m')).toHaveLength(0);
  expect(await apiRequests(simA)).toBe(requestsToA);
});
