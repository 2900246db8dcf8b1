import { createHash } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createReportActivities, type ReportInput } from '../../activities/report';
import { toRowRef } from '../../activities/manifest';
import { reportShardCount, reportShardRange, type ReportResult } from '../../contracts/batch';
import { reportKeys, reportShardKey, reportShardsFolder, rowResultKey, sheetPagesListPrefix } from '../../contracts/bucket-layout';
import type { ItemResult, ItemStatus } from '../../contracts/rows';
import { validateManifestBytes } from '../../manifest/validate';
import { mapLimit } from '../../report/map-limit';
import { saveRowRecord } from '../../report/row-results';
import { getObjectOrNull, listKeys } from '../../storage/objects';
import { createS3Client } from '../../storage/s3-client';
import { stackConfig, unique } from './helpers';

// Report shards against the real S3 server: a 3,000-row manifest's stored results written as three shards, merged
// into the report with no GET of a row's result, and the merge's files the very bytes of the report read row by row.

const config = stackConfig();
const s3 = createS3Client(config.s3);
const bucket = config.s3.bucket;
const prefix = unique('report-shards');
const ROWS = 3000;

/** Every key the client GETs, as the server is asked for it. */
const gets: string[] = [];
s3.middlewareStack.add(
  (next, context) => async (args) => {
    if (context.commandName === 'GetObjectCommand') gets.push((args.input as { Key: string }).Key);
    return next(args);
  },
  { step: 'initialize', name: 'countGets' },
);
const rowResultGets = () => gets.filter((k) => k.startsWith(`${prefix}/_rows/`));

let input: ReportInput;
let keys: string[];

function status(i: number): ItemStatus {
  return i % 10 === 3 ? 'FAILED' : i % 31 === 0 ? 'SKIPPED' : 'SUCCESS';
}

/** The report's files as stored: results, index.html and every page of the sheet. */
async function reportFiles(): Promise<Map<string, Buffer>> {
  const report = reportKeys(prefix);
  const pages = await listKeys(s3, bucket, sheetPagesListPrefix(prefix));
  const files = new Map<string, Buffer>();
  for (const key of [report.csv, report.jsonl, report.html, ...pages.sort()]) files.set(key, (await getObjectOrNull(s3, bucket, key))!);
  return files;
}

/** The keys whose bytes differ (or that only one side has). */
function differences(got: Map<string, Buffer>, want: Map<string, Buffer>): string[] {
  return [...new Set([...got.keys(), ...want.keys()])].filter((k) => !got.get(k) || !want.get(k) || !got.get(k)!.equals(want.get(k)!));
}

beforeAll(async () => {
  const csv = `id,prompt,category\n${Array.from({ length: ROWS }, (_, i) => `r${i},"a ""lamp"", number ${i}",c${i % 4}`).join('\n')}\n`;
  const manifestKey = `${prefix}-manifest/manifest.csv`;
  const bytes = Buffer.from(csv);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifestKey, Body: bytes }));
  const manifestRef = `s3://${bucket}/${manifestKey}`;
  const manifest = validateManifestBytes(manifestRef, bytes, sha256);
  expect(manifest.rows).toHaveLength(ROWS);
  keys = manifest.rows.map((r) => r.key);
  // A redrive of every tenth row (the failed ones): the report lists all 3,000, the counts are the redrive's.
  input = { batchId: `${prefix}-batch`, manifestRef, sha256, outputPrefix: prefix, onlyKeys: keys.filter((_, i) => i % 10 === 3) };
  await mapLimit(manifest.rows, 16, async (r) => {
    const i = r.line - 2;
    if (i === 2999) return; // no result stored: MISSING
    const result: ItemResult = { rowKey: r.key, line: r.line, status: status(i), taskIds: [`t${i}`], images: [] };
    if (result.status === 'FAILED') Object.assign(result, { failureClass: 'generation', reason: `job t${i} failed` });
    await saveRowRecord(s3, bucket, prefix, { batchId: 'earlier', row: toRowRef(prefix, r), result, finishedAt: new Date().toISOString() });
  });
}, 300_000);

afterAll(() => s3.destroy());

let unsharded: { result: ReportResult; files: Map<string, Buffer> };
let shardBytes: Buffer[];

test('three shards merged: the report read row by row, byte for byte, and no row result read', async () => {
  const activities = createReportActivities({ s3, bucket });
  unsharded = { result: await activities.writeReport(input), files: await reportFiles() };
  expect(unsharded.result).toMatchObject({ rows: 300, reportRows: ROWS, counts: { total: 300, failed: 300 } });
  expect(unsharded.files.size).toBe(9); // results.csv, results.jsonl, index.html and six pages
  for (const key of unsharded.files.keys()) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));

  const count = reportShardCount(ROWS);
  const shards = await Promise.all(
    Array.from({ length: count }, (_, i) => activities.writeReportShard({ ...input, shard: reportShardRange(i) })),
  );
  expect(shards.map((s) => [s.index, s.reportRows, s.rows, s.manifestRows])).toEqual([
    [0, 1000, 100, ROWS],
    [1, 1000, 100, ROWS],
    [2, 1000, 100, ROWS],
  ]);
  expect((await listKeys(s3, bucket, reportShardsFolder(prefix, input.batchId))).sort()).toEqual(
    [0, 1, 2].map((i) => reportShardKey(prefix, input.batchId, i)),
  );
  shardBytes = await Promise.all(
    [0, 1, 2].map(async (i) => (await getObjectOrNull(s3, bucket, reportShardKey(prefix, input.batchId, i)))!),
  );

  gets.length = 0;
  const merged = await activities.writeReport({ ...input, shards: count });
  expect(rowResultGets()).toEqual([]);
  expect(gets.filter((k) => k.includes('/_report/')).sort()).toEqual([0, 1, 2].map((i) => reportShardKey(prefix, input.batchId, i)));
  expect(merged).toEqual(unsharded.result);
  expect(differences(await reportFiles(), unsharded.files)).toEqual([]);
});

test('a lost shard is rebuilt from its 1,000 row results, to the same bytes, and the report is the same', async () => {
  const lost = reportShardKey(prefix, input.batchId, 1);
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: lost }));
  gets.length = 0;
  const merged = await createReportActivities({ s3, bucket }).writeReport({ ...input, shards: 3 });
  expect(rowResultGets().sort()).toEqual(
    keys
      .slice(1000, 2000)
      .map((k) => rowResultKey(prefix, k))
      .sort(),
  );
  expect((await getObjectOrNull(s3, bucket, lost))!.equals(shardBytes[1]!)).toBe(true);
  expect(merged).toEqual(unsharded.result);
  expect(differences(await reportFiles(), unsharded.files)).toEqual([]);
});
