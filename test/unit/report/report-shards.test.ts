import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { toRowRef } from '../../../activities/manifest';
import { createReportActivities, type ReportInput } from '../../../activities/report';
import { REPORT_SHARD_ROWS, reportShardCount, reportShardRange, type ReportResult, type RowKeysRef } from '../../../contracts/batch';
import { isBookkeepingKey, reportShardKey, rowResultKey } from '../../../contracts/bucket-layout';
import type { FailureClass, ItemResult, ItemStatus } from '../../../contracts/rows';
import { readManifestBytes } from '../../../manifest/source';
import { validateManifestBytes } from '../../../manifest/validate';
import { saveRowRecord } from '../../../report/row-results';
import { decodeShard } from '../../../report/shards';
import { FakeS3 } from '../fake-s3';

// Report shards (issue 14): the result lines of 1,000 manifest rows per object, merged at the batch's end. The merged
// files must be the very bytes the report read from every row's result gives, without reading a row's result.

const BUCKET = 'b';
const ROWS = 2600; // three shards, the last one short
const PREFIX = 'out/shards';

/** A JSONL manifest whose rows differ in their extra columns (one only at the very end), with text CSV must quote. */
function manifestFile(): string {
  const rows = Array.from({ length: ROWS }, (_, i) => ({
    id: `r${i}`,
    prompt: i % 13 === 0 ? `a "quoted", comma'd prompt ${i} — ünïcode 🐈` : `prompt ${i}`,
    ...(i % 7 === 0 ? { category: `cat-${i % 3}` } : {}),
    ...(i === ROWS - 3 ? { lateColumn: 'only here' } : {}),
  }));
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mj-shards-')), 'manifest.jsonl');
  fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

function outcome(i: number): { status: ItemStatus; failureClass?: FailureClass; reason?: string; text?: string } | undefined {
  if (i % 97 === 5) return undefined; // no result stored: MISSING
  if (i % 10 === 3) return { status: 'FAILED', failureClass: 'generation', reason: `job ${i} failed, "badly"` };
  if (i % 50 === 7) return { status: 'UNKNOWN_SUBMIT', failureClass: 'ambiguous', reason: 'no answer' };
  if (i % 40 === 9) return { status: 'SKIPPED' };
  if (i === 1500) return { status: 'CANCELLED', failureClass: 'cancelled' };
  return { status: 'SUCCESS', text: i % 11 === 0 ? `described ${i}` : undefined };
}

interface Seeded {
  s3: FakeS3;
  input: ReportInput;
  keys: string[];
}

async function seeded(): Promise<Seeded> {
  const s3 = new FakeS3();
  const ref = manifestFile();
  const { bytes, sha256 } = await readManifestBytes(ref);
  const manifest = validateManifestBytes(ref, bytes, sha256);
  expect(manifest.rows).toHaveLength(ROWS);
  for (const [i, r] of manifest.rows.entries()) {
    const how = outcome(i);
    if (!how) continue;
    const row = toRowRef(PREFIX, r);
    const images =
      i % 9 === 0
        ? [
            {
              role: 'grid',
              taskId: `t${i}`,
              key: `${row.prefix}/grid.png`,
              sha256: 'ab'.repeat(32),
              bytes: 10,
              width: 2,
              height: 2,
              format: 'png',
              thumbnails: [{ key: `${row.prefix}/thumbs/grid-512.webp`, sha256: 'cd'.repeat(32), width: 2, height: 2, format: 'webp' }],
              sidecarKey: `${row.prefix}/grid.json`,
              skipped: false,
            },
          ]
        : [];
    const result: ItemResult = { rowKey: r.key, line: r.line, taskIds: images.length ? [`t${i}`] : [], images, ...how };
    await saveRowRecord(s3.asClient(), BUCKET, PREFIX, { batchId: 'earlier', row, result, finishedAt: `2026-01-01T00:00:${i % 60}Z` });
  }
  return { s3, input: { batchId: 'batch-1', manifestRef: ref, sha256, outputPrefix: PREFIX }, keys: manifest.rows.map((r) => r.key) };
}

/** The report's files as stored: results, index.html and the sheet's pages (no row stores an image here). */
function reportFiles(s3: FakeS3): Map<string, Buffer> {
  const under = `${BUCKET}/${PREFIX}/`;
  const isReportFile = (k: string) => k.startsWith(under) && !/\/_(rows|jobs|report)\//.test(k.slice(under.length - 1));
  return new Map([...s3.objects].filter(([k]) => isReportFile(k)).sort(([a], [b]) => a.localeCompare(b)));
}

/** Byte for byte (and the same keys), as a list of what differs: jest's deep equality is slow on megabytes of Buffer. */
function differences(got: Map<string, Buffer>, want: Map<string, Buffer>): string[] {
  const keys = [...new Set([...got.keys(), ...want.keys()])];
  return keys.filter((k) => !got.get(k)?.equals(want.get(k) ?? Buffer.alloc(0)) || !want.has(k));
}

function dropReportFiles(s3: FakeS3) {
  for (const k of reportFiles(s3).keys()) s3.objects.delete(k);
}

const rowResultGets = (s3: FakeS3) => [...s3.gets].filter(([k, n]) => n > 0 && k.includes(`/${PREFIX}/_rows/`));
const shardIndexes = Array.from({ length: reportShardCount(ROWS) }, (_, i) => i);

/** The report as read from every row's result (the activity without `shards`, as batches that wrote none call it). */
async function unsharded({ s3, input }: Seeded): Promise<{ result: ReportResult; files: Map<string, Buffer> }> {
  const result = await createReportActivities({ s3: s3.asClient(), bucket: BUCKET }).writeReport(input);
  const files = reportFiles(s3);
  dropReportFiles(s3);
  return { result, files };
}

function keysObject(s3: FakeS3, keys: string[]): RowKeysRef {
  const body = Buffer.from(JSON.stringify({ batchId: 'batch-1', redriveOf: 'earlier', keys }));
  const ref: RowKeysRef = {
    key: '_redrives/batch-1/k.keys.json',
    count: keys.length,
    sha256: createHash('sha256').update(body).digest('hex'),
  };
  s3.put(ref.key, body);
  return ref;
}

describe('shards merged into the report', () => {
  test.each([
    ['every row', (_: Seeded) => ({})],
    ['a redrive (onlyKeys)', (s: Seeded) => ({ onlyKeys: s.keys.filter((_, i) => i % 10 === 3 || i === 2599 || i === 0) })],
    [
      'a redrive (onlyKeysRef)',
      (s: Seeded) => ({
        onlyKeysRef: keysObject(
          s.s3,
          s.keys.filter((_, i) => i % 4 === 1),
        ),
      }),
    ],
  ])('%s: the same bytes as the report from every row result, and no row result read', async (_, selection) => {
    const seed = await seeded();
    const input = { ...seed.input, ...selection(seed) };
    const before = await unsharded({ ...seed, input });
    expect(before.files.size).toBe(9); // results.csv, results.jsonl, index.html and six pages of up to 500 rows
    expect(before.result.reportRows).toBe(ROWS);

    const activities = createReportActivities({ s3: seed.s3.asClient(), bucket: BUCKET });
    const shards = [];
    for (const i of shardIndexes) shards.push(await activities.writeReportShard({ ...input, shard: reportShardRange(i) }));
    expect(shards.map((s) => [s.index, s.reportRows, s.manifestRows])).toEqual([
      [0, 1000, ROWS],
      [1, 1000, ROWS],
      [2, 600, ROWS],
    ]);
    // The ranges' counts add up to the batch's.
    const summed = shards.reduce(
      (t, s) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v + s.counts[k as keyof typeof t]!])) as typeof t,
      { total: 0, succeeded: 0, failed: 0, unknownSubmit: 0, skipped: 0, cancelled: 0 },
    );
    expect(summed).toEqual(before.result.counts);
    expect(shards.reduce((t, s) => t + s.rows, 0)).toBe(before.result.rows);

    seed.s3.gets.clear();
    const merged = await activities.writeReport({ ...input, shards: shards.length });
    expect(merged).toEqual(before.result);
    expect(differences(reportFiles(seed.s3), before.files)).toEqual([]);
    expect(rowResultGets(seed.s3)).toEqual([]);
    for (const i of shardIndexes) expect(seed.s3.getsOf(reportShardKey(PREFIX, 'batch-1', i))).toBe(1);
  });

  test('a lost shard is rebuilt from its own range of row results, with the bytes it had', async () => {
    const seed = await seeded();
    const before = await unsharded(seed);
    const activities = createReportActivities({ s3: seed.s3.asClient(), bucket: BUCKET });
    for (const i of shardIndexes) await activities.writeReportShard({ ...seed.input, shard: reportShardRange(i) });
    const lostKey = `${BUCKET}/${reportShardKey(PREFIX, 'batch-1', 1)}`;
    const lost = seed.s3.objects.get(lostKey)!;
    seed.s3.objects.delete(lostKey);

    seed.s3.gets.clear();
    const merged = await activities.writeReport({ ...seed.input, shards: 3 });
    expect(merged).toEqual(before.result);
    expect(differences(reportFiles(seed.s3), before.files)).toEqual([]);
    // Exactly the rows of shard 1, each once.
    const read = rowResultGets(seed.s3);
    expect(read.map(([k]) => k).sort()).toEqual(
      seed.keys
        .slice(REPORT_SHARD_ROWS, 2 * REPORT_SHARD_ROWS)
        .map((k) => `${BUCKET}/${rowResultKey(PREFIX, k)}`)
        .sort(),
    );
    expect(read.every(([, n]) => n === 1)).toBe(true);
    expect(seed.s3.objects.get(lostKey)!.equals(lost)).toBe(true);
  });

  test('a retried shard (another worker, a rewritten row result file) stores the same bytes', async () => {
    const seed = await seeded();
    const range = reportShardRange(2);
    const first = await createReportActivities({ s3: seed.s3.asClient(), bucket: BUCKET }).writeReportShard({
      ...seed.input,
      shard: range,
    });
    const key = `${BUCKET}/${reportShardKey(PREFIX, 'batch-1', 2)}`;
    const bytes = seed.s3.objects.get(key)!;
    seed.s3.objects.delete(key);
    const again = await createReportActivities({ s3: seed.s3.asClient(), bucket: BUCKET }).writeReportShard({
      ...seed.input,
      shard: range,
    });
    expect(again).toEqual(first);
    expect(seed.s3.objects.get(key)!.equals(bytes)).toBe(true);
    // One line per row of the range, in manifest order.
    const shard = decodeShard(bytes.toString('utf8'))!;
    expect(shard.lines.map((l) => l.line.key)).toEqual(seed.keys.slice(2000));
  });

  test('a shard another run left, written for other rows, or cut short is rebuilt, not merged', async () => {
    const seed = await seeded();
    const redrive = { ...seed.input, onlyKeys: seed.keys.filter((_, i) => i % 10 === 3) };
    const before = await unsharded({ ...seed, input: redrive });
    const activities = createReportActivities({ s3: seed.s3.asClient(), bucket: BUCKET });
    // Shard 0 by an earlier run under the same batch id, shard 1 for every row (not the redrive's), shard 2 cut short.
    await activities.writeReportShard({ ...redrive, runTag: 'run-1', shard: reportShardRange(0) });
    await activities.writeReportShard({ ...seed.input, runTag: 'run-2', shard: reportShardRange(1) });
    await activities.writeReportShard({ ...redrive, runTag: 'run-2', shard: reportShardRange(2) });
    const cut = `${BUCKET}/${reportShardKey(PREFIX, 'batch-1', 2)}`;
    const whole = seed.s3.objects.get(cut)!;
    seed.s3.objects.set(cut, whole.subarray(0, whole.lastIndexOf('\n', whole.length - 2) + 1));

    seed.s3.gets.clear();
    const merged = await activities.writeReport({ ...redrive, runTag: 'run-2', shards: 3 });
    expect(merged).toEqual(before.result);
    expect(differences(reportFiles(seed.s3), before.files)).toEqual([]);
    expect(rowResultGets(seed.s3)).toHaveLength(ROWS);
    expect(seed.s3.objects.get(cut)!.equals(whole)).toBe(true);
  });

  test('a range past the manifest writes nothing; a range that is not whole numbers is refused', async () => {
    const seed = await seeded();
    const activities = createReportActivities({ s3: seed.s3.asClient(), bucket: BUCKET });
    const past = await activities.writeReportShard({ ...seed.input, shard: reportShardRange(3) });
    expect(past).toMatchObject({ index: 3, reportRows: 0, rows: 0, manifestRows: ROWS });
    expect(seed.s3.objects.has(`${BUCKET}/${reportShardKey(PREFIX, 'batch-1', 3)}`)).toBe(false);
    for (const shard of [
      { index: 0, offset: 0, limit: 0 },
      { index: -1, offset: 0, limit: 10 },
      { index: 0, offset: 1.5, limit: 10 },
    ])
      await expect(activities.writeReportShard({ ...seed.input, shard })).rejects.toMatchObject({ type: 'Report.badShard' });
  });
});

test('shards live under <prefix>/_report/<batchId>/ and are bookkeeping', () => {
  expect(reportShardKey('/out/cat/', 'b-1', 12)).toBe('out/cat/_report/b-1/shard-000012.jsonl');
  expect(isBookkeepingKey('out/cat', reportShardKey('out/cat', 'b-1', 0))).toBe(true);
  expect(isBookkeepingKey('out/cat', 'out/cat/report/b-1/shard-000000.jsonl')).toBe(false);
});
