// The item workflow as it is, on a local dev server, with stub activities: a job that ends FAILURE because moderation
// refused its content is a `banned` row (redrive leaves it out by default); any other FAILURE stays `generation`.
import { batchInput, startBatch, Stubs, unique, withWorkers, useWorkflowTestEnv, type StubRow } from './harness';

const env = useWorkflowTestEnv();

const MODERATOR = 'Sorry! Our AI moderator thinks this prompt is probably against our community standards.';

// The reasons real proxies set (sources in docs/gateway-model.md), and ones that are not moderation.
const rows: StubRow[] = [
  { key: 'java-banned', script: { kind: 'task-fails', reason: `[Banned prompt detected] ${MODERATOR}` } },
  { key: 'cs-banned', script: { kind: 'task-fails', reason: `Banned prompt detected, ${MODERATOR}` } },
  { key: 'cs-output-filter', script: { kind: 'task-fails', reason: 'Request cancelled due to output filters' } },
  { key: 'cs-word-check', script: { kind: 'task-fails', reason: '可能包含敏感词' } },
  { key: 'plus-translated', script: { kind: 'task-fails', reason: '图片可能违规' } },
  { key: 'invalid-parameter', script: { kind: 'task-fails', reason: '[Invalid parameter] Invalid value' } },
  { key: 'timed-out', script: { kind: 'task-fails', reason: '任务超时' } },
  { key: 'fine', script: { kind: 'ok' } },
];
const expected: Record<string, string | undefined> = {
  'java-banned': 'banned',
  'cs-banned': 'banned',
  'cs-output-filter': 'banned',
  'cs-word-check': 'banned',
  'plus-translated': 'banned',
  'invalid-parameter': 'generation',
  'timed-out': 'generation',
  fine: undefined,
};

test('a FAILURE whose reason names moderated content is a banned row; other FAILUREs stay generation; nothing is resubmitted', async () => {
  const batchId = unique('moderation');
  const taskQueue = unique('tq-moderation');
  const stubs = new Stubs(batchId, rows);
  const result = await withWorkers(env.current, taskQueue, stubs, async () =>
    (await startBatch(env.current, taskQueue, batchInput(stubs, taskQueue, { concurrency: 4 }))).result(),
  );

  expect(result.counts).toMatchObject({ total: rows.length, succeeded: 1, failed: rows.length - 1 });
  for (const row of rows) {
    const saved = stubs.saves.filter((s) => s.rowKey === row.key);
    expect([row.key, saved.length]).toEqual([row.key, 1]);
    const [r] = saved;
    expect([row.key, r!.status, r!.failureClass]).toEqual([row.key, row.key === 'fine' ? 'SUCCESS' : 'FAILED', expected[row.key]]);
    // The server's words are kept as the row's reason, whatever the class.
    if (row.script.kind === 'task-fails') expect([row.key, r!.reason]).toEqual([row.key, row.script.reason]);
    // One paid submit per row: a refused job is not paid for again.
    expect([row.key, stubs.submittedKeys().filter((k) => k === row.key).length]).toEqual([row.key, 1]);
  }
  // Refused jobs have no image to store.
  expect(stubs.images.map((i) => i.rowKey)).toEqual(['fine']);
});
