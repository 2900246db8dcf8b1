import sharp from 'sharp';
import { findButton, type MjClient, type MjTask } from '../../mj-client';
import { clientFor, download, hookServer, pollUntilDone, simulatorTarget, type Target } from './targets';

const PIXEL = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

describe.each(['plus', 'gateway'] as const)('simulator flows (%s profile)', (profile) => {
  let t: Target;
  let client: MjClient;
  beforeAll(async () => {
    t = await simulatorTarget(profile);
    client = clientFor(t);
  });
  afterAll(async () => {
    await client.close();
    await t.close();
  });

  async function run(p: Promise<{ taskId: string }>): Promise<MjTask> {
    return (await pollUntilDone(client, t, (await p).taskId)).task;
  }

  test('imagine → U2 → HD upscale: the tile is the grid quadrant, the upscale doubles it', async () => {
    const grid = await run(client.submitImagine({ prompt: 'a leather armchair' }));
    const u2 = await run(client.submitAction({ taskId: grid.id, customId: findButton(grid, 'U2')!.customId }));
    expect(u2).toMatchObject({ status: 'SUCCESS', action: 'UPSCALE' });
    const hd = await run(client.submitAction({ taskId: u2.id, customId: findButton(u2, 'upscale_subtle')!.customId }));
    expect(hd.status).toBe('SUCCESS');

    const [gridPng, tilePng, hdPng] = await Promise.all([grid, u2, hd].map((x) => download(x.imageUrl!)));
    expect(await sharp(gridPng!.bytes).metadata()).toMatchObject({ width: 2048, height: 2048, format: 'png' });
    const quadrant = await sharp(gridPng!.bytes).extract({ left: 1024, top: 0, width: 1024, height: 1024 }).raw().toBuffer();
    expect((await sharp(tilePng!.bytes).raw().toBuffer()).equals(quadrant)).toBe(true);
    expect(await sharp(hdPng!.bytes).metadata()).toMatchObject({ width: 2048, height: 2048 });
  });

  test('V1, reroll, zoom and pan make new grids with grid buttons', async () => {
    const grid = await run(client.submitImagine({ prompt: 'a desk lamp --ar 3:2' }));
    const v1 = await run(client.submitAction({ taskId: grid.id, customId: findButton(grid, 'V1')!.customId }));
    const reroll = await run(client.submitAction({ taskId: grid.id, customId: findButton(grid, 'reroll')!.customId }));
    expect([v1.action, reroll.action]).toEqual(['VARIATION', 'REROLL']);
    const u1 = await run(client.submitAction({ taskId: grid.id, customId: findButton(grid, 'U1')!.customId }));
    const zoom = await run(client.submitAction({ taskId: u1.id, customId: findButton(u1, 'zoom_2x')!.customId }));
    const pan = await run(client.submitAction({ taskId: u1.id, customId: findButton(u1, 'pan_left')!.customId }));
    expect([zoom.action, pan.action]).toEqual(['ZOOM', 'PAN']);
    for (const g of [v1, reroll, zoom, pan]) expect(findButton(g, 'U4')).toBeDefined();
    const sizes = await Promise.all([grid, v1].map(async (g) => sharp((await download(g.imageUrl!)).bytes).metadata()));
    expect(sizes.map((m) => [m.width, m.height])).toEqual([
      [2496, 1664],
      [2496, 1664],
    ]);
    const [a, b] = await Promise.all([grid, v1].map(async (g) => (await download(g.imageUrl!)).bytes));
    expect(a!.equals(b!)).toBe(false);
  });

  test('Vary (Region) enters MODAL (code 21), and /submit/modal needs the mask before it runs', async () => {
    const grid = await run(client.submitImagine({ prompt: 'a wool sweater' }));
    const u3 = await run(client.submitAction({ taskId: grid.id, customId: findButton(grid, 'U3')!.customId }));
    const modal = await client.submitAction({ taskId: u3.id, customId: findButton(u3, 'vary_region')!.customId });
    expect(modal).toMatchObject({ code: 21, modal: true });
    expect((await client.fetchTask(modal.taskId)).status).toBe(profile === 'plus' ? 'MODAL' : '');
    await expect(client.submitModal({ taskId: modal.taskId, prompt: 'a red sweater' })).rejects.toMatchObject({ reason: 'validation' });
    const confirmed = await client.submitModal({ taskId: modal.taskId, prompt: 'a red sweater', maskBase64: PIXEL });
    expect(confirmed.taskId).toBe(modal.taskId);
    const done = (await pollUntilDone(client, t, modal.taskId)).task;
    // A gateway keeps the prompt it saw at submit (the parent's); the proxy shows the confirmed one.
    expect(done).toMatchObject({ status: 'SUCCESS', prompt: profile === 'plus' ? 'a red sweater' : 'a wool sweater' });
  });

  test('Custom Zoom enters MODAL and runs once confirmed with a prompt', async () => {
    const grid = await run(client.submitImagine({ prompt: 'a glass bottle' }));
    const u4 = await run(client.submitAction({ taskId: grid.id, customId: findButton(grid, 'U4')!.customId }));
    const modal = await client.submitAction({ taskId: u4.id, customId: findButton(u4, 'zoom_custom')!.customId });
    expect(modal.code).toBe(21);
    await client.submitModal({ taskId: modal.taskId, prompt: 'a glass bottle --zoom 1.8' });
    expect((await pollUntilDone(client, t, modal.taskId)).task).toMatchObject({
      status: 'SUCCESS',
      action: profile === 'plus' ? 'ZOOM' : 'CUSTOM_ZOOM',
    });
  });

  test('describe returns four prompts; shorten returns an analysis', async () => {
    const described = await run(client.submitDescribe({ base64: PIXEL }));
    expect(described.status).toBe('SUCCESS');
    const prompts = String(described.properties?.finalPrompt ?? '').split('\n\n');
    expect(prompts).toHaveLength(4);
    expect(prompts.map((p) => p.slice(0, 3))).toEqual(['1️⃣', '2️⃣', '3️⃣', '4️⃣'].map((e) => `${e} `.slice(0, 3)));
    const shortened = await run(
      client.submitShorten({ prompt: 'a very detailed studio photograph of a ceramic vase with dried flowers --ar 1:1' }),
    );
    expect(shortened.status).toBe('SUCCESS');
    expect(String(shortened.properties?.finalPrompt)).toContain('Shortened prompts');
    if (profile === 'plus') {
      // Describe's Retry button runs Describe again on the same image, with new suggestions.
      const retry = await run(client.submitAction({ taskId: described.id, customId: 'MJ::Picread::Retry' }));
      expect(retry).toMatchObject({ status: 'SUCCESS', action: 'DESCRIBE' });
      expect(retry.properties?.finalPrompt).not.toBe(described.properties?.finalPrompt);
    }
  });

  test('blend takes 2 to 5 images and a dimensions value', async () => {
    await expect(client.submitBlend({ base64Array: [PIXEL] })).rejects.toMatchObject({ reason: 'validation' });
    await expect(client.submitBlend({ base64Array: Array(6).fill(PIXEL) })).rejects.toMatchObject({ reason: 'validation' });
    await expect(client.submitBlend({ base64Array: [PIXEL, PIXEL], dimensions: 'WIDE' as never })).rejects.toMatchObject({
      reason: 'validation',
    });
    await expect(client.submitBlend({ base64Array: ['not-a-data-url', PIXEL] })).rejects.toMatchObject({ reason: 'validation' });
    const blend = await run(client.submitBlend({ base64Array: [PIXEL, PIXEL, PIXEL], dimensions: 'PORTRAIT' }));
    expect(blend).toMatchObject({ status: 'SUCCESS', action: 'BLEND' });
    const meta = await sharp((await download(blend.imageUrl!)).bytes).metadata();
    expect(meta.height).toBeGreaterThan(meta.width!);
  });

  test('an unfinished parent is "not ready" (retryable); a button it lacks or a missing parent is refused', async () => {
    const accepted = await client.submitImagine({ prompt: 'a wristwatch' });
    await expect(client.submitAction({ taskId: accepted.taskId, customId: 'MJ::JOB::upsample::1::nope' })).rejects.toMatchObject({
      kind: 'retryable',
      reason: 'parent-not-ready',
    });
    const missing = await client.submitAction({ taskId: '1000000000000001', customId: 'MJ::JOB::upsample::1::x' }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ kind: 'not-retryable', reason: 'parent-missing' });
    await pollUntilDone(client, t, accepted.taskId);
    await expect(client.submitAction({ taskId: accepted.taskId, customId: 'MJ::JOB::upsample::1::nope' })).rejects.toMatchObject({
      kind: 'not-retryable',
      reason: 'validation',
    });
  });
});

test('plus: the C# routes /mj-fast, /mj-relax, /mj-turbo set the mode; the prompt flag applies without one; other prefixes are no route', async () => {
  const t = await simulatorTarget('plus');
  const post = (prefix: string) =>
    fetch(`${t.baseUrl}${prefix}/mj/submit/imagine`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'p --turbo' }),
    });
  for (const [prefix, mode] of [
    ['/mj-fast', 'FAST'],
    ['/mj-relax', 'RELAX'],
    ['/mj-turbo', 'TURBO'],
    ['', 'TURBO'],
  ] as const) {
    const body = (await (await post(prefix)).json()) as { code: number; result: string };
    expect([1, 22]).toContain(body.code);
    expect(t.sim!.engine.jobs.get(body.result)!.mode).toBe(mode);
  }
  for (const prefix of ['/relax', '/fast', '/mj-turbo-proxy', '/mj-relay']) {
    const res = await post(prefix);
    expect({ prefix, status: res.status, body: await res.text() }).toEqual({ prefix, status: 404, body: '' });
  }
  expect(t.sim!.engine.jobs.size).toBe(4);
  await t.close();
});

test('notifyHook receives the whole task on every change, in order, with the state echoed', async () => {
  const hook = await hookServer();
  const { received } = hook;
  const t = await simulatorTarget('plus');
  const client = clientFor(t);
  const accepted = await client.submitImagine({ prompt: 'a pair of sneakers', state: 'row-42', notifyHook: hook.url });
  await pollUntilDone(client, t, accepted.taskId);
  await new Promise((r) => setTimeout(r, 300));
  const statuses = received.map((x) => x.status);
  expect(statuses[statuses.length - 1]).toBe('SUCCESS');
  expect(statuses).toEqual(expect.arrayContaining(['SUBMITTED', 'IN_PROGRESS']));
  const ranks = statuses.map((s) => ['NOT_START', 'SUBMITTED', 'IN_PROGRESS', 'SUCCESS'].indexOf(s));
  expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
  const progress = received.filter((x) => x.status === 'IN_PROGRESS').map((x) => parseInt(x.progress!, 10));
  expect(progress.length).toBeGreaterThanOrEqual(4);
  expect(progress.length).toBeLessThanOrEqual(6);
  expect(new Set(progress).size).toBe(progress.length);
  expect(progress).toEqual([...progress].sort((a, b) => a - b));
  expect(received.every((x) => x.id === accepted.taskId && x.state === 'row-42')).toBe(true);
  expect(received.find((x) => x.status === 'IN_PROGRESS')!.imageUrl).toMatch(/\.webp\?/);
  await client.close();
  await t.close();
  hook.close();
});
