// A reprocess batch (item.reprocess) as it runs, on a local dev server, with stub activities: each row makes new
// thumbnails from its stored images only (no job, no download), keeps its status, and a row with nothing stored is
// skipped without its record being touched.
import type { StoredImage } from '../../contracts/media';
import {
  batchInput,
  cancelBatchSignal,
  progressUntil,
  startBatch,
  Stubs,
  unique,
  withWorkers,
  useWorkflowTestEnv,
  type BatchHandle,
  type ItemResult,
  type StubRow,
} from './harness';

const env = useWorkflowTestEnv();

const PROFILE = [
  { size: 1024, format: 'webp' as const },
  { size: 128, format: 'jpeg' as const },
];

const row = (key: string, gated = false): StubRow => ({ key, script: { kind: 'ok' }, gated });

/** A batch's input as `planReprocess` makes it: the rows run as reprocess rows, with the new profile. */
function reprocessInput(stubs: Stubs, taskQueue: string, over: Parameters<typeof batchInput>[2] = {}) {
  const input = batchInput(stubs, taskQueue, over);
  return { ...input, item: { ...input.item, reprocess: true, thumbnails: PROFILE, callbacks: false } };
}

/** An image as storeImage recorded it, with the thumbnails of the first profile. */
function storedImage(stubs: Stubs, rowKey: string, role: string): StoredImage {
  const key = `${stubs.outputPrefix}/${rowKey}/${role}.png`;
  return {
    role,
    taskId: `task-${rowKey}-${role}`,
    key,
    sha256: `sha-of-${key}`,
    bytes: 2048,
    width: 1024,
    height: 1024,
    format: 'png',
    thumbnails: [{ key: `${key}-512.webp`, sha256: 'old', width: 512, height: 512, format: 'webp' }],
    sidecarKey: key.replace(/\.png$/, '.json'),
    skipped: false,
  };
}

/** Seeds the stubs' stored result of a row. */
function seed(stubs: Stubs, rowKey: string, result: Omit<ItemResult, 'rowKey' | 'line'>): ItemResult {
  const line = stubs.rows.find((r) => r.key === rowKey)!.line;
  const stored = { rowKey, line, ...result };
  stubs.stored.set(rowKey, stored);
  return stored;
}

const thumbKeysOf = (images: StoredImage[]) => images.map((i) => i.thumbnails.map((t) => t.key));
const newThumbKeys = (image: StoredImage) => PROFILE.map((t) => `${image.key}-${t.size}.${t.format}`);

/** The workflow types the batch started its rows with, from its history. */
async function childTypes(handle: BatchHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const name = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name;
    return name ? [name] : [];
  });
}

test('new thumbnails for every stored image, statuses kept; rows with nothing stored are skipped untouched; nothing submitted', async () => {
  const batchId = unique('reprocess');
  const taskQueue = unique('tq-reprocess');
  const stubs = new Stubs(
    batchId,
    ['done', 'partial', 'failed-bare', 'never', 'lost'].map((k) => row(k)),
  );
  const done = seed(stubs, 'done', {
    status: 'SUCCESS',
    taskIds: ['t1', 't2'],
    images: [storedImage(stubs, 'done', 'grid'), storedImage(stubs, 'done', 'U1')],
    modeRequested: 'relax',
    modeRan: 'relax',
  });
  const partial = seed(stubs, 'partial', {
    status: 'FAILED',
    failureClass: 'generation',
    reason: 'the upscale failed',
    taskIds: ['t3', 't4'],
    images: [storedImage(stubs, 'partial', 'grid')],
  });
  const bare = seed(stubs, 'failed-bare', { status: 'FAILED', failureClass: 'banned', reason: 'banned word', taskIds: [], images: [] });
  const lost = seed(stubs, 'lost', {
    status: 'SUCCESS',
    taskIds: ['t5'],
    images: [storedImage(stubs, 'lost', 'grid'), storedImage(stubs, 'lost', 'U2')],
  });
  stubs.lostOriginals.add(lost.images[1]!.key);
  const input = reprocessInput(stubs, taskQueue, { concurrency: 2 });

  const { result, types } = await withWorkers(env.current, taskQueue, stubs, async () => {
    const handle = await startBatch(env.current, taskQueue, input);
    return { result: await handle.result(), types: await childTypes(handle) };
  });

  expect(types).toEqual(Array(5).fill('reprocessRowWorkflow'));
  // No job, no poll, no download: only the stored images were read back, each once, with the new profile.
  expect(stubs.submits).toEqual([]);
  expect(stubs.fetches).toEqual([]);
  expect(stubs.images).toEqual([]);
  const expectedKeys = [...done.images, ...partial.images, ...lost.images].map((i) => i.key).sort();
  expect(stubs.rethumbnails.map((r) => r.key).sort()).toEqual(expectedKeys);
  expect(stubs.rethumbnails.every((r) => JSON.stringify(r.thumbnails) === JSON.stringify(PROFILE))).toBe(true);

  // What the rows return is what the batch counts: the skipped ones, the one that lost an original as failed.
  expect(result.counts).toEqual({ total: 5, succeeded: 1, failed: 2, unknownSubmit: 0, skipped: 2, cancelled: 0 });

  const savedOf = (key: string) => stubs.saves.filter((s) => s.rowKey === key);
  // A success stays a success, with everything else it recorded; only its images' thumbnails changed.
  expect(savedOf('done')).toHaveLength(1);
  const savedDone = savedOf('done')[0]!;
  expect({ ...savedDone, images: [] }).toEqual({ ...done, images: [] });
  expect(thumbKeysOf(savedDone.images)).toEqual(done.images.map(newThumbKeys));
  expect(savedDone.images.map((i) => ({ ...i, thumbnails: [] }))).toEqual(
    done.images.map((i) => ({ ...i, thumbnails: [], skipped: true })),
  );
  // An earlier failure keeps its status, class and reason, with new thumbnails for the image it had.
  expect(savedOf('partial')).toHaveLength(1);
  expect(savedOf('partial')[0]).toMatchObject({ status: 'FAILED', failureClass: 'generation', reason: 'the upscale failed' });
  expect(thumbKeysOf(savedOf('partial')[0]!.images)).toEqual(partial.images.map(newThumbKeys));
  // Nothing stored to reprocess: no record written, the earlier one stands (the report shows it as it was).
  expect(savedOf('failed-bare')).toEqual([]);
  expect(savedOf('never')).toEqual([]);
  expect(stubs.stored.get('failed-bare')).toEqual(bare);
  expect(stubs.stored.has('never')).toBe(false);
  // A lost original: the row is stored FAILED with class storage naming the image; the other image got its thumbnails,
  // the lost one keeps its entry (its old thumbnails are still in the bucket).
  const savedLost = savedOf('lost');
  expect(savedLost).toHaveLength(1);
  expect(savedLost[0]).toMatchObject({ status: 'FAILED', failureClass: 'storage', taskIds: ['t5'] });
  expect(savedLost[0]!.reason).toContain(`no new thumbnails for U2: stub: the original ${lost.images[1]!.key} is missing`);
  expect(thumbKeysOf(savedLost[0]!.images)).toEqual([newThumbKeys(lost.images[0]!), lost.images[1]!.thumbnails.map((t) => t.key)]);

  // The report is written once, after every saved row, and sees each row truthfully.
  expect(stubs.reports).toHaveLength(1);
  expect(stubs.reports[0]!.statusesAtCall).toEqual({
    done: 'SUCCESS',
    partial: 'FAILED',
    'failed-bare': 'FAILED',
    never: 'MISSING',
    lost: 'FAILED',
  });
});

test('a cancel: the row in flight is counted CANCELLED and its record is left as it was', async () => {
  const batchId = unique('reprocess-cancel');
  const taskQueue = unique('tq-reprocess-cancel');
  const stubs = new Stubs(batchId, [row('quick'), row('held', true)]);
  const quick = seed(stubs, 'quick', { status: 'SUCCESS', taskIds: ['q'], images: [storedImage(stubs, 'quick', 'grid')] });
  const held = seed(stubs, 'held', { status: 'SUCCESS', taskIds: ['h'], images: [storedImage(stubs, 'held', 'grid')] });
  const input = reprocessInput(stubs, taskQueue, { concurrency: 2 });

  const result = await withWorkers(env.current, taskQueue, stubs, async () => {
    const handle = await startBatch(env.current, taskQueue, input);
    await stubs.until('quick saved and held waiting', () => stubs.saves.length === 1 && stubs.rethumbnails.length === 2);
    await progressUntil(handle, 'quick to be counted', (p) => p.counts.succeeded === 1);
    await handle.signal(cancelBatchSignal);
    return handle.result();
  });

  expect(result).toMatchObject({ cancelled: true });
  expect(result.counts).toEqual({ total: 2, succeeded: 1, failed: 0, unknownSubmit: 0, skipped: 0, cancelled: 1 });
  expect(stubs.saves.map((s) => s.rowKey)).toEqual(['quick']);
  expect(thumbKeysOf(stubs.stored.get('quick')!.images)).toEqual(quick.images.map(newThumbKeys));
  expect(stubs.stored.get('held')).toEqual(held);
  expect(stubs.reports[0]!.statusesAtCall).toEqual({ quick: 'SUCCESS', held: 'SUCCESS' });
});

test('a row started with a slot lease and reportTo gives the slot back and tells that workflow how it ended', async () => {
  const taskQueue = unique('tq-reprocess-signals');
  const stubs = new Stubs(unique('reprocess-signals'), [row('only')]);
  seed(stubs, 'only', { status: 'SUCCESS', taskIds: ['o'], images: [storedImage(stubs, 'only', 'grid')] });
  // Something running to receive the signals: a batch over the same stubs, paused before its first row.
  const listener = batchInput(stubs, taskQueue, {
    batchId: unique('listener'),
    carried: {
      offset: 0,
      counts: { total: 0, succeeded: 0, failed: 0, unknownSubmit: 0, skipped: 0, cancelled: 0 },
      startedAt: Date.now(),
      runs: 0,
      concurrency: 1,
      paused: true,
    },
  });
  const item = reprocessInput(stubs, taskQueue).item;

  const { result, signals } = await withWorkers(env.current, taskQueue, stubs, async () => {
    const target = await startBatch(env.current, taskQueue, listener);
    await progressUntil(target, 'the listener to be paused', (p) => p.state === 'paused');
    const result = (await env.current.env.client.workflow.execute('reprocessRowWorkflow', {
      workflowId: unique(`${stubs.batchId}/only`),
      taskQueue,
      args: [
        {
          batchId: stubs.batchId,
          outputPrefix: stubs.outputPrefix,
          row: stubs.rows[0]!,
          options: item,
          slotLease: { workflowId: listener.batchId, leaseId: 'lease-only' },
          reportTo: listener.batchId,
        },
      ],
    })) as ItemResult;
    const history = await target.fetchHistory();
    await target.terminate('test done');
    const signals = (history.events ?? []).flatMap((e) => {
      const s = e.workflowExecutionSignaledEventAttributes;
      if (!s) return [];
      const payload = s.input?.payloads?.[0]?.data;
      return [{ name: s.signalName, arg: payload ? (JSON.parse(Buffer.from(payload).toString('utf8')) as unknown) : undefined }];
    });
    return { result, signals };
  });

  expect(result).toMatchObject({ rowKey: 'only', status: 'SUCCESS' });
  expect(thumbKeysOf(result.images)).toEqual([newThumbKeys(storedImage(stubs, 'only', 'grid'))]);
  expect(stubs.saves).toHaveLength(1);
  expect(signals).toEqual([
    { name: 'releaseSlot', arg: 'lease-only' },
    { name: 'rowFinished', arg: { rowKey: 'only', status: 'SUCCESS' } },
  ]);
});
