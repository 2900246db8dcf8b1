// cancelApiJobs against the in-process simulator, with the rows' job journals in an in-memory S3 and a stand-in for
// the Temporal visibility calls it makes (the real ones are covered by test/integration/cancel-queued.test.ts).
import type { Client } from '@temporalio/client';
import { cancelApiJobs, NO_CANCEL_ROUTE } from '../../client/api-cancel';
import { rowJobKey } from '../../contracts/bucket-layout';
import { RowKeyKey } from '../../contracts/search-attributes';
import { MjClient } from '../../mj-client';
import { CANCEL_REASON } from '../../simulator/engine';
import { FakeS3 } from '../unit/fake-s3';
import { admin, withSimulator as withSim, type Target } from './targets';

const PREFIX = 'out/cancel';
const BUCKET = 'b';

function journal(s3: FakeS3, rowKey: string, name: string, taskId?: string): void {
  const entry = { fingerprint: `fp-${rowKey}-${name}`, intentAt: Date.parse('2025-01-01T00:00:00Z'), ...(taskId ? { taskId } : {}) };
  s3.put(rowJobKey(PREFIX, rowKey, name), Buffer.from(JSON.stringify(entry)), BUCKET);
}

/** The visibility list and describe calls cancelApiJobs makes; `onDescribe` runs before each describe answers. */
function temporalWith(rows: string[], running: Set<string>, onDescribe: (row: string) => void = () => undefined): Client {
  return {
    workflow: {
      list: () =>
        (async function* () {
          for (const key of rows) yield { typedSearchAttributes: { get: (k: unknown) => (k === RowKeyKey ? key : undefined) } };
        })(),
      getHandle: (workflowId: string) => ({
        describe: async () => {
          const row = workflowId.slice(workflowId.indexOf('/') + 1);
          onDescribe(row);
          return { status: { name: running.has(row) ? 'RUNNING' : 'CANCELED' } };
        },
      }),
    },
  } as unknown as Client;
}

const ledger = async (t: Target) =>
  (await admin(t, '/_sim/jobs')).body as { id: string; status: string; charged: boolean; cancelled: string | null }[];

test('cancels the queued jobs, leaves the running one (and says why), knows the finished one, and catches a late submit', async () => {
  await withSim('plus', { speed: 1, concurrency: 1 }, async (t, c) => {
    const running = (await c.submitImagine({ prompt: 'row a runs' })).taskId;
    const queued = (await c.submitImagine({ prompt: 'row b waits' })).taskId;
    const done = (await c.submitImagine({ prompt: 'row c was cancelled before' })).taskId;
    await c.cancelTask(done);
    const late = (await c.submitImagine({ prompt: 'row d, answered after the first pass' })).taskId;
    for (let i = 0; i < 200 && (await c.fetchTask(running)).status === 'NOT_START'; i++) await new Promise((r) => setTimeout(r, 20));

    const s3 = new FakeS3();
    journal(s3, 'a', 'first', running);
    journal(s3, 'b', 'first', queued);
    journal(s3, 'c', 'first', done);
    journal(s3, 'd', 'first'); // the submit is in flight: its answer is not recorded yet
    journal(s3, 'e', 'first'); // a submit that never got an answer
    const open = new Set(['a', 'b', 'c', 'd', 'e']);
    // The rows close once cancelled; row d's submit records its task id as it ends.
    const temporal = temporalWith([...open], open, (row) => {
      if (row === 'd') journal(s3, 'd', 'first', late);
      open.delete(row);
    });

    const report = await cancelApiJobs(
      'batch-1',
      { temporal, s3: s3.asClient(), bucket: BUCKET, mj: c },
      { outputPrefix: PREFIX, rows: ['a'], since: new Date(), settleMs: 5_000 },
    );

    expect(report.cancelled.map((j) => j.taskId).sort()).toEqual([queued, late].sort());
    expect(report.cancelled.find((j) => j.taskId === late)?.rowKey).toBe('d');
    expect(report.alreadyFinished).toEqual([{ taskId: done, rowKey: 'c', status: 'FAILURE' }]);
    expect(report.couldNotCancel).toEqual([
      expect.objectContaining({ taskId: running, rowKey: 'a', reason: expect.stringMatching(/already running at Midjourney/) }),
      expect.objectContaining({ taskId: null, rowKey: 'e', reason: expect.stringMatching(/no recorded answer/) }),
    ]);
    expect(report.rows).toBe(5);
    const jobs = await ledger(t);
    for (const id of [queued, late]) expect(jobs.find((j) => j.id === id)).toMatchObject({ cancelled: 'queued', charged: false });
    expect(jobs.find((j) => j.id === running)).toMatchObject({ cancelled: null, charged: true });
    expect((await c.fetchTask(queued)).failReason).toBe(CANCEL_REASON);
  });
});

test('behind a gateway: every waiting job is reported with "the API has no cancel route", after one call', async () => {
  await withSim('gateway', { speed: 1, concurrency: 1 }, async (t) => {
    const mj = new MjClient({ baseUrl: t.baseUrl, apiKey: t.apiKey });
    try {
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await mj.submitImagine({ prompt: `gateway row ${i}` })).taskId);
      const s3 = new FakeS3();
      ids.forEach((id, i) => journal(s3, `r${i}`, 'first', id));
      const report = await cancelApiJobs(
        'batch-2',
        { temporal: temporalWith(['r0', 'r1', 'r2'], new Set()), s3: s3.asClient(), bucket: BUCKET, mj },
        { outputPrefix: PREFIX, rows: [], since: new Date(), concurrency: 1 },
      );
      expect(report.cancelled).toEqual([]);
      expect(report.couldNotCancel.map((j) => [j.taskId, j.reason])).toEqual(ids.map((id) => [id, NO_CANCEL_ROUTE]));
      const stats = (await admin(t, '/_sim/stats')).body;
      expect(stats.requests.byEndpoint['POST /mj/task/{id}/cancel']).toBe(1);
      expect(stats.cancelled).toEqual({ queued: 0, running: 0, modal: 0 });
    } finally {
      await mj.close();
    }
  });
});

test("a refusal is reported with the API's own words, and nothing is cancelled", async () => {
  await withSim('plus', { speed: 1, concurrency: 1, plusKeyRole: 'user' }, async (t, c) => {
    await c.submitImagine({ prompt: 'runs' });
    const queued = (await c.submitImagine({ prompt: 'waits' })).taskId;
    const s3 = new FakeS3();
    journal(s3, 'q', 'first', queued);
    const report = await cancelApiJobs(
      'batch-3',
      { temporal: temporalWith(['q'], new Set()), s3: s3.asClient(), bucket: BUCKET, mj: c },
      { outputPrefix: PREFIX, rows: [], since: new Date() },
    );
    expect(report.couldNotCancel).toEqual([{ taskId: queued, rowKey: 'q', status: 'NOT_START', reason: '演示模式，禁止操作' }]);
    expect((await ledger(t)).find((j) => j.id === queued)).toMatchObject({ status: 'NOT_START', cancelled: null });
  });
});
