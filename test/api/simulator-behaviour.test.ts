import sharp from 'sharp';
import { MjApiError } from '../../mj-client';
import { admin, download, pollUntilDone, withSimulator as withSim } from './targets';

test.each([
  ['plus', 22, 23],
  ['gateway', 1, 9],
] as const)('%s: 3 running, 10 queued (code %i), then queue full (code %i)', async (profile, queuedCode, fullCode) => {
  await withSim(profile, { speed: 1 }, async (t, c) => {
    const answers = [];
    for (let i = 0; i < 13; i++) answers.push(await c.submitImagine({ prompt: `queued ${i}` }));
    expect(answers.slice(0, 3).map((a) => a.code)).toEqual([1, 1, 1]);
    expect(answers.slice(3).map((a) => a.code)).toEqual(Array(10).fill(queuedCode));
    if (profile === 'plus') expect(answers.slice(3).map((a) => a.numberOfQueues)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const full = await c.submitImagine({ prompt: 'one too many' }).catch((e: unknown) => e);
    expect(full).toMatchObject({ kind: 'retryable', reason: 'queue-full', code: fullCode });
    const stats = (await admin(t, '/_sim/stats')).body;
    expect(stats.accounts).toEqual([expect.objectContaining({ id: 1, running: 3, queued: 10 })]);
    expect(stats.acceptedPaidJobs).toBe(13);
    expect(stats.refused.queueFullRefusals).toBe(1);
  });
});

test('N accounts multiply the slots', async () => {
  await withSim('plus', { speed: 1, accounts: 2 }, async (t, c) => {
    const codes = [];
    for (let i = 0; i < 6; i++) codes.push((await c.submitImagine({ prompt: `p${i}` })).code);
    expect(codes).toEqual([1, 1, 1, 1, 1, 1]);
    expect((await c.submitImagine({ prompt: 'p7' })).code).toBe(22);
  });
});

test('the ledger counts jobs by action and status, and busy slot-seconds per account', async () => {
  await withSim('plus', { speed: 100 }, async (t, c) => {
    const started = Date.now();
    const ids = await Promise.all(
      [1, 2, 3, 4].map(async (i) => (await c.submitImagine({ prompt: `ledger ${i}`, state: `row-${i}` })).taskId),
    );
    await Promise.all(ids.map((id) => pollUntilDone(c, t, id)));
    const elapsedSec = (Date.now() - started) / 1000;
    const stats = (await admin(t, '/_sim/stats')).body;
    expect(stats).toMatchObject({ acceptedPaidJobs: 4, byAction: { IMAGINE: 4 }, byStatus: { SUCCESS: 4 } });
    expect(stats.busySlotSeconds).toBeGreaterThan(0);
    expect(stats.busySlotSeconds).toBeLessThanOrEqual(3 * elapsedSec + 0.05);
    const jobs = (await admin(t, '/_sim/jobs')).body as {
      id: string;
      state: string;
      action: string;
      submitTime: number;
      startTime: number;
      finishTime: number;
      mode: string;
    }[];
    expect(jobs.map((j) => j.state).sort()).toEqual(['row-1', 'row-2', 'row-3', 'row-4']);
    for (const j of jobs) {
      expect(j).toMatchObject({ action: 'IMAGINE', mode: 'FAST' });
      expect(j.submitTime).toBeLessThanOrEqual(j.startTime);
      expect(j.startTime).toBeLessThanOrEqual(j.finishTime);
    }
  });
});

test('the gateway shows status "" and progress "0%" until its first upstream poll, then catches up', async () => {
  await withSim('gateway', { speed: 1, gatewayPollMs: 400 }, async (t, c) => {
    const { taskId } = await c.submitImagine({ prompt: 'lagging' });
    const early = await c.fetchTask(taskId);
    expect(early).toMatchObject({ status: '', progress: '0%', imageUrl: '', state: '', startTime: 0, buttons: null, properties: null });
    await new Promise((r) => setTimeout(r, 1500));
    expect(['NOT_START', 'SUBMITTED']).toContain((await c.fetchTask(taskId)).status);
  });
});

test('gateway image URLs point at its /mj/image/{id} relay, which serves the bytes without a key', async () => {
  await withSim('gateway', { speed: 100 }, async (t, c) => {
    const { taskId } = await c.submitImagine({ prompt: 'relayed' });
    const { task } = await pollUntilDone(c, t, taskId);
    expect(task.imageUrl).toBe(`${t.baseUrl}/mj/image/${taskId}`);
    const img = await download(task.imageUrl!);
    expect(img.format).toBe('png');
    expect((await fetch(`${t.baseUrl}/mj/image/1000000000000001`)).status).toBe(400);
  });
});

test('images: the same prompt gives the same bytes; URLs expire (403); a tampered signature is refused', async () => {
  await withSim('plus', { speed: 100, imageUrlTtlMs: 1500 }, async (t, c) => {
    const a = (await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'same prompt' })).taskId)).task;
    const b = (await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'same prompt' })).taskId)).task;
    const [ia, ib] = await Promise.all([download(a.imageUrl!), download(b.imageUrl!)]);
    expect(ia.bytes.equals(ib.bytes)).toBe(true);
    expect((await download(a.imageUrl!.replace(/hm=[0-9a-f]/, 'hm=z'))).status).toBe(403);
    await new Promise((r) => setTimeout(r, 1600));
    expect((await download(a.imageUrl!)).status).toBe(403);
  });
});

test('faults set by flags: banned words (code 24), FAILURE with a reason, stalls ended by the task timeout', async () => {
  await withSim('plus', { speed: 100, taskTimeoutMs: 800, faults: { bannedWords: ['gore'], failure: 0 } }, async (t, c) => {
    const banned = await c.submitImagine({ prompt: 'a GORE scene' }).catch((e: unknown) => e);
    expect(banned).toMatchObject({ kind: 'not-retryable', reason: 'banned-prompt', bannedWord: 'gore', code: 24 });
    await admin(t, '/_sim/faults', { method: 'POST', body: JSON.stringify({ failure: 1 }) });
    const failed = (await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'doomed' })).taskId)).task;
    expect(failed).toMatchObject({ status: 'FAILURE', progress: '' });
    expect(failed.failReason).toMatch(/\S/);
    await admin(t, '/_sim/faults', { method: 'POST', body: JSON.stringify({ failure: 0, stall: 1 }) });
    const stalled = (await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'stuck' })).taskId)).task;
    expect(stalled).toMatchObject({ status: 'FAILURE', failReason: '任务超时' });
  });
});

test('faults at run time: 429 bursts, 5xx, queue full, and a dropped answer after an accepted submit', async () => {
  await withSim('gateway', { speed: 100 }, async (t, c) => {
    expect((await admin(t, '/_sim/faults', { method: 'POST', body: JSON.stringify({ burst429: 2 }) })).status).toBe(200);
    // As a gateway relays an upstream 429: empty body, no Retry-After.
    for (let i = 0; i < 2; i++)
      expect(await c.fetchTask('1').catch((e: unknown) => e)).toMatchObject({
        kind: 'retryable',
        reason: 'rate-limited',
        httpStatus: 429,
        code: undefined,
        retryAfterMs: undefined,
      });
    expect(await c.fetchTask('1').catch((e: unknown) => e)).toMatchObject({ kind: 'not-found' });

    await admin(t, '/_sim/faults', { method: 'POST', body: JSON.stringify({ http5xx: 1 }) });
    expect(await c.submitImagine({ prompt: 'p' }).catch((e: unknown) => e)).toMatchObject({
      kind: 'retryable',
      reason: 'server-error',
      httpStatus: 500,
    });
    await admin(t, '/_sim/faults', { method: 'POST', body: JSON.stringify({ http5xx: 0, queueFull: 1 }) });
    expect(await c.submitImagine({ prompt: 'p' }).catch((e: unknown) => e)).toMatchObject({ kind: 'retryable', reason: 'queue-full' });
    expect(t.sim!.engine.jobs.size).toBe(0);

    await admin(t, '/_sim/faults', { method: 'POST', body: JSON.stringify({ queueFull: 0, resetAfterSubmit: 1 }) });
    const lost = await c.submitImagine({ prompt: 'paid but unheard', state: 'row-9' }).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(MjApiError);
    expect(lost).toMatchObject({ kind: 'ambiguous' });
    const ledger = (await admin(t, '/_sim/jobs')).body as { state: string }[];
    expect(ledger.map((j) => j.state)).toEqual(['row-9']);

    const bad = await admin(t, '/_sim/faults', { method: 'POST', body: JSON.stringify({ http5xx: 2 }) });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain('share from 0 to 1');
    expect((await admin(t, '/_sim/faults', { method: 'DELETE' })).body).toMatchObject({ http5xx: 0, resetAfterSubmit: 0, bannedWords: [] });
  });
});

test('image faults: corrupt bytes that still sniff as PNG, truncated downloads, oversized images, slow downloads', async () => {
  await withSim('plus', { speed: 100, faults: { corruptImage: 1 } }, async (t, c) => {
    const task = (await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'corrupt me' })).taskId)).task;
    const img = await download(task.imageUrl!);
    expect(img.format).toBe('png');
    await expect(sharp(img.bytes, { failOn: 'error' }).raw().toBuffer()).rejects.toThrow();

    await admin(t, '/_sim/faults', { method: 'POST', body: JSON.stringify({ corruptImage: 0, truncatedImage: 1 }) });
    const cut = (await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'cut me' })).taskId)).task;
    await admin(t, '/_sim/faults', {
      method: 'POST',
      body: JSON.stringify({ truncatedImage: 0, oversizedImage: 1, slowImageBytesPerSec: 200_000 }),
    });
    const big = (await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'huge' })).taskId)).task;
    const truncated = await download(cut.imageUrl!);
    await expect(sharp(truncated.bytes, { failOn: 'truncated' }).raw().toBuffer()).rejects.toThrow();
    const started = Date.now();
    const oversized = await download(big.imageUrl!);
    expect(await sharp(oversized.bytes).metadata()).toMatchObject({ width: 12000, height: 12000 });
    await expect(
      sharp(oversized.bytes, { limitInputPixels: 8192 * 8192 })
        .metadata()
        .then(() =>
          sharp(oversized.bytes, { limitInputPixels: 8192 * 8192 })
            .raw()
            .toBuffer(),
        ),
    ).rejects.toThrow(/pixel limit/i);
    // Throttled: at 200 kB/s the download takes at least size/rate seconds (a measured property of the fault, not a speed goal).
    expect(Date.now() - started).toBeGreaterThanOrEqual((oversized.bytes.length / 200_000) * 1000 * 0.8);
  });
});

test('a MODAL window never confirmed expires, without freeing a slot it never held', async () => {
  await withSim('plus', { speed: 100, modalTimeoutMs: 300 }, async (t, c) => {
    const grid = (await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'modal expiry' })).taskId)).task;
    const u1 = (
      await pollUntilDone(
        c,
        t,
        (await c.submitAction({ taskId: grid.id, customId: grid.buttons!.find((b) => b.label === 'U1')!.customId })).taskId,
      )
    ).task;
    const modal = await c.submitAction({
      taskId: u1.id,
      customId: u1.buttons!.find((b) => b.customId.startsWith('MJ::Inpaint::'))!.customId,
    });
    expect((await c.fetchTask(modal.taskId)).status).toBe('MODAL');
    await new Promise((r) => setTimeout(r, 600));
    expect(await c.fetchTask(modal.taskId)).toMatchObject({ status: 'FAILURE', failReason: '任务提交超时' });
    expect((await admin(t, '/_sim/stats')).body.accounts[0]).toMatchObject({ running: 0, queued: 0 });
  });
});

test('jobMs: every job holds its slot for that long, whatever its kind and the speed', async () => {
  await withSim('plus', { speed: 1, jobMs: 300 }, async (t, c) => {
    // At speed 1 an imagine takes 30–60 s; with jobMs it ends after 300 ms.
    const a = await c.submitImagine({ prompt: 'equal job' });
    const { task } = await pollUntilDone(c, t, a.taskId);
    expect(task.status).toBe('SUCCESS');
    const [job] = (await admin(t, '/_sim/jobs')).body as { slotStart: number; finishTime: number }[];
    expect(job!.finishTime - job!.slotStart).toBeGreaterThanOrEqual(295);
    expect(job!.finishTime - job!.slotStart).toBeLessThan(30_000);
  });
});
