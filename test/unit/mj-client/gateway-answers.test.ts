import { modeRanOf } from '../../../mj-client';
import { mjError, mockedClient, sampleTask } from './helpers';

// How the client reads what new-api style gateways (old: Calcium-Ion April 2025; new: QuantumNous) and the C# Plus
// proxy answer. Sources for each shape: docs/gateway-model.md.

const gatewayError = (code: number, description: string) => JSON.stringify({ description, type: 'upstream_error', code });
const envelope = (message: string, code?: string) =>
  JSON.stringify({ error: { message, type: 'new_api_error', ...(code === undefined ? {} : { code }) } });
const SNIFFED = { headers: { 'content-type': 'text/plain; charset=utf-8' } };

type Case = [name: string, status: number, body: string, submit: [kind: string, reason: string], read: [kind: string, reason: string]];

const cases: Case[] = [
  [
    'old gateway transport error: code 5 do_request_failed with its trailing space',
    400,
    gatewayError(5, 'do_request_failed '),
    ['ambiguous', 'upstream-error'],
    ['retryable', 'upstream-error'],
  ],
  [
    'old gateway transport error: code 5 do_request_failed without the space',
    400,
    gatewayError(5, 'do_request_failed'),
    ['ambiguous', 'upstream-error'],
    ['retryable', 'upstream-error'],
  ],
  [
    'old gateway: the upstream answered with an empty body (code 5 empty_response_body)',
    400,
    gatewayError(5, 'empty_response_body '),
    ['ambiguous', 'upstream-error'],
    ['retryable', 'upstream-error'],
  ],
  [
    'old gateway: the upstream answer was not JSON (code 5 unmarshal_response_body_failed)',
    400,
    gatewayError(5, 'unmarshal_response_body_failed '),
    ['ambiguous', 'upstream-error'],
    ['retryable', 'upstream-error'],
  ],
  [
    'old gateway: the request body never left the gateway (code 5 read_request_body_failed)',
    400,
    gatewayError(5, 'read_request_body_failed '),
    ['retryable', 'upstream-error'],
    ['retryable', 'upstream-error'],
  ],
  [
    'new gateway: accepted_state_unknown (code 4, HTTP 400)',
    400,
    gatewayError(4, 'accepted_state_unknown; do not retry; contact an administrator with request_id=abc '),
    ['ambiguous', 'upstream-error'],
    ['retryable', 'upstream-error'],
  ],
  [
    'new gateway: accepted_state_unknown with a 502',
    502,
    gatewayError(4, 'accepted_state_unknown; do not retry; contact an administrator with request_id=abc'),
    ['ambiguous', 'upstream-error'],
    ['retryable', 'upstream-error'],
  ],
  ['gateway 502 with an empty body', 502, '', ['ambiguous', 'upstream-error'], ['retryable', 'server-error']],
  ['gateway 504 with an empty body', 504, '', ['ambiguous', 'timeout'], ['retryable', 'server-error']],
  [
    'new gateway: a validation refusal mapped to 502 is still validation',
    502,
    gatewayError(4, 'prompt不能为空 '),
    ['not-retryable', 'validation'],
    ['not-retryable', 'validation'],
  ],
  [
    'new gateway: a full CS queue (code 9) mapped to 502 is retryable',
    502,
    gatewayError(9, '提交失败，队列已满，请稍后重试 '),
    ['retryable', 'queue-full'],
    ['retryable', 'queue-full'],
  ],
  [
    'new gateway: code 3 no account mapped to 503 is an account condition',
    503,
    gatewayError(3, '无可用的账号实例 '),
    ['account', 'no-account'],
    ['account', 'no-account'],
  ],
  [
    'new gateway: code 3 parent missing mapped to 503',
    503,
    gatewayError(3, '关联任务不存在或已失效 '),
    ['not-retryable', 'parent-missing'],
    ['not-retryable', 'parent-missing'],
  ],
  [
    'new gateway: code 23 queue full mapped to 429',
    429,
    gatewayError(23, '队列已满，请稍后尝试 '),
    ['retryable', 'queue-full'],
    ['retryable', 'queue-full'],
  ],
  [
    'new gateway: code 24 banned prompt mapped to 400',
    400,
    gatewayError(24, '可能包含敏感词 '),
    ['not-retryable', 'banned-prompt'],
    ['not-retryable', 'banned-prompt'],
  ],
  ['gateway 429 relayed from the upstream: empty body', 429, '', ['retryable', 'rate-limited'], ['retryable', 'rate-limited']],
  [
    'new gateway token concurrency gate: 429 in the OpenAI envelope',
    429,
    envelope('token_concurrency_limit_reached (request id: 1)', 'token_concurrency_limit_reached'),
    ['retryable', 'rate-limited'],
    ['retryable', 'rate-limited'],
  ],
  [
    'gateway quota_not_enough with its trailing space',
    400,
    gatewayError(4, 'quota_not_enough '),
    ['account', 'quota-exhausted'],
    ['account', 'quota-exhausted'],
  ],
  [
    'gateway quota_not_enough without the space',
    400,
    gatewayError(4, 'quota_not_enough'),
    ['account', 'quota-exhausted'],
    ['account', 'quota-exhausted'],
  ],
  [
    'gateway token with its quota spent: 401 该令牌额度已用尽',
    401,
    envelope('[sk-ab***cd] 该令牌额度已用尽 !token.UnlimitedQuota && token.RemainQuota = 0 (request id: 1)'),
    ['account', 'quota-exhausted'],
    ['account', 'quota-exhausted'],
  ],
  [
    'gateway wrong key: 401 无效的令牌 (old envelope, no code)',
    401,
    envelope('无效的令牌 (request id: 1)'),
    ['account', 'unauthorized'],
    ['account', 'unauthorized'],
  ],
  [
    'gateway expired key: 401 该令牌已过期',
    401,
    envelope('该令牌已过期 (request id: 1)', ''),
    ['account', 'unauthorized'],
    ['account', 'unauthorized'],
  ],
  ['Plus wrong key: 401 plain text', 401, 'Authorization header missing.', ['account', 'unauthorized'], ['account', 'unauthorized']],
  ['forbidden: 403 envelope', 403, envelope('用户已被封禁 (request id: 1)'), ['account', 'forbidden'], ['account', 'forbidden']],
  ['Plus user unavailable: 403 plain text', 403, '账号不可用', ['account', 'forbidden'], ['account', 'forbidden']],
  [
    'gateway without a channel for the model: 503 无可用渠道',
    503,
    envelope('当前分组 default 下对于模型 mj_imagine 无可用渠道 (request id: 1)'),
    ['account', 'no-account'],
    ['account', 'no-account'],
  ],
  [
    'Plus no account: 404 code 3 无可用的账号实例',
    404,
    JSON.stringify({ code: 3, description: '无可用的账号实例', result: null }),
    ['account', 'no-account'],
    ['account', 'no-account'],
  ],
  [
    'gateway parent record missing: 400 code 4 task_not_found',
    400,
    gatewayError(4, 'task_not_found '),
    ['not-retryable', 'parent-missing'],
    ['not-retryable', 'parent-missing'],
  ],
  [
    'gateway empty prompt: 400 code 4 prompt_is_required',
    400,
    gatewayError(4, 'prompt_is_required '),
    ['not-retryable', 'validation'],
    ['not-retryable', 'validation'],
  ],
  [
    'CS malformed request served as a 500',
    500,
    JSON.stringify({ success: false, code: -1, message: '操作失败', timestamp: 't' }),
    ['retryable', 'server-error'],
    ['retryable', 'server-error'],
  ],
];

describe.each(cases)('%s', (_name, status, body, [submitKind, submitReason], [readKind, readReason]) => {
  test(`on a submit: ${submitKind} / ${submitReason}`, async () => {
    const { pool, client } = mockedClient();
    pool.intercept({ path: '/mj/submit/imagine', method: 'POST' }).reply(status, body, SNIFFED);
    expect(await mjError(client.submitImagine({ prompt: 'p' }))).toMatchObject({
      kind: submitKind,
      reason: submitReason,
      httpStatus: status,
    });
  });

  test(`on a read (list-by-condition): ${readKind} / ${readReason}`, async () => {
    const { pool, client } = mockedClient();
    pool.intercept({ path: '/mj/task/list-by-condition', method: 'POST' }).reply(status, body);
    expect(await mjError(client.listByCondition(['1']))).toMatchObject({ kind: readKind, reason: readReason });
  });
});

describe("pressing a button on a parent that is not finished (in the server's view)", () => {
  test.each([
    ['gateway task_status_not_success with its trailing space', 400, gatewayError(4, 'task_status_not_success ')],
    ['gateway task_status_not_success without the space', 400, gatewayError(4, 'task_status_not_success')],
    ['Plus 200 code 4 关联任务状态错误', 200, JSON.stringify({ code: 4, description: '关联任务状态错误', result: null })],
  ])('%s is parent-not-ready, retryable', async (_name, status, body) => {
    const { pool, client } = mockedClient();
    pool.intercept({ path: '/mj/submit/action', method: 'POST' }).reply(status, body, SNIFFED);
    expect(await mjError(client.submitAction({ taskId: '1', customId: 'MJ::JOB::upsample::2::h' }))).toMatchObject({
      kind: 'retryable',
      reason: 'parent-not-ready',
    });
  });

  test('on /submit/modal the Plus words 关联任务状态错误 mean "not a MODAL task": validation', async () => {
    const { pool, client } = mockedClient();
    pool.intercept({ path: '/mj/submit/modal', method: 'POST' }).reply(200, { code: 4, description: '关联任务状态错误', result: null });
    expect(await mjError(client.submitModal({ taskId: '1', prompt: 'p' }))).toMatchObject({ kind: 'not-retryable', reason: 'validation' });
  });
});

test('a gateway submit answer sent as text/plain JSON is read as JSON', async () => {
  const { pool, client } = mockedClient();
  pool
    .intercept({ path: '/mj/submit/imagine', method: 'POST' })
    .reply(200, JSON.stringify({ code: 1, description: '提交成功', result: '42', properties: {} }), SNIFFED);
  await expect(client.submitImagine({ prompt: 'p' })).resolves.toMatchObject({ taskId: '42', code: 1 });
});

test('quota exhausted in a 200 business answer is an account condition too', async () => {
  const { pool, client } = mockedClient();
  pool.intercept({ path: '/mj/submit/imagine', method: 'POST' }).reply(200, { code: 4, description: 'quota_not_enough', result: null });
  expect(await mjError(client.submitImagine({ prompt: 'p' }))).toMatchObject({ kind: 'account', reason: 'quota-exhausted' });
});

describe('listTasks', () => {
  test('Plus: the tasks, newest first, with their state', async () => {
    const { pool, client } = mockedClient();
    const older = { ...sampleTask, id: '1', submitTime: 100, state: 'row-1' };
    const newer = {
      ...sampleTask,
      id: '2',
      submitTime: 200,
      state: 'row-2',
      mode: 'RELAX',
      parentId: '1',
      customId: 'MJ::JOB::upsample::1::h',
    };
    pool.intercept({ path: '/mj/task/list', method: 'GET' }).reply(200, [older, newer]);
    const tasks = await client.listTasks();
    expect(tasks?.map((t) => [t.id, t.state, t.mode, t.parentId])).toEqual([
      ['2', 'row-2', 'RELAX', '1'],
      ['1', 'row-1', undefined, undefined],
    ]);
  });

  test.each([
    ['a Plus proxy without the route: 404, empty body', 404, '', {}],
    ["a gateway's Invalid URL envelope", 404, envelope('Invalid URL (GET /mj/task/list)', ''), {}],
    [
      'a new-api web page (gin NoRoute): 200 text/html',
      200,
      '<!doctype html><html><body><div id="root"></div></body></html>',
      { headers: { 'content-type': 'text/html; charset=utf-8' } },
    ],
    ['405 Method Not Allowed', 405, '', {}],
  ])('null where the server does not serve it: %s', async (_name, status, body, options) => {
    const { pool, client } = mockedClient();
    pool.intercept({ path: '/mj/task/list', method: 'GET' }).reply(status, body, options);
    await expect(client.listTasks()).resolves.toBeNull();
  });

  test('a wrong key is still an error, not "no list"', async () => {
    const { pool, client } = mockedClient();
    pool.intercept({ path: '/mj/task/list', method: 'GET' }).reply(401, 'Authorization header missing.');
    expect(await mjError(client.listTasks())).toMatchObject({ kind: 'account', reason: 'unauthorized' });
  });
});

describe('mode style auto (the default)', () => {
  test('sends /relax/mj/..., which new-api forwards as it is, and keeps it where the server takes it', async () => {
    const { pool, client } = mockedClient({ mode: 'relax' });
    pool.intercept({ path: '/relax/mj/submit/imagine', method: 'POST' }).reply(200, { code: 1, result: '1' }).times(2);
    expect((await client.submitImagine({ prompt: 'p' })).taskId).toBe('1');
    expect((await client.submitImagine({ prompt: 'p' })).taskId).toBe('1');
    expect(client.modeStyle()).toBe('plain');
  });

  test('a C# Plus proxy has no /relax route (bare 404): the same request goes to /mj-relax/mj/..., and so do the next ones', async () => {
    const { pool, client } = mockedClient({ mode: 'relax' });
    pool.intercept({ path: '/relax/mj/submit/imagine', method: 'POST' }).reply(404, '');
    pool.intercept({ path: '/mj-relax/mj/submit/imagine', method: 'POST' }).reply(200, { code: 1, result: '7' }).times(2);
    expect((await client.submitImagine({ prompt: 'p' })).taskId).toBe('7');
    expect(client.modeStyle()).toBe('mj-dash');
    expect((await client.submitImagine({ prompt: 'p' })).taskId).toBe('7');
  });

  test('a 404 that names a code (C#: parent missing) is an answer, not a missing route', async () => {
    const { pool, client } = mockedClient({ mode: 'fast' });
    pool
      .intercept({ path: '/fast/mj/submit/action', method: 'POST' })
      .reply(404, { code: 3, description: '关联任务不存在或已失效', result: null });
    expect(await mjError(client.submitAction({ taskId: '1', customId: 'MJ::JOB::upsample::1::h' }))).toMatchObject({
      reason: 'parent-missing',
    });
    expect(client.modeStyle()).toBe('plain');
  });

  test('a chosen style is kept: plain never falls back; without a mode there is no prefix at all', async () => {
    const plain = mockedClient({ mode: 'relax', modePrefix: 'plain' });
    plain.pool.intercept({ path: '/relax/mj/submit/imagine', method: 'POST' }).reply(404, '');
    expect(await mjError(plain.client.submitImagine({ prompt: 'p' }))).toMatchObject({ kind: 'not-retryable', httpStatus: 404 });
    expect(plain.client.modeStyle()).toBe('plain');
    const none = mockedClient();
    none.pool.intercept({ path: '/mj/submit/imagine', method: 'POST' }).reply(200, { code: 1, result: '3' });
    expect((await none.client.submitImagine({ prompt: 'p' })).taskId).toBe('3');
  });
});

describe('modeRanOf', () => {
  test.each([
    ['the Plus view names it (C# TaskInfo.mode)', { mode: 'RELAX' }, 'relax'],
    ['turbo', { mode: 'TURBO' }, 'turbo'],
    ['fast', { mode: 'FAST' }, 'fast'],
    [
      "Midjourney's own line in properties.messageContent",
      { mode: null, properties: { messageContent: '**cat --v 7** - <@1> (relaxed)' } },
      'relax',
    ],
    ['a gateway view says nothing', { properties: { finalPrompt: 'cat --relax', finalZhPrompt: '' } }, undefined],
    ['a Plus task still queued (mode null)', { mode: null }, undefined],
  ])('%s', (_name, task, expected) => {
    expect(modeRanOf(task)).toBe(expected);
  });
});
