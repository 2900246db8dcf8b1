import { mjError, mockedClient } from './helpers';

const submitPath = { path: '/mj/submit/imagine', method: 'POST' as const };

test('code 1 is an acceptance with the new task id', async () => {
  const { pool, client } = mockedClient();
  pool
    .intercept(submitPath)
    .reply(200, { code: 1, description: '提交成功', result: '1320098173412546', properties: { discordInstanceId: '1' } });
  await expect(client.submitImagine({ prompt: 'black cat' })).resolves.toMatchObject({
    taskId: '1320098173412546',
    taskIds: ['1320098173412546'],
    code: 1,
    queued: false,
    modal: false,
    properties: { discordInstanceId: '1' },
  });
});

test('code 22 is accepted and queued, with numberOfQueues', async () => {
  const { pool, client } = mockedClient();
  pool
    .intercept(submitPath)
    .reply(200, { code: 22, description: '排队中，前面还有2个任务', result: '42', properties: { numberOfQueues: 2 } });
  await expect(client.submitImagine({ prompt: 'x' })).resolves.toMatchObject({ taskId: '42', code: 22, queued: true, numberOfQueues: 2 });
});

test('code 21 is accepted as MODAL (the task waits for /submit/modal)', async () => {
  const { pool, client } = mockedClient();
  pool
    .intercept({ path: '/mj/submit/action', method: 'POST' })
    .reply(200, { code: 21, description: 'Waiting for window confirm', result: '77', properties: { finalPrompt: 'p', remix: true } });
  await expect(client.submitAction({ taskId: '1', customId: 'MJ::Inpaint::1::h::SOLO' })).resolves.toMatchObject({
    taskId: '77',
    code: 21,
    modal: true,
  });
});

test('a numeric result id is read as a string; a comma list gives every id', async () => {
  const { pool, client } = mockedClient();
  pool.intercept(submitPath).reply(200, { code: 1, description: 'ok', result: 1320098173412546 });
  await expect(client.submitImagine({ prompt: 'x' })).resolves.toMatchObject({ taskId: '1320098173412546' });
  pool.intercept({ path: '/mj/submit/action', method: 'POST' }).reply(200, { code: 1, description: 'ok', result: '11,12,13,14' });
  await expect(client.submitAction({ taskId: '1', customId: 'MJ::Job::PicReader::all' })).resolves.toMatchObject({
    taskId: '11',
    taskIds: ['11', '12', '13', '14'],
  });
});

test.each([
  [{ code: 23, description: '队列已满，请稍后尝试', result: null }, 'retryable', 'queue-full'],
  [{ code: 9, description: '提交失败，队列已满，请稍后重试', result: null }, 'retryable', 'queue-full'],
  [{ code: 9, description: '提交失败，系统异常', result: null }, 'retryable', 'system-error'],
  [{ code: 4, description: 'prompt不能为空', result: null }, 'not-retryable', 'validation'],
  [{ code: 3, description: '关联任务不存在或已失效', result: null }, 'not-retryable', 'parent-missing'],
  [{ code: 3, description: '无可用的账号实例', result: null }, 'account', 'no-account'],
  [{ success: false, code: -1, message: 'The prompt field is required.', timestamp: 't' }, 'not-retryable', 'validation'],
  [{ code: 77, description: 'something new', result: null }, 'not-retryable', 'unexpected-code'],
])('business code in a 200: %j is %s / %s', async (body, kind, reason) => {
  const { pool, client } = mockedClient();
  pool.intercept(submitPath).reply(200, body);
  const err = await mjError(client.submitImagine({ prompt: 'x' }));
  expect({ kind: err.kind, reason: err.reason, code: err.code }).toEqual({ kind, reason, code: body.code });
});

test('code 24 is a banned prompt, and the banned word is kept', async () => {
  const { pool, client } = mockedClient();
  pool
    .intercept(submitPath)
    .reply(200, { code: 24, description: '可能包含敏感词', result: null, properties: { promptEn: 'a gory scene', bannedWord: 'gory' } });
  const err = await mjError(client.submitImagine({ prompt: 'a gory scene' }));
  expect(err).toMatchObject({ kind: 'not-retryable', reason: 'banned-prompt', bannedWord: 'gory', code: 24 });
  expect(err.message).toContain('banned word "gory"');
});

test.each([
  [401, '', 'account', 'unauthorized'],
  [401, 'Authorization header missing.', 'account', 'unauthorized'],
  [401, JSON.stringify({ error: { message: '无效的令牌 (request id: 1)', type: 'new_api_error', code: '' } }), 'account', 'unauthorized'],
  [403, JSON.stringify({ error: { message: '该令牌无权访问模型 mj_imagine', type: 'new_api_error', code: '' } }), 'account', 'forbidden'],
  [404, JSON.stringify({ code: 3, description: '关联任务不存在或已失效', result: null }), 'not-retryable', 'parent-missing'],
  [404, JSON.stringify({ code: 3, description: '无可用的账号实例', result: null }), 'account', 'no-account'],
  [400, JSON.stringify({ description: 'task_not_found ', type: 'upstream_error', code: 4 }), 'not-retryable', 'parent-missing'],
  [429, '', 'retryable', 'rate-limited'],
  [429, JSON.stringify({ code: 30, description: '当前分组负载已饱和', type: 'upstream_error' }), 'retryable', 'rate-limited'],
  [
    500,
    JSON.stringify({ timestamp: 't', status: 500, error: 'Internal Server Error', path: '/mj/submit/imagine' }),
    'retryable',
    'server-error',
  ],
  [502, '<html>bad gateway</html>', 'ambiguous', 'upstream-error'],
  [
    503,
    JSON.stringify({ error: { message: '当前分组 default 下对于模型 mj_imagine 无可用渠道', type: 'new_api_error' } }),
    'account',
    'no-account',
  ],
  [504, '', 'ambiguous', 'timeout'],
  [400, JSON.stringify({ description: 'do_request_failed ', type: 'upstream_error', code: 5 }), 'ambiguous', 'upstream-error'],
  [400, JSON.stringify({ description: 'empty_response_body ', type: 'upstream_error', code: 5 }), 'ambiguous', 'upstream-error'],
  [400, JSON.stringify({ description: 'prompt_is_required ', type: 'upstream_error', code: 4 }), 'not-retryable', 'validation'],
  [400, JSON.stringify({ timestamp: 't', status: 400, error: 'Bad Request', path: '/mj/submit/imagine' }), 'not-retryable', 'validation'],
])('HTTP %i with body %j is %s / %s for a submit', async (status, body, kind, reason) => {
  const { pool, client } = mockedClient();
  pool.intercept(submitPath).reply(status, body);
  const err = await mjError(client.submitImagine({ prompt: 'x' }));
  expect({ kind: err.kind, reason: err.reason, httpStatus: err.httpStatus }).toEqual({ kind, reason, httpStatus: status });
});

test('the three error body shapes all reach the error description', async () => {
  const { pool, client } = mockedClient();
  pool.intercept(submitPath).reply(403, { error: { message: '令牌分组 vip 已被禁用', type: 'new_api_error', code: '' } });
  expect((await mjError(client.submitImagine({ prompt: 'x' }))).description).toBe('令牌分组 vip 已被禁用');
  pool.intercept(submitPath).reply(400, { description: 'quota_not_enough ', type: 'upstream_error', code: 4 });
  expect((await mjError(client.submitImagine({ prompt: 'x' }))).description).toBe('quota_not_enough ');
  pool.intercept(submitPath).reply(401, 'Authorization header missing.');
  expect((await mjError(client.submitImagine({ prompt: 'x' }))).description).toBe('Authorization header missing.');
});

test('Retry-After is read in seconds and as an HTTP date', async () => {
  const { pool, client } = mockedClient();
  pool.intercept(submitPath).reply(429, '', { headers: { 'retry-after': '7' } });
  expect((await mjError(client.submitImagine({ prompt: 'x' }))).retryAfterMs).toBe(7000);
  pool.intercept(submitPath).reply(429, '', { headers: { 'retry-after': new Date(Date.now() + 60_000).toUTCString() } });
  const ms = (await mjError(client.submitImagine({ prompt: 'x' }))).retryAfterMs!;
  expect(ms).toBeGreaterThan(55_000);
  expect(ms).toBeLessThanOrEqual(60_000);
});

test('a 2xx submit answer that cannot be read is ambiguous: the job may exist', async () => {
  const { pool, client } = mockedClient();
  pool.intercept(submitPath).reply(200, '<html>oops</html>');
  expect(await mjError(client.submitImagine({ prompt: 'x' }))).toMatchObject({ kind: 'ambiguous', reason: 'invalid-response' });
  pool.intercept(submitPath).reply(200, { code: 1, description: 'ok', result: null });
  expect(await mjError(client.submitImagine({ prompt: 'x' }))).toMatchObject({ kind: 'ambiguous', reason: 'invalid-response' });
  pool.intercept(submitPath).reply(200, { description: 'no code at all' });
  expect(await mjError(client.submitImagine({ prompt: 'x' }))).toMatchObject({ kind: 'ambiguous', reason: 'invalid-response' });
});

test('requests carry the key as Bearer by default, or as mj-api-secret, and the JSON body', async () => {
  const bearer = mockedClient();
  bearer.pool
    .intercept({
      ...submitPath,
      headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'p', state: 's' }),
    })
    .reply(200, { code: 1, result: '1' });
  await expect(bearer.client.submitImagine({ prompt: 'p', state: 's' })).resolves.toMatchObject({ taskId: '1' });

  const secret = mockedClient({ auth: 'mj-api-secret' });
  secret.pool
    .intercept({ ...submitPath, headers: (h: Record<string, string>) => h['mj-api-secret'] === 'sk-test' && !('authorization' in h) })
    .reply(200, { code: 1, result: '2' });
  await expect(secret.client.submitImagine({ prompt: 'p' })).resolves.toMatchObject({ taskId: '2' });
});

test('mode prefixes: client default, per-call override, every prefix style', async () => {
  const { pool, client } = mockedClient({ mode: 'relax' });
  pool.intercept({ path: '/relax/mj/submit/imagine', method: 'POST' }).reply(200, { code: 1, result: '1' });
  pool.intercept({ path: '/turbo/mj/submit/imagine', method: 'POST' }).reply(200, { code: 1, result: '2' });
  pool.intercept({ path: '/mj-fast/mj/submit/imagine', method: 'POST' }).reply(200, { code: 1, result: '3' });
  pool.intercept({ path: '/mj/submit/imagine', method: 'POST' }).reply(200, { code: 1, result: '4' });
  expect((await client.submitImagine({ prompt: 'p' })).taskId).toBe('1');
  expect((await client.submitImagine({ prompt: 'p' }, { mode: 'turbo' })).taskId).toBe('2');
  expect((await client.submitImagine({ prompt: 'p' }, { mode: 'fast', modePrefix: 'mj-dash' })).taskId).toBe('3');
  expect((await client.submitImagine({ prompt: 'p' }, { modePrefix: 'none' })).taskId).toBe('4');
  expect(client.modeStyle()).toBe('plain');
});

test('every submit endpoint posts to its own path', async () => {
  const { pool, client } = mockedClient();
  for (const name of ['imagine', 'blend', 'describe', 'shorten', 'action', 'modal']) {
    pool.intercept({ path: `/mj/submit/${name}`, method: 'POST' }).reply(200, { code: 1, result: name });
  }
  const img = 'data:image/png;base64,iVBORw0KGgo=';
  expect((await client.submitImagine({ prompt: 'p' })).taskId).toBe('imagine');
  expect((await client.submitBlend({ base64Array: [img, img], dimensions: 'SQUARE' })).taskId).toBe('blend');
  expect((await client.submitDescribe({ base64: img })).taskId).toBe('describe');
  expect((await client.submitShorten({ prompt: 'p' })).taskId).toBe('shorten');
  expect((await client.submitAction({ taskId: '1', customId: 'MJ::JOB::upsample::1::h' })).taskId).toBe('action');
  expect((await client.submitModal({ taskId: '1', prompt: 'p' })).taskId).toBe('modal');
});

test('the constructor refuses a base URL that is not http(s) and an empty key', () => {
  expect(() => mockedClient({ baseUrl: 'ftp://x' })).toThrow('baseUrl must be an http(s) URL');
  expect(() => mockedClient({ apiKey: '' })).toThrow('apiKey is required');
});
