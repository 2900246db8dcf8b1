import { findButton, modeRanOf, MjClient } from '../../mj-client';
import { freePort } from '../../stack/processes';
import type { SimulatorSettings } from '../../simulator/options';
import { admin, download, hookServer, pollUntilDone, simulatorTarget, withSimulator, type Target } from './targets';

// The gateway profile models a new-api gateway in front of a Plus proxy; every behaviour here is switched by option
// and at run time through /_sim/gateway. Sources: docs/gateway-model.md.

const withGateway = <T>(extra: SimulatorSettings, fn: (t: Target, c: MjClient) => Promise<T>, profile: 'plus' | 'gateway' = 'gateway') =>
  withSimulator(profile, extra, fn);
const setGateway = (t: Target, update: Record<string, unknown>) =>
  admin(t, '/_sim/gateway', { method: 'POST', body: JSON.stringify(update) });
const stats = async (t: Target) => (await admin(t, '/_sim/stats')).body;
const ledger = async (t: Target) =>
  (await admin(t, '/_sim/jobs')).body as { id: string; state: string | null; mode: string; charged: boolean; action: string }[];
const error = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );
const raw = (t: Target, path: string, body?: object) =>
  fetch(`${t.baseUrl}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });

const until = async (what: () => boolean | Promise<boolean>, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('notifyHook forwarding (new-api MjNotifyEnabled)', () => {
  test('off by default: the gateway deletes notifyHook, so no callback ever arrives', async () => {
    const hook = await hookServer();
    await withGateway({}, async (t, c) => {
      const { taskId } = await c.submitImagine({ prompt: 'no callbacks', notifyHook: hook.url });
      await pollUntilDone(c, t, taskId);
      await new Promise((r) => setTimeout(r, 200));
      expect(hook.received).toEqual([]);
      expect((await stats(t)).gateway).toMatchObject({ hooksDropped: 1, hooksForwarded: 0 });
    });
    hook.close();
  });

  test('on (at run time): the upstream calls the hook itself, with its own view and image URLs, before the gateway refreshes', async () => {
    const hook = await hookServer();
    await withGateway({ gatewayPollMs: 3_000 }, async (t, c) => {
      expect((await setGateway(t, { notifyForwarding: true })).body).toMatchObject({ notifyForwarding: true });
      const { taskId } = await c.submitImagine({ prompt: 'callbacks flow', state: 'row-7', notifyHook: hook.url });
      await until(() => hook.received.some((x) => x.status === 'SUCCESS'));
      const success = hook.received.find((x) => x.status === 'SUCCESS')!;
      expect(success).toMatchObject({ id: taskId, state: 'row-7', mode: 'FAST' });
      expect(success.imageUrl).toContain('/_sim/images/');
      // The gateway's own record still predates its next poll.
      expect((await c.fetchTask(taskId)).status).not.toBe('SUCCESS');
      expect((await stats(t)).gateway).toMatchObject({ hooksForwarded: 1 });
    });
    hook.close();
  });
});

describe('parent not ready: the gateway checks its own record, refreshed only when it polls', () => {
  test('a press after the upstream finished but before the poll is task_status_not_success; after the poll it goes through', async () => {
    // The job takes under a second at ×100; the first poll comes after 1.5 s.
    await withGateway({ gatewayPollMs: 1_500 }, async (t, c) => {
      const { taskId } = await c.submitImagine({ prompt: 'finished upstream first' });
      await until(() => t.sim!.engine.jobs.get(taskId)!.status === 'SUCCESS');
      const u1 = t.sim!.engine.jobs.get(taskId)!.buttons.find((b) => b.label === 'U1')!.customId;
      expect((await c.fetchTask(taskId)).status).toBe('');
      expect(await error(c.submitAction({ taskId, customId: u1 }))).toMatchObject({
        kind: 'retryable',
        reason: 'parent-not-ready',
        httpStatus: 400,
        description: 'task_status_not_success ',
      });
      expect((await stats(t)).gateway.parentNotReady).toBe(1);
      await until(async () => (await c.fetchTask(taskId)).status === 'SUCCESS');
      await expect(c.submitAction({ taskId, customId: u1 })).resolves.toMatchObject({ code: 1 });
    });
  });
});

describe('serverAddress (new-api ServerAddress)', () => {
  test('a wrong address hands out unreachable image URLs; restoring it at run time makes them reachable', async () => {
    const wrong = `http://127.0.0.1:${await freePort()}`;
    await withGateway({ gateway: { serverAddress: wrong } }, async (t, c) => {
      const { task } = await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'unreachable images' })).taskId);
      expect(task.imageUrl).toBe(`${wrong}/mj/image/${task.id}`);
      await expect(download(task.imageUrl!)).rejects.toThrow();
      expect((await setGateway(t, { serverAddress: null })).body.serverAddress).toBe(t.baseUrl);
      const again = await c.fetchTask(task.id);
      expect(again.imageUrl).toBe(`${t.baseUrl}/mj/image/${task.id}`);
      expect((await download(again.imageUrl!)).format).toBe('png');
    });
  });
});

describe('lost upstream answers and the two error styles', () => {
  test('old style: the upstream accepted the job, the gateway answers 400 code 5 do_request_failed, and keeps no record', async () => {
    await withGateway({}, async (t, c) => {
      const err = await error(c.submitImagine({ prompt: 'paid but lost [sim:lost-answer]', state: 'row-lost' }));
      expect(err).toMatchObject({
        kind: 'ambiguous',
        reason: 'upstream-error',
        httpStatus: 400,
        code: 5,
        description: 'do_request_failed ',
      });
      const [job] = await ledger(t);
      expect(job).toMatchObject({ state: 'row-lost', charged: true });
      expect(await error(c.fetchTask(job!.id))).toMatchObject({ kind: 'not-found' });
      expect(await c.listByCondition([job!.id])).toEqual([]);
      expect((await stats(t)).gateway.lostAnswers).toBe(1);
    });
  });

  test('new style (at run time): accepted_state_unknown with code 4; the fault share loses answers without the directive', async () => {
    await withGateway({}, async (t, c) => {
      await setGateway(t, { errorStyle: 'new' });
      await admin(t, '/_sim/faults', { method: 'POST', body: JSON.stringify({ lostUpstreamAnswer: 1 }) });
      const err = await error(c.submitImagine({ prompt: 'lost by share', state: 'row-share' }));
      expect(err).toMatchObject({ kind: 'ambiguous', httpStatus: 400, code: 4 });
      expect((err as Error & { description: string }).description).toMatch(
        /^accepted_state_unknown; do not retry; contact an administrator with request_id=\S+ $/,
      );
      expect((await ledger(t)).map((j) => j.state)).toEqual(['row-share']);
    });
  });

  test('old style relays upstream refusals as they came (200 code 24 with the banned word); new style maps them to HTTP statuses', async () => {
    await withGateway({ faults: { bannedWords: ['gore'] } }, async (t, c) => {
      const old = await raw(t, '/mj/submit/imagine', { prompt: 'gore' });
      expect(old.status).toBe(200);
      expect(old.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(await error(c.submitImagine({ prompt: 'gore' }))).toMatchObject({
        reason: 'banned-prompt',
        bannedWord: 'gore',
        httpStatus: 200,
      });
      await setGateway(t, { errorStyle: 'new' });
      expect(await error(c.submitImagine({ prompt: 'gore' }))).toMatchObject({
        kind: 'not-retryable',
        reason: 'banned-prompt',
        httpStatus: 400,
        code: 24,
      });
      await admin(t, '/_sim/faults', { method: 'POST', body: JSON.stringify({ queueFull: 1 }) });
      expect(await error(c.submitImagine({ prompt: 'a full queue' }))).toMatchObject({
        kind: 'retryable',
        reason: 'queue-full',
        httpStatus: 502,
        code: 9,
      });
      expect(await error(c.submitImagine({ prompt: '' }))).toMatchObject({
        kind: 'not-retryable',
        reason: 'validation',
        httpStatus: 400,
        description: 'prompt_is_required ',
      });
    });
  });

  test('content types: relayed submit answers text/plain (old) or application/json (new); task views application/json', async () => {
    await withGateway({}, async (t) => {
      const submitted = await raw(t, '/mj/submit/imagine', { prompt: 'content types' });
      expect(submitted.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      const id = ((await submitted.json()) as { result: string }).result;
      expect((await raw(t, `/mj/task/${id}/fetch`)).headers.get('content-type')).toBe('application/json');
      await setGateway(t, { errorStyle: 'new' });
      expect((await raw(t, '/mj/submit/imagine', { prompt: 'json now' })).headers.get('content-type')).toBe('application/json');
    });
  });
});

describe('quota', () => {
  test('runs out mid-batch (400 code 4 quota_not_enough, nothing created) and comes back at run time', async () => {
    await withGateway({ gateway: { quota: 1 } }, async (t, c) => {
      await c.submitImagine({ prompt: 'the last paid job' });
      const refused = await error(c.submitImagine({ prompt: 'one too many' }));
      expect(refused).toMatchObject({
        kind: 'account',
        reason: 'quota-exhausted',
        httpStatus: 400,
        code: 4,
        description: 'quota_not_enough ',
      });
      expect(t.sim!.engine.jobs.size).toBe(1);
      expect((await stats(t)).gateway).toMatchObject({ quota: 0, quotaRefusals: 1 });
      await setGateway(t, { quota: 5 });
      await expect(c.submitImagine({ prompt: 'credit is back' })).resolves.toMatchObject({ code: 1 });
      expect((await admin(t, '/_sim/gateway')).body.quota).toBe(4);
    });
  });

  test('a failed task gives its quota back when the gateway polls it', async () => {
    await withGateway({ gateway: { quota: 1 } }, async (t, c) => {
      const { taskId } = await c.submitImagine({ prompt: 'doomed [sim:fail]' });
      await pollUntilDone(c, t, taskId);
      expect((await stats(t)).gateway).toMatchObject({ quota: 1, quotaRefunds: 1 });
    });
  });
});

describe('per-token concurrency gate (QuantumNous TokenConcurrencyGate)', () => {
  test('over the limit: 429 in the OpenAI envelope, no Retry-After; switched off at run time', async () => {
    await withGateway({ gateway: { tokenConcurrency: 1, upstreamLatencyMs: 300 } }, async (t, c) => {
      const outcomes = await Promise.all(
        [c.submitImagine({ prompt: 'first' }), c.submitImagine({ prompt: 'second' })].map((p) =>
          p.then(
            () => 'ok',
            (e: unknown) => e,
          ),
        ),
      );
      expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
      expect(outcomes.find((o) => o !== 'ok')).toMatchObject({
        kind: 'retryable',
        reason: 'rate-limited',
        httpStatus: 429,
        retryAfterMs: undefined,
      });
      expect((await stats(t)).gateway.tokenGateRefusals).toBe(1);
      await setGateway(t, { tokenConcurrency: 0 });
      const both = await Promise.all([c.submitImagine({ prompt: 'third' }), c.submitImagine({ prompt: 'fourth' })]);
      expect(both.map((a) => a.code)).toEqual([1, 1]);
    });
  });

  test('a relayed upstream 429 has an empty body and no Retry-After', async () => {
    await withGateway({ faults: { burst429: 1 } }, async (t) => {
      const res = await raw(t, '/mj/submit/imagine', { prompt: 'limited' });
      expect({ status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() }).toEqual({
        status: 429,
        retryAfter: null,
        body: '',
      });
    });
  });
});

describe('mode prefixes through the gateway (getMjRequestPath)', () => {
  const post = (t: Target, prefix: string, prompt: string) => raw(t, `${prefix}/mj/submit/imagine`, { prompt });
  const modeOf = async (t: Target, res: Response) => t.sim!.engine.jobs.get(((await res.json()) as { result: string }).result)!.mode;

  test('a /mj-... prefix is cut before forwarding: the mode is lost (the default, or the prompt flag); /relax/mj/... passes', async () => {
    await withGateway({}, async (t) => {
      expect(await modeOf(t, await post(t, '/mj-relax', 'stripped'))).toBe('FAST');
      expect(await modeOf(t, await post(t, '/mj-turbo', 'stripped but flagged --relax'))).toBe('RELAX');
      expect(await modeOf(t, await post(t, '/relax', 'forwarded as it is'))).toBe('RELAX');
      expect(await modeOf(t, await post(t, '/turbo', 'forwarded as it is'))).toBe('TURBO');
      expect((await stats(t)).gateway.modePrefixesStripped).toBe(2);
    });
  });

  test('the client default (auto) reaches the account in its mode through the gateway, and directly against the Plus proxy', async () => {
    for (const profile of ['gateway', 'plus'] as const) {
      const t = await simulatorTarget(profile);
      const c = new MjClient({ baseUrl: t.baseUrl, apiKey: t.apiKey, mode: 'relax' });
      const { task } = await pollUntilDone(c, t, (await c.submitImagine({ prompt: `relax via ${profile}` })).taskId);
      expect((await ledger(t)).map((j) => j.mode)).toEqual(['RELAX']);
      expect(c.modeStyle()).toBe(profile === 'plus' ? 'mj-dash' : 'plain');
      expect(modeRanOf(task)).toBe(profile === 'plus' ? 'relax' : undefined);
      await c.close();
      await t.close();
    }
  });

  test('an upstream without the /relax route (a C# Plus): 404 with an empty body, nothing created; auto then falls back', async () => {
    await withGateway({}, async (t) => {
      await setGateway(t, { upstreamAcceptsPlainModePaths: false });
      const res = await post(t, '/relax', 'no such upstream route');
      expect({ status: res.status, body: await res.text() }).toEqual({ status: 404, body: '' });
      expect(t.sim!.engine.jobs.size).toBe(0);
      const c = new MjClient({ baseUrl: t.baseUrl, apiKey: t.apiKey, mode: 'relax' });
      await c.submitImagine({ prompt: 'auto falls back' });
      expect(c.modeStyle()).toBe('mj-dash');
      expect((await ledger(t)).map((j) => j.mode)).toEqual(['FAST']); // new-api cut the prefix: the mode is lost
      await c.close();
    });
  });
});

describe("the gateway's 1 h task timeout (controller/midjourney.go)", () => {
  test('a task still unfinished after gatewayTaskTimeoutMs reads FAILURE 上游任务超时（超过1小时） while the upstream still runs it', async () => {
    await withGateway({ gatewayPollMs: 50, gatewayTaskTimeoutMs: 400, taskTimeoutMs: 0 }, async (t, c) => {
      const { taskId } = await c.submitImagine({ prompt: 'forever [sim:stall]' });
      const { task } = await pollUntilDone(c, t, taskId);
      expect(task).toMatchObject({ status: 'FAILURE', failReason: '上游任务超时（超过1小时）', progress: '100%' });
      expect(t.sim!.engine.jobs.get(taskId)!.status).not.toBe('FAILURE');
      expect((await stats(t)).gateway.tasksTimedOut).toBe(1);
    });
  });
});

describe('GET /mj/task/list', () => {
  test('plus: the latest 100 tasks, newest first, in the Plus view (state, mode, parentId, customId)', async () => {
    await withGateway(
      { accounts: 9 },
      async (t, c) => {
        for (let i = 0; i < 104; i++) await c.submitImagine({ prompt: `listed ${i}`, state: `row-${i}` });
        const list = (await c.listTasks())!;
        expect(list).toHaveLength(100);
        expect(list[0]).toMatchObject({ state: 'row-103', mode: 'FAST', action: 'IMAGINE', parentId: null });
        expect(list[99]!.state).toBe('row-4');
        const submitTimes = list.map((x) => x.submitTime!);
        expect(submitTimes).toEqual([...submitTimes].sort((a, b) => b - a));
        const grid = (await pollUntilDone(c, t, list[0]!.id)).task;
        const press = await c.submitAction({ taskId: grid.id, customId: findButton(grid, 'U1')!.customId, state: 'row-u1' });
        expect((await c.listTasks())![0]).toMatchObject({
          id: press.taskId,
          state: 'row-u1',
          parentId: grid.id,
          customId: findButton(grid, 'U1')!.customId,
        });
      },
      'plus',
    );
  });

  test('gateway: not a route (gin NoRoute serves the web UI), so listTasks is null', async () => {
    await withGateway({}, async (t, c) => {
      const res = await raw(t, '/mj/task/list');
      expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({ status: 200, type: 'text/html; charset=utf-8' });
      await expect(c.listTasks()).resolves.toBeNull();
    });
  });
});

describe('/_sim/gateway', () => {
  test('shows the effective settings, refuses bad values, and DELETE restores the defaults', async () => {
    await withGateway({ gateway: { quota: 3, errorStyle: 'new' } }, async (t) => {
      expect((await admin(t, '/_sim/gateway')).body).toEqual({
        notifyForwarding: false,
        serverAddress: t.baseUrl,
        errorStyle: 'new',
        quota: 3,
        tokenConcurrency: 0,
        tokenStatus: 'enabled',
        upstreamAcceptsPlainModePaths: true,
        upstreamLatencyMs: 0,
      });
      for (const [update, problem] of [
        [{ errorStyle: 'newest' }, 'errorStyle'],
        [{ quota: -1 }, 'quota'],
        [{ notifyForwarding: 'yes' }, 'notifyForwarding'],
        [{ serverAddress: 'localhost:3000' }, 'serverAddress'],
        [{ tokenConcurrency: 1.5 }, 'tokenConcurrency'],
        [{ tokenStatus: 'revoked' }, 'tokenStatus'],
        [{ colour: 'red' }, 'unknown gateway setting'],
      ] as const) {
        const res = await setGateway(t, update);
        expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: expect.stringContaining(problem) });
      }
      expect((await admin(t, '/_sim/gateway', { method: 'DELETE' })).body).toMatchObject({
        errorStyle: 'old',
        quota: null,
        serverAddress: t.baseUrl,
      });
    });
  });

  test('the plus profile has no gateway settings', async () => {
    await withGateway(
      {},
      async (t) => {
        expect((await admin(t, '/_sim/gateway')).status).toBe(404);
      },
      'plus',
    );
  });
});
