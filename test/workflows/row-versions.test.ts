// The item workflow as it is, on a local dev server, with stub activities: a re-run skips a row only if its stored
// result has the same version, builds on an earlier grid when the first job is unchanged, and pays for nothing else.
import { batchInput, startBatch, Stubs, unique, withWorkers, useWorkflowTestEnv, type ItemResult, type StubRow } from './harness';

const env = useWorkflowTestEnv();

type Step = { intent: 'U1' | 'U2' | 'U3' | 'U4' | 'upscale_subtle' };

/** Gives the stub manifest's row `key` this prompt and plan (what editing the manifest does). */
function edit(stubs: Stubs, key: string, change: { prompt?: string; plan?: Step[][] }): void {
  const i = stubs.rows.findIndex((r) => r.key === key);
  const row = stubs.rows[i]!;
  const plan = change.plan ?? row.plan;
  stubs.rows[i] = {
    ...row,
    prompt: change.prompt ?? row.prompt,
    plan,
    actions: plan.map((chain) => chain.map((s) => s.intent).join('>')).join(','),
  };
}

async function runOnce(stubs: Stubs, item: { resubmitBanned?: boolean; skipDone?: boolean } = {}) {
  const taskQueue = unique('tq-versions');
  const input = batchInput(stubs, taskQueue, { batchId: unique(stubs.batchId), concurrency: 4 });
  input.item = { ...input.item, ...item };
  return withWorkers(env.current, taskQueue, stubs, async () => (await startBatch(env.current, taskQueue, input)).result());
}

/** What one run did: the submits (and stored images) it made, by row. */
async function counted(stubs: Stubs, run: () => Promise<unknown>) {
  const [submits, images, saves] = [stubs.submits.length, stubs.images.length, stubs.saves.length];
  await run();
  return {
    submits: stubs.submits.slice(submits),
    images: stubs.images.slice(images),
    saves: stubs.saves.slice(saves),
    submitsOf: (key: string) => stubs.submits.slice(submits).filter((s) => s.rowKey === key),
  };
}

const stored = (stubs: Stubs, key: string): ItemResult => stubs.stored.get(key)!;
const imageOf = (r: ItemResult, role: string) => r.images.find((i) => i.role === role);
const ok = (key: string): StubRow => ({ key, script: { kind: 'ok' } });

test('unchanged rows are skipped; a changed prompt runs in full and keeps the old images; a plan gaining picks pays only for them', async () => {
  const stubs = new Stubs(unique('versions'), [ok('same'), ok('prompt'), ok('gains-u4'), ok('longer-chain')]);
  edit(stubs, 'prompt', { plan: [[{ intent: 'U1' }]] });
  edit(stubs, 'gains-u4', { plan: [[{ intent: 'U1' }]] });
  edit(stubs, 'longer-chain', { plan: [[{ intent: 'U2' }]] });

  const first = await counted(stubs, () => runOnce(stubs));
  expect(first.submits).toHaveLength(1 + 3 * 2);
  const before = new Map(stubs.rows.map((r) => [r.key, stored(stubs, r.key)]));
  for (const r of before.values())
    expect([r.rowKey, r.status, r.version]).toEqual([r.rowKey, 'SUCCESS', expect.stringMatching(/^[0-9a-f]{16}$/)]);

  // Run again as it is: every row has the same version, nothing is paid for or stored.
  const again = await counted(stubs, () => runOnce(stubs));
  expect(again).toMatchObject({ submits: [], images: [], saves: [] });

  edit(stubs, 'prompt', { prompt: 'a changed prompt' });
  edit(stubs, 'gains-u4', { plan: [[{ intent: 'U1' }], [{ intent: 'U4' }]] });
  edit(stubs, 'longer-chain', { plan: [[{ intent: 'U2' }, { intent: 'upscale_subtle' }]] });
  const edited = await counted(stubs, () => runOnce(stubs));

  // Nothing for the unchanged row.
  expect(edited.submitsOf('same')).toEqual([]);

  // The changed prompt: a new grid and its U1, both stored; the old ones kept first, under the old version.
  const oldPrompt = before.get('prompt')!;
  const newPrompt = stored(stubs, 'prompt');
  expect(edited.submitsOf('prompt').map((s) => s.input.op)).toEqual(['new', 'action']);
  expect(edited.submitsOf('prompt')[0]!.input).toMatchObject({ op: 'new', prompt: 'a changed prompt' });
  expect(newPrompt.version).not.toBe(oldPrompt.version);
  expect(newPrompt.images.map((i) => i.role)).toEqual(['grid', 'U1']);
  expect(newPrompt.taskIds.some((t) => oldPrompt.taskIds.includes(t))).toBe(false);
  const kept = stubs.preserves.filter((p) => p.row.key === 'prompt');
  expect(kept).toHaveLength(1);
  expect(kept[0]!.keep).toEqual([{ version: oldPrompt.version, rowKey: 'prompt', images: oldPrompt.images }]);
  expect(newPrompt.superseded).toEqual([
    {
      version: oldPrompt.version,
      rowKey: 'prompt',
      images: oldPrompt.images.map((i) => expect.objectContaining({ role: i.role, taskId: i.taskId, sha256: i.sha256 })),
    },
  ]);
  for (const i of newPrompt.superseded![0]!.images) expect(i.key).toContain(`/_versions/${oldPrompt.version}/`);

  // The plan gaining U4: one U4 pressed on the stored grid, only its image stored; grid and U1 carried over.
  const oldU4 = before.get('gains-u4')!;
  const grid = imageOf(oldU4, 'grid')!;
  const u4 = edited.submitsOf('gains-u4');
  expect(u4).toHaveLength(1);
  expect(u4[0]!.input).toMatchObject({ op: 'action', taskId: grid.taskId, customId: `stub::U4::${grid.taskId}` });
  expect(edited.images.filter((i) => i.rowKey === 'gains-u4').map((i) => i.role)).toEqual(['U4']);
  const newU4 = stored(stubs, 'gains-u4');
  expect(newU4.images.map((i) => [i.role, i.taskId])).toEqual([
    ['grid', grid.taskId],
    ['U1', imageOf(oldU4, 'U1')!.taskId],
    // The stub names a row's tasks by its submits: the grid, U1, then this U4.
    ['U4', 'task-gains-u4-3'],
  ]);
  expect(newU4.images.slice(0, 2)).toEqual(oldU4.images);
  expect(newU4.version).not.toBe(oldU4.version);
  expect(stubs.preserves.filter((p) => p.row.key === 'gains-u4')).toEqual([]);
  expect(newU4.superseded).toBeUndefined();

  // The chain growing a step: upscale_subtle pressed on the stored U2 (whose buttons the API gives), nothing else.
  const oldChain = before.get('longer-chain')!;
  const u2 = imageOf(oldChain, 'U2')!;
  expect(edited.submitsOf('longer-chain').map((s) => s.input)).toEqual([
    expect.objectContaining({ op: 'action', taskId: u2.taskId, customId: `stub::upscale_subtle::${u2.taskId}` }),
  ]);
  expect(stubs.fetches).toContain(u2.taskId);
  expect(stored(stubs, 'longer-chain').images.map((i) => i.role)).toEqual(['grid', 'U2', 'U2>upscale_subtle']);
});

test('an earlier grid the API no longer knows: the row runs in full (a new grid, every pick) and keeps the old images', async () => {
  const stubs = new Stubs(unique('forgotten'), [ok('row')]);
  edit(stubs, 'row', { plan: [[{ intent: 'U1' }]] });
  await runOnce(stubs);
  const before = stored(stubs, 'row');
  stubs.forgotten.add(imageOf(before, 'grid')!.taskId);

  edit(stubs, 'row', { plan: [[{ intent: 'U1' }], [{ intent: 'U4' }]] });
  const edited = await counted(stubs, () => runOnce(stubs));
  expect(edited.submitsOf('row').map((s) => s.input.op)).toEqual(['new', 'action', 'action']);
  const after = stored(stubs, 'row');
  expect(after.status).toBe('SUCCESS');
  expect(after.images.map((i) => i.role)).toEqual(['grid', 'U1', 'U4']);
  expect(after.images.some((i) => before.taskIds.includes(i.taskId))).toBe(false);
  expect(after.superseded).toEqual([expect.objectContaining({ version: before.version, rowKey: 'row' })]);
});

test('a row refused by moderation is not submitted again by a plain re-run; redrive --class banned still sends it', async () => {
  const MODERATED = '[Banned prompt detected] Sorry! Our AI moderator thinks this prompt is probably against our community standards.';
  const stubs = new Stubs(unique('banned'), [{ key: 'refused', script: { kind: 'task-fails', reason: MODERATED } }, ok('fine')]);
  const first = await counted(stubs, () => runOnce(stubs));
  expect(first.submitsOf('refused')).toHaveLength(1);
  expect(stored(stubs, 'refused')).toMatchObject({ status: 'FAILED', failureClass: 'banned', reason: MODERATED });

  const again = await counted(stubs, () => runOnce(stubs));
  expect(again.submits).toEqual([]);
  const refusedAgain = stored(stubs, 'refused');
  expect(refusedAgain).toMatchObject({ status: 'FAILED', failureClass: 'banned', version: first.saves[0]!.version });
  expect(refusedAgain.reason).toContain(MODERATED);
  expect(refusedAgain.reason).toMatch(
    /refused by moderation in an earlier run, so not submitted again: edit the prompt, or .*--class banned/,
  );
  expect(refusedAgain.taskIds).toEqual(first.saves.find((s) => s.rowKey === 'refused')!.taskIds);

  // Once more: the reason does not grow (it names the batch to redrive, now the latest).
  await runOnce(stubs);
  const thirdReason = stored(stubs, 'refused').reason!;
  expect(thirdReason.startsWith(`${MODERATED} (refused by moderation in an earlier run`)).toBe(true);
  expect(thirdReason.split('earlier run')).toHaveLength(2);

  // What `redrive --class banned` asks for: submitted again.
  const redriven = await counted(stubs, () => runOnce(stubs, { resubmitBanned: true }));
  expect(redriven.submitsOf('refused')).toHaveLength(1);
  expect(redriven.submitsOf('fine')).toEqual([]);

  // An edited prompt is a new version: it is submitted.
  edit(stubs, 'refused', { prompt: 'a gentler prompt' });
  const edited = await counted(stubs, () => runOnce(stubs));
  expect(edited.submitsOf('refused').map((s) => s.input)).toEqual([expect.objectContaining({ op: 'new', prompt: 'a gentler prompt' })]);
});

test('a media-only row with its original stored makes new thumbnails from it (no download, no API call); a lost one is fetched again', async () => {
  const stubs = new Stubs(unique('media-stored'), [ok('pic')]);
  const i = stubs.rows.findIndex((r) => r.key === 'pic');
  stubs.rows[i] = { ...stubs.rows[i]!, imageUrl: 'https://images.test/pic.png' };

  const first = await counted(stubs, () => runOnce(stubs));
  expect(first.images.map((x) => x.role)).toEqual(['grid']);
  const original = imageOf(stored(stubs, 'pic'), 'grid')!;

  // Run again without skipping done rows (new thumbnail sizes): from the stored original.
  const before = { fetches: stubs.fetches.length, rethumbnails: stubs.rethumbnails.length };
  const again = await counted(stubs, () => runOnce(stubs, { skipDone: false }));
  expect(again.submits).toEqual([]);
  expect(again.images).toEqual([]); // storeImage (the download) was not called
  expect(stubs.fetches.length).toBe(before.fetches);
  expect(stubs.rethumbnails.slice(before.rethumbnails).map((r) => r.key)).toEqual([original.key]);
  expect(stored(stubs, 'pic')).toMatchObject({ status: 'SUCCESS' });

  // The original is gone from the bucket: the image is downloaded again, as before.
  stubs.lostOriginals.add(original.key);
  const lost = await counted(stubs, () => runOnce(stubs, { skipDone: false }));
  expect(lost.images.map((x) => x.role)).toEqual(['grid']);
  expect(stored(stubs, 'pic')).toMatchObject({ status: 'SUCCESS' });
});
