import { mjError, mockedClient, sampleTask } from './helpers';

const fetchPath = { path: '/mj/task/1689231405853400/fetch', method: 'GET' as const };

test('a task is parsed, with its buttons and properties', async () => {
  const { pool, client } = mockedClient();
  pool.intercept(fetchPath).reply(200, sampleTask);
  const task = await client.fetchTask('1689231405853400');
  expect(task).toMatchObject({ id: '1689231405853400', status: 'SUCCESS', state: 'row-1', progress: '100%' });
  expect(task.buttons?.[0]?.customId).toBe('MJ::JOB::upsample::1::3dbbd469-36af-4a0f-8f02-df6c579e7011');
});

test('the gateway view before its first poll (status "", zeros, nulls) is a valid task', async () => {
  const { pool, client } = mockedClient();
  pool.intercept(fetchPath).reply(200, {
    id: '1689231405853400',
    action: 'IMAGINE',
    customId: '',
    botType: '',
    prompt: 'p',
    promptEn: '',
    description: '提交成功',
    state: '',
    submitTime: 1,
    startTime: 0,
    finishTime: 0,
    imageUrl: '',
    videoUrl: '',
    videoUrls: null,
    status: '',
    progress: '0%',
    failReason: '',
    buttons: null,
    maskBase64: '',
    properties: null,
  });
  await expect(client.fetchTask('1689231405853400')).resolves.toMatchObject({ status: '', progress: '0%', buttons: null });
});

test.each([
  ['an empty 200 (Java proxy)', 200, ''],
  ['a 200 with null', 200, 'null'],
  ['a 204 (CS)', 204, ''],
  ['a gateway 400 with code 4 task_no_found', 400, JSON.stringify({ description: 'task_no_found ', type: 'upstream_error', code: 4 })],
])('task-not-found as %s', async (_name, status, body) => {
  const { pool, client } = mockedClient();
  pool.intercept(fetchPath).reply(status, body);
  expect(await mjError(client.fetchTask('1689231405853400'))).toMatchObject({ kind: 'not-found', reason: 'task-not-found' });
});

test('a fetch answer that is not a task is a retryable invalid-response, never undefined further down', async () => {
  const { pool, client } = mockedClient();
  pool.intercept(fetchPath).reply(200, { status: 'SUCCESS' });
  const err = await mjError(client.fetchTask('1689231405853400'));
  expect(err).toMatchObject({ kind: 'retryable', reason: 'invalid-response' });
  expect(err.description).toContain('id:');
  pool.intercept(fetchPath).reply(200, '{"id": "1", "status": "SUCC');
  expect(await mjError(client.fetchTask('1689231405853400'))).toMatchObject({ kind: 'retryable', reason: 'invalid-response' });
});

test('buttons that cannot be pressed (no customId, e.g. link buttons) are dropped, not fatal', async () => {
  const { pool, client } = mockedClient();
  pool
    .intercept(fetchPath)
    .reply(200, { ...sampleTask, buttons: [{ label: 'link', style: 5, url: 'https://x' }, ...sampleTask.buttons, { customId: '' }] });
  const task = await client.fetchTask('1689231405853400');
  expect(task.buttons?.map((b) => b.label)).toEqual(['U1']);
});

test('reads are never ambiguous: a 504 on fetch is retryable', async () => {
  const { pool, client } = mockedClient();
  pool.intercept(fetchPath).reply(504, '');
  expect(await mjError(client.fetchTask('1689231405853400'))).toMatchObject({ kind: 'retryable', reason: 'server-error' });
});

test('list-by-condition returns the known tasks; an empty body is an empty list', async () => {
  const { pool, client } = mockedClient();
  pool
    .intercept({ path: '/mj/task/list-by-condition', method: 'POST', body: JSON.stringify({ ids: ['1689231405853400', 'nope'] }) })
    .reply(200, [sampleTask]);
  expect((await client.listByCondition(['1689231405853400', 'nope'])).map((t) => t.id)).toEqual(['1689231405853400']);
  pool.intercept({ path: '/mj/task/list-by-condition', method: 'POST' }).reply(200, '');
  await expect(client.listByCondition([])).resolves.toEqual([]);
  pool.intercept({ path: '/mj/task/list-by-condition', method: 'POST' }).reply(200, { not: 'a list' });
  expect(await mjError(client.listByCondition(['1']))).toMatchObject({ kind: 'retryable', reason: 'invalid-response' });
});

test('image-seed returns the seed; not finished is a validation error; unknown is not-found', async () => {
  const { pool, client } = mockedClient();
  pool.intercept({ path: '/mj/task/1/image-seed', method: 'GET' }).reply(200, { code: 1, description: 'success', result: '4242' });
  await expect(client.imageSeed('1')).resolves.toBe('4242');
  pool.intercept({ path: '/mj/task/1/image-seed', method: 'GET' }).reply(200, { code: 4, description: '任务未完成', result: null });
  expect(await mjError(client.imageSeed('1'))).toMatchObject({ kind: 'not-retryable', reason: 'validation' });
  pool.intercept({ path: '/mj/task/1/image-seed', method: 'GET' }).reply(204, '');
  expect(await mjError(client.imageSeed('1'))).toMatchObject({ kind: 'not-found' });
});

test('task ids are escaped in the path', async () => {
  const { pool, client } = mockedClient();
  pool.intercept({ path: '/mj/task/a%2Fb/fetch', method: 'GET' }).reply(204, '');
  expect(await mjError(client.fetchTask('a/b'))).toMatchObject({ kind: 'not-found' });
});
