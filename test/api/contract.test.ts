import { findButton, MjApiError, parseProgress, type MjTask, type SubmitAccepted } from '../../mj-client';
import { clientFor, download, pollUntilDone, realTarget, simulatorTarget, type Target } from './targets';

// One contract, three servers: the simulator as a Plus proxy, the simulator as a new-api gateway, and (when
// MJ_BASE_URL and MJ_API_KEY are set) a real gateway. Against a real one this spends 2 paid jobs: an imagine and a U2.
const real = realTarget();
const targets: [string, () => Promise<Target>][] = [
  ['simulator (plus)', () => simulatorTarget('plus')],
  ['simulator (gateway)', () => simulatorTarget('gateway')],
  ...(real ? [[real.name, async () => real] as [string, () => Promise<Target>]] : []),
];

const ORDER = ['', 'NOT_START', 'SUBMITTED', 'IN_PROGRESS', 'SUCCESS'];

describe.each(targets)('contract: %s', (name, make) => {
  let t: Target;
  let grid: MjTask;
  let upscaled: MjTask;
  let submitted: SubmitAccepted;
  let state: string;
  // Behaviours that need the simulator's switches (and would cost money or need admin rights on a real gateway).
  const gatewaySimOnly = name === 'simulator (gateway)' ? test : test.skip;

  beforeAll(async () => {
    t = await make();
  });
  afterAll(async () => t?.close());

  test('a wrong key is an account condition (unauthorized), not a problem of the row', async () => {
    const client = clientFor(t, 'sk-definitely-wrong');
    const err = await client.fetchTask('1689231405853400').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MjApiError);
    expect(err).toMatchObject({ kind: 'account' });
    expect(['unauthorized', 'forbidden']).toContain((err as MjApiError).reason);
    await client.close();
  });

  test('an unknown task id is recognised as not found', async () => {
    const client = clientFor(t);
    const err = await client.fetchTask('1000000000000001').catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'not-found', reason: 'task-not-found' });
    await client.close();
  });

  test('an empty prompt is a validation error, and creates nothing', async () => {
    const client = clientFor(t);
    const before = t.sim?.engine.jobs.size;
    const err = await client.submitImagine({ prompt: '' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'not-retryable', reason: 'validation' });
    if (t.sim) expect(t.sim.engine.jobs.size).toBe(before);
    await client.close();
  });

  test('a button on a parent that does not exist is parent-missing, and creates nothing', async () => {
    const client = clientFor(t);
    const err = await client
      .submitAction({ taskId: '1000000000000001', customId: 'MJ::JOB::upsample::1::00000000-0000-4000-a000-000000000000' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'not-retryable', reason: 'parent-missing' });
    if (t.sim) expect(t.sim.engine.jobs.size).toBe(0);
    await client.close();
  });

  test('the task list: a Plus proxy serves the newest tasks first; a gateway does not serve it (null)', async () => {
    const client = clientFor(t);
    const tasks = await client.listTasks();
    if (t.sim) expect(tasks === null).toBe(t.sim.options.profile === 'gateway');
    if (tasks) expect(tasks.map((x) => x.submitTime ?? 0)).toEqual(tasks.map((x) => x.submitTime ?? 0).sort((a, b) => b - a));
    await client.close();
  });

  test('imagine is accepted with a task id', async () => {
    const client = clientFor(t);
    state = `contract-${Date.now()}`;
    submitted = await client.submitImagine({ prompt: 'a ceramic vase on a white background, product photo', state });
    expect(submitted.taskId).toMatch(/^\d+$/);
    await client.close();
  });

  test('a button pressed before its parent finished is parent-not-ready (retryable): refused before any job is made', async () => {
    const client = clientFor(t);
    const before = t.sim?.engine.jobs.size;
    const err = await client
      .submitAction({ taskId: submitted.taskId, customId: 'MJ::JOB::upsample::1::00000000-0000-4000-a000-000000000000' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'retryable', reason: 'parent-not-ready' });
    if (t.sim) expect(t.sim.engine.jobs.size).toBe(before);
    await client.close();
  });

  test(
    'imagine runs to SUCCESS: ordered states, rising progress, the state echoed, a grid with its 9 buttons',
    async () => {
      const client = clientFor(t);
      const accepted = submitted;
      const { task, seen } = await pollUntilDone(client, t, accepted.taskId);
      grid = task;
      expect(task).toMatchObject({ id: accepted.taskId, status: 'SUCCESS', progress: '100%', state });
      const ranks = seen.map((s) => ORDER.indexOf(s.status));
      expect(ranks.every((r) => r >= 0)).toBe(true);
      expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
      const progress = seen.filter((s) => s.status === 'IN_PROGRESS').map((s) => parseProgress(s.progress));
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      for (const intent of ['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', 'reroll'] as const)
        expect(findButton(task, intent)).toBeDefined();
      const image = await download(task.imageUrl!);
      expect(image.status).toBe(200);
      expect(['png', 'webp', 'jpeg']).toContain(image.format);
      await client.close();
    },
    15 * 60_000,
  );

  test(
    'U2 presses a grid button by customId and yields one image with its own follow-ups',
    async () => {
      const client = clientFor(t);
      const accepted = await client.submitAction({ taskId: grid.id, customId: findButton(grid, 'U2')!.customId });
      const { task } = await pollUntilDone(client, t, accepted.taskId);
      upscaled = task;
      expect(task.status).toBe('SUCCESS');
      expect(findButton(task, 'vary_subtle') ?? findButton(task, 'upscale_subtle') ?? findButton(task, 'upscale_2x')).toBeDefined();
      const image = await download(task.imageUrl!);
      expect(['png', 'webp', 'jpeg']).toContain(image.format);
      await client.close();
    },
    15 * 60_000,
  );

  test('list-by-condition returns both tasks and leaves unknown ids out', async () => {
    const client = clientFor(t);
    const tasks = await client.listByCondition([grid.id, upscaled.id, '1000000000000001']);
    expect(tasks.map((x) => x.id).sort()).toEqual([grid.id, upscaled.id].sort());
    await client.close();
  });

  gatewaySimOnly('a submit whose answer the gateway lost is ambiguous, and its job exists upstream', async () => {
    const client = clientFor(t);
    const err = await client
      .submitImagine({ prompt: 'paid, answer lost [sim:lost-answer]', state: 'contract-lost' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'ambiguous' });
    expect(t.sim!.engine.ledger().some((j) => j.state === 'contract-lost' && j.charged)).toBe(true);
    await client.close();
  });

  gatewaySimOnly('an exhausted quota is an account condition, and creates nothing', async () => {
    const client = clientFor(t);
    const setQuota = (quota: number | null) => fetch(`${t.baseUrl}/_sim/gateway`, { method: 'POST', body: JSON.stringify({ quota }) });
    await setQuota(0);
    const before = t.sim!.engine.jobs.size;
    const err = await client.submitImagine({ prompt: 'no credit' }).catch((e: unknown) => e);
    await setQuota(null);
    expect(err).toMatchObject({ kind: 'account', reason: 'quota-exhausted' });
    expect(t.sim!.engine.jobs.size).toBe(before);
    await client.close();
  });
});
