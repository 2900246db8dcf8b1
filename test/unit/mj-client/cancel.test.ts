// MjClient.cancelTask: what each server answers on POST /mj/task/{id}/cancel (docs/api-cancel.md), read as
// `accepted`, `no-route`, or a typed MjApiError.
import { mjError, mockedClient } from './helpers';

const cancelPath = { path: '/mj/task/1689231405853400/cancel', method: 'POST' as const };
const ID = '1689231405853400';

test.each([
  ['C# Plus: 200 with an empty body', 200, '', { outcome: 'accepted', httpStatus: 200 }],
  [
    'the Plus docs shape: 200 {code, description}',
    200,
    { code: 1, description: '成功' },
    { outcome: 'accepted', httpStatus: 200, code: 1, description: '成功' },
  ],
  [
    'Java (Spring): a 404 without a code',
    404,
    { timestamp: 1, status: 404, error: 'Not Found', path: '/mj/task/1/cancel' },
    { outcome: 'no-route', httpStatus: 404 },
  ],
  ['an empty 404', 404, '', { outcome: 'no-route', httpStatus: 404 }],
  ['405 Method Not Allowed', 405, '', { outcome: 'no-route', httpStatus: 405 }],
  [
    'new-api: its web UI with a 200',
    200,
    '<!doctype html><html><body><div id="root"></div></body></html>',
    { outcome: 'no-route', httpStatus: 200 },
  ],
  [
    'a gateway answering Invalid URL',
    404,
    { error: { message: 'Invalid URL (POST /mj/task/1/cancel)', type: 'invalid_request_error' } },
    { outcome: 'no-route', httpStatus: 404 },
  ],
] as const)('%s', async (_name, status, body, expected) => {
  const { pool, client } = mockedClient();
  pool.intercept(cancelPath).reply(status, body as never);
  expect(await client.cancelTask(ID)).toEqual(expected);
});

test('C# Plus refuses a key that is no admin: 400 "演示模式，禁止操作" (a JSON string) is not-retryable, forbidden', async () => {
  const { pool, client } = mockedClient();
  pool.intercept(cancelPath).reply(400, JSON.stringify('演示模式，禁止操作'), { headers: { 'content-type': 'application/json' } });
  const err = await mjError(client.cancelTask(ID));
  expect(err).toMatchObject({ kind: 'not-retryable', reason: 'forbidden', httpStatus: 400, description: '演示模式，禁止操作' });
  expect(err.endpoint).toBe(`POST /mj/task/${ID}/cancel`);
});

test('a wrong key is an account problem, a 5xx is retryable (a cancel creates nothing)', async () => {
  const { pool, client } = mockedClient();
  pool.intercept(cancelPath).reply(401, 'Authorization header missing.');
  expect(await mjError(client.cancelTask(ID))).toMatchObject({ kind: 'account', reason: 'unauthorized' });
  pool.intercept(cancelPath).reply(502, '');
  expect(await mjError(client.cancelTask(ID))).toMatchObject({ kind: 'retryable', reason: 'server-error' });
});

test('the mode goes into the path as for every call', async () => {
  const { pool, client } = mockedClient({ mode: 'relax', modePrefix: 'mj-dash' });
  pool.intercept({ path: `/mj-relax/mj/task/${ID}/cancel`, method: 'POST' }).reply(200, '');
  expect(await client.cancelTask(ID)).toMatchObject({ outcome: 'accepted' });
});
