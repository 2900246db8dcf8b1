import fc from 'fast-check';
import { MjApiError } from '../../../mj-client';
import { mockedClient, sampleTask } from './helpers';

// Whatever a server sends back (any status, any bytes, a valid answer cut short), the client either returns a
// fully typed value or throws an MjApiError: never another error, never a value with holes in it.

const validBodies = [
  JSON.stringify(sampleTask),
  JSON.stringify({ code: 1, description: '提交成功', result: '1689231405853400', properties: { discordInstanceId: '1' } }),
  JSON.stringify({ code: 22, description: '排队中', result: '1', properties: { numberOfQueues: 3 } }),
  JSON.stringify([sampleTask, sampleTask]),
  JSON.stringify({ error: { message: 'x', type: 'new_api_error', code: '' } }),
  JSON.stringify({ description: 'task_no_found ', type: 'upstream_error', code: 4 }),
];

const jsonish = fc.oneof(
  fc.string(),
  fc.json(),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc
    .record({
      code: fc.oneof(fc.integer(), fc.string()),
      description: fc.oneof(fc.string(), fc.constant(null)),
      result: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.string())),
    })
    .map((v) => JSON.stringify(v)),
  fc
    .record({
      id: fc.oneof(fc.string(), fc.integer()),
      status: fc.oneof(fc.string(), fc.constant(null)),
      buttons: fc.oneof(fc.constant(null), fc.array(fc.record({ customId: fc.string() }))),
    })
    .map((v) => JSON.stringify(v)),
  fc.tuple(fc.constantFrom(...validBodies), fc.nat()).map(([body, cut]) => body.slice(0, cut % (body.length + 1))),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);

const status = fc.oneof(fc.constantFrom(200, 204, 400, 401, 403, 404, 429, 500, 502, 503, 504), fc.integer({ min: 200, max: 599 }));

async function outcome(run: () => Promise<unknown>): Promise<{ value: unknown } | { error: unknown }> {
  return run().then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

test('submit: a typed acceptance or an MjApiError', async () => {
  await fc.assert(
    fc.asyncProperty(status, jsonish, async (code, body) => {
      const { pool, client } = mockedClient();
      pool.intercept({ path: '/mj/submit/imagine', method: 'POST' }).reply(code === 204 ? 204 : code, code === 204 ? '' : body);
      const r = await outcome(() => client.submitImagine({ prompt: 'p' }));
      if ('error' in r)
        return r.error instanceof MjApiError && ['retryable', 'not-retryable', 'account', 'ambiguous', 'not-found'].includes(r.error.kind);
      const v = r.value as { taskId: unknown; taskIds: unknown[]; code: number };
      return typeof v.taskId === 'string' && v.taskId.length > 0 && v.taskIds.length > 0 && [1, 21, 22].includes(v.code);
    }),
    { numRuns: 400 },
  );
});

test('fetch: a typed task or an MjApiError', async () => {
  await fc.assert(
    fc.asyncProperty(status, jsonish, async (code, body) => {
      const { pool, client } = mockedClient();
      pool.intercept({ path: '/mj/task/1/fetch', method: 'GET' }).reply(code, code === 204 ? '' : body);
      const r = await outcome(() => client.fetchTask('1'));
      if ('error' in r) return r.error instanceof MjApiError && r.error.kind !== 'ambiguous';
      const t = r.value as { id: unknown; status: unknown; buttons?: { customId: unknown }[] | null };
      return (
        typeof t.id === 'string' &&
        typeof t.status === 'string' &&
        (t.buttons ?? []).every((b) => typeof b.customId === 'string' && b.customId.length > 0)
      );
    }),
    { numRuns: 400 },
  );
});

test('task list: typed tasks newest first, null where the server has no list, or an MjApiError; never ambiguous', async () => {
  await fc.assert(
    fc.asyncProperty(status, jsonish, async (code, body) => {
      const { pool, client } = mockedClient();
      pool.intercept({ path: '/mj/task/list', method: 'GET' }).reply(code, code === 204 ? '' : body);
      const r = await outcome(() => client.listTasks());
      if ('error' in r) return r.error instanceof MjApiError && r.error.kind !== 'ambiguous';
      if (r.value === null) return true;
      const tasks = r.value as { id: unknown; submitTime?: number | null }[];
      return tasks.every((t, i) => typeof t.id === 'string' && (i === 0 || (tasks[i - 1]!.submitTime ?? 0) >= (t.submitTime ?? 0)));
    }),
    { numRuns: 300 },
  );
});

test('list-by-condition and image-seed: typed values or MjApiErrors', async () => {
  await fc.assert(
    fc.asyncProperty(status, jsonish, async (code, body) => {
      const { pool, client } = mockedClient();
      pool.intercept({ path: '/mj/task/list-by-condition', method: 'POST' }).reply(code, code === 204 ? '' : body);
      pool.intercept({ path: '/mj/task/1/image-seed', method: 'GET' }).reply(code, code === 204 ? '' : body);
      const list = await outcome(() => client.listByCondition(['1']));
      const seed = await outcome(() => client.imageSeed('1'));
      const listOk =
        'error' in list
          ? list.error instanceof MjApiError
          : Array.isArray(list.value) && list.value.every((t: { id: unknown }) => typeof t.id === 'string');
      const seedOk = 'error' in seed ? seed.error instanceof MjApiError : typeof seed.value === 'string' && seed.value.length > 0;
      return listOk && seedOk;
    }),
    { numRuns: 300 },
  );
});
