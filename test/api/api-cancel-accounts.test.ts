// cancelApiJobs over two accounts (two simulators, their own keys): each job is cancelled through the account its
// journal names, a journal without an account means the default one, and an account the CLI lacks is reported.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { createAccountClients } from '../../client/account-clients';
import { cancelApiJobs } from '../../client/api-cancel';
import { loadAccounts } from '../../config/accounts';
import { loadConfig } from '../../config/config';
import { rowJobKey } from '../../contracts/bucket-layout';
import { RowKeyKey } from '../../contracts/search-attributes';
import { MjClient } from '../../mj-client';
import { startSimulator } from '../../simulator/server';
import type { JournalEntry } from '../../storage/job-journal';
import { FakeS3 } from '../unit/fake-s3';

const PREFIX = 'out/cancel-accounts';
const BUCKET = 'b';

/** The visibility list and describe calls cancelApiJobs makes: these rows, all closed already. */
function closedRows(rows: string[]): Client {
  return {
    workflow: {
      list: () =>
        (async function* () {
          for (const key of rows) yield { typedSearchAttributes: { get: (k: unknown) => (k === RowKeyKey ? key : undefined) } };
        })(),
      getHandle: () => ({ describe: async () => ({ status: { name: 'CANCELED' } }) }),
    },
  } as unknown as Client;
}

test('each queued job is cancelled at its own account; a job on an account the CLI lacks is reported, not sent elsewhere', async () => {
  // One slot each at real speed: the first job runs for a while, the second waits in the queue.
  const simA = await startSimulator({ speed: 1, concurrency: 1, apiKey: 'sk-account-a' });
  const simB = await startSimulator({ speed: 1, concurrency: 1, apiKey: 'sk-account-b' });
  const direct = [new MjClient({ baseUrl: simA.url, apiKey: 'sk-account-a' }), new MjClient({ baseUrl: simB.url, apiKey: 'sk-account-b' })];
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-cancel-accounts-'));
  fs.writeFileSync(
    path.join(cwd, 'accounts.json'),
    JSON.stringify([
      { name: 'A', baseUrl: simA.url, apiKeyEnv: 'MJ_KEY_A', slots: 1 },
      { name: 'B', baseUrl: simB.url, apiKeyEnv: 'MJ_KEY_B', slots: 1 },
    ]),
  );
  const config = loadConfig({ MJ_ACCOUNTS_FILE: 'accounts.json' }, cwd);
  const clients = createAccountClients(
    loadAccounts({ config, implicitName: 'unused', env: { MJ_KEY_A: 'sk-account-a', MJ_KEY_B: 'sk-account-b' } }),
    config,
  );
  try {
    const [onA, onB] = direct;
    await onA!.submitImagine({ prompt: 'A runs this one' });
    const queuedOnA = (await onA!.submitImagine({ prompt: 'A queues this one' })).taskId;
    await onB!.submitImagine({ prompt: 'B runs this one' });
    const queuedOnB = (await onB!.submitImagine({ prompt: 'B queues this one' })).taskId;

    const s3 = new FakeS3();
    const journal = (row: string, entry: Omit<JournalEntry, 'fingerprint' | 'intentAt'>) =>
      s3.put(
        rowJobKey(PREFIX, row, 'first'),
        Buffer.from(JSON.stringify({ fingerprint: `fp-${row}`, intentAt: Date.now(), ...entry })),
        BUCKET,
      );
    journal('on-b', { taskId: queuedOnB, account: 'B' });
    journal('on-default', { taskId: queuedOnA }); // written before accounts were recorded: the default account's
    journal('on-gone', { taskId: '1700000000000001', account: 'retired' });

    const report = await cancelApiJobs(
      'batch-accounts',
      { temporal: closedRows(['on-b', 'on-default', 'on-gone']), s3: s3.asClient(), bucket: BUCKET, mj: clients },
      { outputPrefix: PREFIX, rows: [], since: new Date(), settleMs: 1_000 },
    );

    expect(report.cancelled.map((j) => j.rowKey).sort()).toEqual(['on-b', 'on-default']);
    expect(report.couldNotCancel).toEqual([
      {
        taskId: '1700000000000001',
        rowKey: 'on-gone',
        reason: 'the job is on account "retired", which is not in this CLI\'s accounts (use the worker\'s accounts file)',
      },
    ]);
    expect(simB.engine.ledger().find((j) => j.id === queuedOnB)).toMatchObject({ cancelled: 'queued', charged: false });
    expect(simA.engine.ledger().find((j) => j.id === queuedOnA)).toMatchObject({ cancelled: 'queued', charged: false });
    // One cancel call each: neither API was asked to cancel the other's task.
    const fetchesOf = async (url: string) =>
      ((await (await fetch(`${url}/_sim/stats`)).json()) as { requests: { byEndpoint: Record<string, number> } }).requests.byEndpoint;
    expect((await fetchesOf(simA.url))['POST /mj/task/{id}/cancel']).toBe(1);
    expect((await fetchesOf(simB.url))['POST /mj/task/{id}/cancel']).toBe(1);
  } finally {
    await clients.close();
    for (const c of direct) await c.close();
    await simA.close();
    await simB.close();
  }
});
