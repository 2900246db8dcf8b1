// Moderated FAILUREs as the simulator serves them (sources in docs/gateway-model.md): the C# Plus proxy's banned-word
// check at execution (fault `moderatedWords`), and Midjourney refusing a prompt once sent (directive
// `[sim:moderated]`), in both profiles. The reasons are the ones the row classification treats as `banned`.
import { isModerationFailure } from '../../contracts/moderation';
import { admin, pollUntilDone, withSimulator as withSim } from './targets';

const MIDJOURNEY_REFUSAL =
  '[Banned prompt detected] Sorry! Our AI moderator thinks this prompt is probably against our community standards.';

test('plus: a prompt with a moderated word is accepted, then fails before it starts with 可能包含敏感词', async () => {
  await withSim('plus', { faults: { moderatedWords: ['gore'], failure: 0 } }, async (t, c) => {
    const accepted = await c.submitImagine({ prompt: 'a GORE scene' });
    expect(accepted.code).toBe(1); // checked at execution, not at submit (unlike code 24)
    const { task, seen } = await pollUntilDone(c, t, accepted.taskId);
    expect(task).toMatchObject({ status: 'FAILURE', failReason: '可能包含敏感词', progress: '' });
    expect(task.startTime ?? null).toBeNull(); // it never started
    expect(seen.map((s) => s.status)).not.toContain('IN_PROGRESS');
    expect(isModerationFailure(task.failReason!)).toBe(true);

    // A prompt without the word runs as usual.
    expect((await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'a calm lake' })).taskId)).task.status).toBe('SUCCESS');
    const stats = (await admin(t, '/_sim/stats')).body;
    expect(stats.refused).toMatchObject({ moderatedFailures: 1, bannedRefusals: 0 });
  });
});

test('plus: [sim:moderated] is refused by Midjourney once sent: SUBMITTED, then FAILURE with the banned-prompt embed', async () => {
  await withSim('plus', {}, async (t, c) => {
    const { taskId } = await c.submitImagine({ prompt: 'something Midjourney refuses [sim:moderated]' });
    const { task, seen } = await pollUntilDone(c, t, taskId);
    expect(task).toMatchObject({ status: 'FAILURE', failReason: MIDJOURNEY_REFUSAL, progress: '' });
    expect(task.startTime).toEqual(expect.any(Number));
    expect(seen.map((s) => s.status)).not.toContain('IN_PROGRESS');
    expect(isModerationFailure(task.failReason!)).toBe(true);
    expect((await admin(t, '/_sim/stats')).body.refused.moderatedFailures).toBe(1);
  });
});

test('gateway: the upstream moderated FAILURE shows at its next poll, with the upstream reason and progress 100%', async () => {
  await withSim('gateway', { faults: { moderatedWords: ['gore'] } }, async (t, c) => {
    const words = (await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'gore' })).taskId)).task;
    expect(words).toMatchObject({ status: 'FAILURE', failReason: '可能包含敏感词', progress: '100%' });
    const refused = (await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'refused [sim:moderated]' })).taskId)).task;
    expect(refused).toMatchObject({ status: 'FAILURE', failReason: MIDJOURNEY_REFUSAL, progress: '100%' });
  });
});

test('moderatedWords at run time through /_sim/faults: checked, applied to new submits, cleared by DELETE', async () => {
  await withSim('plus', {}, async (t, c) => {
    const bad = await admin(t, '/_sim/faults', { method: 'POST', body: JSON.stringify({ moderatedWords: 'gore' }) });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('moderatedWords must be an array of strings');

    expect((await admin(t, '/_sim/faults', { method: 'POST', body: JSON.stringify({ moderatedWords: ['lava'] }) })).status).toBe(200);
    const moderated = (await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'a Lava flow' })).taskId)).task;
    expect(moderated).toMatchObject({ status: 'FAILURE', failReason: '可能包含敏感词' });

    expect((await admin(t, '/_sim/faults', { method: 'DELETE' })).body).toMatchObject({ moderatedWords: [] });
    expect((await pollUntilDone(c, t, (await c.submitImagine({ prompt: 'a lava flow' })).taskId)).task.status).toBe('SUCCESS');
  });
});
