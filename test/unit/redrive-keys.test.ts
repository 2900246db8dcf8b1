import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createManifestActivities, RowKeysCache } from '../../activities/manifest';
import { createReportActivities } from '../../activities/report';
import { prepareBatch, type BatchOptions, type BatchRecord } from '../../client/batches';
import { planRedrive, redriveKeysBody, type RedriveOptions } from '../../client/redrive';
import type { BatchInput, RowKeysRef } from '../../contracts/batch';
import { redriveKeysKey } from '../../contracts/bucket-layout';
import type { ItemResult, ItemStatus } from '../../contracts/rows';
import { saveRowRecord } from '../../report/row-results';
import { toRowRef } from '../../activities/manifest';
import { validateManifestBytes } from '../../manifest/validate';
import { FakeS3 } from './fake-s3';

// A redrive's rows travel as an object in the bucket, named by a small reference in the batch input (issue 14): the
// client writes it once, the activities read it (once per worker, by its sha256) and page over the manifest as before.

const BUCKET = 'b';
const OPTS: BatchOptions = { concurrency: 2, submitPolicy: 'at-most-once', callbacks: false };
const REDRIVE: RedriveOptions = { concurrency: 2, submitPolicy: 'at-most-once', callbacks: false };

function manifestFile(rows: number, tag: string): string {
  const p = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mj-redrive-keys-')), `${tag}.jsonl`);
  const lines = Array.from({ length: rows }, (_, i) => JSON.stringify({ id: `${tag}-${i}`, kind: 'shorten', prompt: `item ${i} ${tag}` }));
  fs.writeFileSync(p, `${lines.join('\n')}\n`);
  return p;
}

/** A batch prepared and recorded the way `run` does, without starting it. */
async function recordedBatch(s3: FakeS3, rows: number, tag: string): Promise<{ record: BatchRecord; input: BatchInput; keys: string[] }> {
  const ref = manifestFile(rows, tag);
  const { input, manifest } = await prepareBatch(ref, s3.asClient(), BUCKET, 'q', { ...OPTS, outputPrefix: `out/${tag}` });
  const record: BatchRecord = { batchId: input.batchId, manifest: ref, input, startedAt: new Date().toISOString(), taskQueue: 'q' };
  return { record, input, keys: manifest.rows.map((r) => r.key) };
}

async function finish(s3: FakeS3, input: BatchInput, rowKey: string, status: ItemStatus, failureClass?: ItemResult['failureClass']) {
  const bytes = s3.objects.get(`${BUCKET}/${input.manifest.ref.replace(`s3://${BUCKET}/`, '')}`)!;
  const row = validateManifestBytes(input.manifest.ref, bytes, input.manifest.sha256).rows.find((r) => r.key === rowKey)!;
  const result: ItemResult = { rowKey, line: row.line, status, failureClass, taskIds: [], images: [] };
  await saveRowRecord(s3.asClient(), BUCKET, input.outputPrefix, {
    batchId: input.batchId,
    row: toRowRef(input.outputPrefix, row),
    result,
    finishedAt: new Date().toISOString(),
  });
}

const pageInput = (input: BatchInput, offset: number, limit: number) => ({
  ref: input.manifest.ref,
  sha256: input.manifest.sha256,
  offset,
  limit,
  outputPrefix: input.outputPrefix,
  onlyKeys: input.onlyKeys,
  onlyKeysRef: input.onlyKeysRef,
});

const reportInput = (input: BatchInput) => ({
  batchId: input.batchId,
  manifestRef: input.manifest.ref,
  sha256: input.manifest.sha256,
  outputPrefix: input.outputPrefix,
  onlyKeys: input.onlyKeys,
  onlyKeysRef: input.onlyKeysRef,
});

describe('planRedrive writes the rows as one object and puts only its reference in the input', () => {
  test('the object lists the unfinished rows in manifest order, under redriveKeysKey, with the sha256 and count of the ref', async () => {
    const s3 = new FakeS3();
    const { record, input, keys } = await recordedBatch(s3, 6, 'mixed');
    await finish(s3, input, keys[0]!, 'SUCCESS');
    await finish(s3, input, keys[1]!, 'FAILED', 'generation');
    await finish(s3, input, keys[2]!, 'FAILED', 'banned');
    await finish(s3, input, keys[3]!, 'UNKNOWN_SUBMIT', 'ambiguous');
    await finish(s3, input, keys[4]!, 'SKIPPED');
    // keys[5]: never recorded (the batch stopped before it)

    const plan = await planRedrive(s3.asClient(), BUCKET, record, { ...REDRIVE, batchId: 'mixed-again' });
    expect(plan.keys).toEqual([keys[1], keys[5]]);
    const ref = plan.input.onlyKeysRef!;
    expect(ref.key).toBe(redriveKeysKey('mixed-again', ref.sha256));
    expect(ref.key).toMatch(/^_redrives\/mixed-again\/[0-9a-f]{16}\.keys\.json$/);
    expect(ref.count).toBe(2);
    const body = s3.objects.get(`${BUCKET}/${ref.key}`)!;
    expect(createHash('sha256').update(body).digest('hex')).toBe(ref.sha256);
    expect(body.equals(redriveKeysBody('mixed-again', record.batchId, plan.keys))).toBe(true);
    expect(JSON.parse(body.toString('utf8'))).toEqual({ batchId: 'mixed-again', redriveOf: record.batchId, keys: [keys[1], keys[5]] });

    // The input names no rows itself: as JSON (what Temporal records) it has no onlyKeys at all.
    const json = JSON.parse(JSON.stringify(plan.input)) as BatchInput;
    expect(json.onlyKeys).toBeUndefined();
    expect(json.onlyKeysRef).toEqual(ref);
    expect(json.batchId).toBe('mixed-again');
    expect(json.manifest).toEqual(input.manifest);
  });

  test('20,000 unfinished rows: the input stays under 2 KB and the object lists all 20,000', async () => {
    const s3 = new FakeS3();
    const { record, keys } = await recordedBatch(s3, 20_000, 'big');
    const plan = await planRedrive(s3.asClient(), BUCKET, record, REDRIVE);
    expect(plan.keys).toHaveLength(20_000);
    expect(Buffer.byteLength(JSON.stringify(plan.input))).toBeLessThan(2_000);
    const ref = plan.input.onlyKeysRef!;
    expect(ref.count).toBe(20_000);
    expect(JSON.parse(s3.objects.get(`${BUCKET}/${ref.key}`)!.toString('utf8')).keys).toEqual(keys);
  }, 60_000);

  test('no row to take still writes an (empty) object: an input naming no rows would take every row', async () => {
    const s3 = new FakeS3();
    const { record, input, keys } = await recordedBatch(s3, 2, 'done');
    for (const k of keys) await finish(s3, input, k, 'SUCCESS');
    const plan = await planRedrive(s3.asClient(), BUCKET, record, REDRIVE);
    expect(plan.keys).toEqual([]);
    expect(plan.input.onlyKeysRef).toMatchObject({ count: 0 });
    const page = await createManifestActivities({ s3: s3.asClient(), bucket: BUCKET }).readManifestPage(pageInput(plan.input, 0, 10));
    expect(page).toEqual({ rows: [], total: 0, nextOffset: null });
  });

  test('a redrive of a redrive takes only rows the earlier one took, whether it carried a ref or (older) onlyKeys', async () => {
    const s3 = new FakeS3();
    const { record, input, keys } = await recordedBatch(s3, 5, 'twice');
    await finish(s3, input, keys[0]!, 'SUCCESS');
    const first = await planRedrive(s3.asClient(), BUCKET, record, { ...REDRIVE, batchId: 'twice-1' });
    expect(first.keys).toEqual(keys.slice(1));
    // The first redrive: rows 1 and 2 succeed, 3 fails; row 4 never ran.
    await finish(s3, first.input, keys[1]!, 'SUCCESS');
    await finish(s3, first.input, keys[2]!, 'SUCCESS');
    await finish(s3, first.input, keys[3]!, 'FAILED', 'timeout');
    const firstRecord: BatchRecord = { ...record, batchId: 'twice-1', input: first.input };
    const second = await planRedrive(s3.asClient(), BUCKET, firstRecord, { ...REDRIVE, batchId: 'twice-2' });
    expect(second.keys).toEqual([keys[3], keys[4]]);

    // The same earlier batch as an older record carried it: the list in the input. Row 0 is not in that list, so it
    // is not taken even with no stored result.
    s3.objects.delete(`${BUCKET}/out/twice/_rows/${keys[0]}.json`);
    const legacy: BatchRecord = { ...firstRecord, input: { ...first.input, onlyKeysRef: undefined, onlyKeys: keys.slice(1) } };
    const fromLegacy = await planRedrive(s3.asClient(), BUCKET, legacy, { ...REDRIVE, batchId: 'twice-3' });
    expect(fromLegacy.keys).toEqual([keys[3], keys[4]]);
    expect(JSON.parse(JSON.stringify(fromLegacy.input)).onlyKeys).toBeUndefined();
  });

  test('a redrive of a redrive whose keys object changed is refused, naming the object', async () => {
    const s3 = new FakeS3();
    const { record } = await recordedBatch(s3, 3, 'tampered');
    const first = await planRedrive(s3.asClient(), BUCKET, record, { ...REDRIVE, batchId: 'tampered-1' });
    s3.put(first.input.onlyKeysRef!.key, Buffer.from('{"keys":[]}'));
    await expect(planRedrive(s3.asClient(), BUCKET, { ...record, batchId: 'tampered-1', input: first.input }, REDRIVE)).rejects.toThrow(
      /tampered-1's row keys .*_redrives\/tampered-1\/.*changed since the batch started/,
    );
  });
});

describe('the activities read the keys object once per worker process and page over the manifest as before', () => {
  test('pages, totals and the report take only the listed rows, and the object is read once for all of them', async () => {
    const s3 = new FakeS3();
    const { record, input, keys } = await recordedBatch(s3, 30, 'pages');
    for (const k of keys.filter((_, i) => i % 3 === 0)) await finish(s3, input, k, 'SUCCESS');
    const plan = await planRedrive(s3.asClient(), BUCKET, record, REDRIVE);
    const wanted = keys.filter((_, i) => i % 3 !== 0);
    expect(plan.keys).toEqual(wanted);

    const cache = new RowKeysCache();
    const pages = createManifestActivities({ s3: s3.asClient(), bucket: BUCKET, rowKeys: cache });
    const seen: string[] = [];
    for (let offset: number | null = 0; offset !== null;) {
      const page = await pages.readManifestPage(pageInput(plan.input, offset, 7));
      expect(page.total).toBe(20);
      seen.push(...page.rows.map((r) => r.key));
      offset = page.nextOffset;
    }
    expect(seen).toEqual(wanted);

    // The report activity (another factory, as on a worker) shares the cache: still one read of the object.
    const report = await createReportActivities({ s3: s3.asClient(), bucket: BUCKET, rowKeys: cache }).writeReport(reportInput(plan.input));
    expect(report).toMatchObject({ rows: 20, reportRows: 30, counts: { total: 20, succeeded: 0, failed: 20 } });
    expect(s3.getsOf(plan.input.onlyKeysRef!.key)).toBe(1);
  });

  test('inputs that still carry onlyKeys page and report as before', async () => {
    const s3 = new FakeS3();
    const { input, keys } = await recordedBatch(s3, 10, 'legacy');
    const old: BatchInput = { ...input, onlyKeys: [keys[7]!, keys[2]!, 'not-in-the-manifest'] };
    const pages = createManifestActivities({ s3: s3.asClient(), bucket: BUCKET, rowKeys: new RowKeysCache() });
    const page = await pages.readManifestPage(pageInput(old, 0, 50));
    expect(page.rows.map((r) => r.key)).toEqual([keys[2], keys[7]]);
    expect(page.total).toBe(2);
    // And without a bucket, as the activities were made before the keys object (the bucket is only for the object).
    const noBucket = await createManifestActivities({ s3: s3.asClient() }).readManifestPage(pageInput(old, 1, 50));
    expect(noBucket).toMatchObject({ total: 2, nextOffset: null });
    expect(noBucket.rows.map((r) => r.key)).toEqual([keys[7]]);
    const report = await createReportActivities({ s3: s3.asClient(), bucket: BUCKET }).writeReport(reportInput(old));
    expect(report).toMatchObject({ rows: 2, reportRows: 10, counts: { total: 2 } });
  });

  test('a missing, changed or malformed object fails non-retryably, naming it; a failed read is not cached', async () => {
    const s3 = new FakeS3();
    const keys = ['r-a', 'r-b'];
    const body = redriveKeysBody('x', 'y', keys);
    const ref: RowKeysRef = { key: '_redrives/x/k.keys.json', count: 2, sha256: createHash('sha256').update(body).digest('hex') };
    const cache = new RowKeysCache();
    const read = () => cache.read(s3.asClient(), BUCKET, ref);

    await expect(read()).rejects.toMatchObject({ type: 'RowKeys.missing', nonRetryable: true, message: expect.stringContaining(ref.key) });
    s3.put(ref.key, Buffer.from('{"keys":["r-a"]}'));
    await expect(read()).rejects.toMatchObject({
      type: 'RowKeys.invalid',
      message: expect.stringMatching(/changed since the batch started/),
    });

    // Right bytes, wrong count or shape in the ref: refused too.
    s3.put(ref.key, body);
    await expect(cache.read(s3.asClient(), BUCKET, { ...ref, count: 3 })).rejects.toMatchObject({
      type: 'RowKeys.invalid',
      message: expect.stringMatching(/lists 2 row keys, expected 3/),
    });
    const notKeys = Buffer.from('{"keys":"r-a"}');
    const notKeysRef = { key: 'k2', count: 1, sha256: createHash('sha256').update(notKeys).digest('hex') };
    s3.put('k2', notKeys);
    await expect(cache.read(s3.asClient(), BUCKET, notKeysRef)).rejects.toMatchObject({ type: 'RowKeys.invalid' });

    // The object is right now: the earlier failures were not kept.
    await expect(read()).resolves.toEqual(new Set(keys));
    const gets = s3.getsOf(ref.key);
    await read();
    expect(s3.getsOf(ref.key)).toBe(gets);

    // A worker without a bucket cannot read it, and says so.
    await expect(new RowKeysCache().read(s3.asClient(), undefined, ref)).rejects.toMatchObject({ type: 'RowKeys.missing' });
  });

  test('concurrent reads share one GET; past its size the least recently used object is read again', async () => {
    const s3 = new FakeS3();
    const refs = ['a', 'b', 'c'].map((name): RowKeysRef => {
      const body = redriveKeysBody(name, 'p', [`r-${name}`]);
      s3.put(`_redrives/${name}.json`, body);
      return { key: `_redrives/${name}.json`, count: 1, sha256: createHash('sha256').update(body).digest('hex') };
    });
    const cache = new RowKeysCache(2);
    const [a, b, c] = refs as [RowKeysRef, RowKeysRef, RowKeysRef];
    const read = (r: RowKeysRef) => cache.read(s3.asClient(), BUCKET, r);
    const together = await Promise.all([read(a), read(a), read(a)]);
    expect(together.map((s) => [...s])).toEqual([['r-a'], ['r-a'], ['r-a']]);
    expect(s3.getsOf(a.key)).toBe(1);
    await read(b);
    await read(a); // a is now the most recently used
    await read(c); // drops b
    await read(a);
    expect(s3.getsOf(a.key)).toBe(1);
    await read(b);
    expect(s3.getsOf(b.key)).toBe(2);
    expect(s3.getsOf(c.key)).toBe(1);
  });
});
