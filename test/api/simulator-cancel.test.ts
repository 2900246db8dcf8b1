// POST /mj/task/{id}/cancel as the C# Plus proxy serves it (admins only; FAILURE 取消任务; a job still in the queue
// never reaches Midjourney and is not charged), and the gateway profile, which has no such route (docs/api-cancel.md).
import { MjApiError, MjClient } from '../../mj-client';
import { CANCEL_REASON } from '../../simulator/engine';
import { admin, hookServer, pollUntilDone, withSimulator as withSim } from './targets';

type LedgerRow = { id: string; status: string; charged: boolean; cancelled: string | null; failReason: string | null };
/** Waits until the proxy has sent the job to Midjourney (SUBMITTED or later). */
async function sent(c: MjClient, id: string): Promise<void> {
  for (let i = 0; i < 200 && (await c.fetchTask(id)).status === 'NOT_START'; i++) await new Promise((r) => setTimeout(r, 20));
}

const ledgerRow = async (t: Parameters<typeof admin>[0], id: string) =>
  ((await admin(t, '/_sim/jobs')).body as LedgerRow[]).find((j) => j.id === id);

test('plus: a job not yet sent cancelled is FAILURE 取消任务, never charged; a running one is charged and frees its slot', async () => {
  await withSim('plus', { speed: 1 }, async (t, c) => {
    const running = [];
    for (let i = 0; i < 3; i++) running.push((await c.submitImagine({ prompt: `runs ${i}` })).taskId);
    const queued = await c.submitImagine({ prompt: 'waits, then is cancelled' });
    const next = await c.submitImagine({ prompt: 'waits, then takes the freed slot' });
    expect([queued.code, next.code]).toEqual([22, 22]);

    expect(await c.cancelTask(queued.taskId)).toEqual({ outcome: 'accepted', httpStatus: 200 });
    const cancelled = await c.fetchTask(queued.taskId);
    expect(cancelled).toMatchObject({ status: 'FAILURE', failReason: CANCEL_REASON, progress: '' });
    expect(cancelled.finishTime).toBeGreaterThanOrEqual(cancelled.submitTime!);
    expect(await ledgerRow(t, queued.taskId)).toMatchObject({ status: 'FAILURE', charged: false, cancelled: 'queued' });

    await sent(c, running[0]!);
    await c.cancelTask(running[0]!);
    expect(await c.fetchTask(running[0]!)).toMatchObject({ status: 'FAILURE', failReason: CANCEL_REASON });
    expect(await ledgerRow(t, running[0]!)).toMatchObject({ charged: true, cancelled: 'running' });
    // The proxy stops waiting for it, so the next queued job starts in its slot.
    expect((await c.fetchTask(next.taskId)).status).not.toBe('FAILURE');
    const stats = (await admin(t, '/_sim/stats')).body;
    expect(stats.accounts).toEqual([expect.objectContaining({ running: 3, queued: 0 })]);
    expect(stats.acceptedPaidJobs).toBe(4);
    expect(stats.cancelled).toEqual({ queued: 1, running: 1, modal: 0 });
    expect(stats.modalAwaitingConfirm).toBe(0);
  });
});

test('plus: a finished or unknown task is left alone, with the same empty 200', async () => {
  await withSim('plus', { speed: 100 }, async (t, c) => {
    const { taskId } = await c.submitImagine({ prompt: 'finishes first' });
    await pollUntilDone(c, t, taskId);
    const res = await fetch(`${t.baseUrl}/mj/task/${taskId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${t.apiKey}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    expect((await c.fetchTask(taskId)).status).toBe('SUCCESS');
    expect(await c.cancelTask('1234567890123456')).toMatchObject({ outcome: 'accepted', httpStatus: 200 });
    expect((await admin(t, '/_sim/stats')).body.cancelled).toEqual({ queued: 0, running: 0, modal: 0 });
  });
});

test('plus: a MODAL window cancelled fails without ever being charged', async () => {
  await withSim('plus', { speed: 100 }, async (t, c) => {
    const grid = await c.submitImagine({ prompt: 'a vase to vary' });
    await pollUntilDone(c, t, grid.taskId);
    const u1 = await c.submitAction({ taskId: grid.taskId, customId: (await c.fetchTask(grid.taskId)).buttons![0]!.customId });
    const upscaled = (await pollUntilDone(c, t, u1.taskId)).task;
    const region = upscaled.buttons!.find((b) => b.customId.startsWith('MJ::Inpaint::'))!;
    const modal = await c.submitAction({ taskId: u1.taskId, customId: region.customId });
    expect(modal.modal).toBe(true);
    await c.cancelTask(modal.taskId);
    expect(await c.fetchTask(modal.taskId)).toMatchObject({ status: 'FAILURE', failReason: CANCEL_REASON });
    expect(await ledgerRow(t, modal.taskId)).toMatchObject({ charged: false, cancelled: 'modal' });
  });
});

test('plus: the cancel of a queued job sends no notifyHook, the cancel of a running one sends the FAILURE', async () => {
  const hook = await hookServer();
  try {
    await withSim('plus', { speed: 1, concurrency: 1 }, async (t, c) => {
      const run = await c.submitImagine({ prompt: 'running', notifyHook: hook.url });
      const wait = await c.submitImagine({ prompt: 'waiting', notifyHook: hook.url });
      await sent(c, run.taskId);
      await c.cancelTask(wait.taskId);
      await c.cancelTask(run.taskId);
      for (let i = 0; i < 100 && !hook.received.some((h) => h.id === run.taskId && h.status === 'FAILURE'); i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(hook.received.filter((h) => h.id === run.taskId).pop()).toMatchObject({ status: 'FAILURE', failReason: CANCEL_REASON });
      expect(hook.received.filter((h) => h.id === wait.taskId && h.status === 'FAILURE')).toEqual([]);
    });
  } finally {
    hook.close();
  }
});

test('plus: a key whose user is no admin is refused with 400 演示模式，禁止操作 and nothing changes', async () => {
  await withSim('plus', { speed: 1, concurrency: 1, plusKeyRole: 'user' }, async (t, c) => {
    await c.submitImagine({ prompt: 'running' });
    const queued = await c.submitImagine({ prompt: 'queued' });
    const err = await c.cancelTask(queued.taskId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MjApiError);
    expect(err).toMatchObject({ kind: 'not-retryable', reason: 'forbidden', httpStatus: 400, description: '演示模式，禁止操作' });
    expect((await c.fetchTask(queued.taskId)).status).toBe('NOT_START');
    expect(await ledgerRow(t, queued.taskId)).toMatchObject({ charged: true, cancelled: null });
  });
});

test('gateway: no cancel route (the web UI answers), the upstream job is untouched', async () => {
  await withSim('gateway', { speed: 1, concurrency: 1 }, async (t, c) => {
    await c.submitImagine({ prompt: 'running' });
    const queued = await c.submitImagine({ prompt: 'queued behind it' });
    expect(await c.cancelTask(queued.taskId)).toEqual({ outcome: 'no-route', httpStatus: 200 });
    // The same page without a key: gin's NoRoute runs no token check.
    const page = await fetch(`${t.baseUrl}/mj/task/${queued.taskId}/cancel`, { method: 'POST' });
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await ledgerRow(t, queued.taskId)).toMatchObject({ status: 'NOT_START', charged: true, cancelled: null });
  });
});

test('the Java proxy style: a 404 without a code reads as no cancel route', async () => {
  await withSim('plus', { speed: 1 }, async (t) => {
    // A plus server routes only /mj and /mj-<mode>/mj: any other prefix is an empty 404, as a server without the route.
    const c = new MjClient({ baseUrl: `${t.baseUrl}/elsewhere`, apiKey: t.apiKey });
    try {
      expect(await c.cancelTask('1')).toEqual({ outcome: 'no-route', httpStatus: 404 });
    } finally {
      await c.close();
    }
  });
});
