// `mj-batch reprocess` on the real stack: a small batch (with follow-ups) runs normally against this file's own
// simulator, then the reprocess runs on a worker whose Midjourney API is a closed port: every stored original gets
// the new thumbnails (real bytes, decoded), the sidecars name them, the report is rewritten, the simulator sees no
// call, and `--wait --json` prints the keys `run --wait --json` does.
import { createHash } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import type { EffectiveConfig } from '../../config/config';
import type { StoredImage, StoredThumbnail } from '../../contracts/media';
import type { RowRecord } from '../../report/row-results';
import type { ResultLine } from '../../report/results';
import { rowResultKey } from '../../contracts/bucket-layout';
import { freePort } from '../../stack/processes';
import { startWorkers, type RunningWorkers } from '../../worker/run-worker';
import { runCli } from './cli';
import { unique, workflowBundle } from './helpers';
import { jsonl, startPipeline, writeManifest, type Pipeline } from './pipeline-harness';

let p: Pipeline;
beforeAll(async () => {
  p = await startPipeline({ speed: 50 });
});
afterAll(() => p?.stop());

const bucket = () => p.config.s3.bucket;

async function getBytes(key: string): Promise<Buffer> {
  const res = await p.s3.send(new GetObjectCommand({ Bucket: bucket(), Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}
const getJson = async <T>(key: string): Promise<T> => JSON.parse((await getBytes(key)).toString('utf8')) as T;
const readReport = async (prefix: string): Promise<ResultLine[]> =>
  (await getBytes(`${prefix}/results.jsonl`))
    .toString('utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ResultLine);

/** The simulator's API requests so far, by endpoint (its image host is not counted there; its ledger counts jobs). */
async function apiRequests(): Promise<Record<string, number>> {
  const stats = (await (await fetch(`${p.sim.url}/_sim/stats`)).json()) as { requests: { byEndpoint: Record<string, number> } };
  return stats.requests.byEndpoint;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const ROWS = [
  { id: 'picks', prompt: 'a linen armchair by a window', actions: 'U1,U2>upscale_subtle' },
  { id: 'plain', prompt: 'a walnut side table' },
  { id: 'fails', prompt: 'a glass vase [sim:fail]' },
];

describe('reprocess with the Midjourney API unreachable', () => {
  const output = unique('out/reprocess');
  const batchId = unique('reprocess-src');
  let runSummary: Record<string, unknown>;
  let before: ResultLine[];
  let offline: RunningWorkers;
  let offlineRun: Promise<void>;
  let offlineEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const manifest = writeManifest('reprocess.jsonl', jsonl(ROWS));
    const run = await runCli(['run', manifest, '--wait', '--json', '--output', output, '--batch-id', batchId], { env: p.cliEnv });
    expect(run.code).toBe(0);
    runSummary = JSON.parse(run.stdout) as Record<string, unknown>;
    before = await readReport(output);

    // A worker of its own, on its own task queue, whose API is a port nothing listens on.
    const closed = `http://127.0.0.1:${await freePort()}`;
    const taskQueue = unique('reprocess-offline');
    const config: EffectiveConfig = { ...p.config, taskQueue, mj: { ...p.config.mj, baseUrl: closed, apiKey: 'unused', source: 'env' } };
    offline = await startWorkers(config, {
      taskQueue,
      workflowBundle: await workflowBundle(),
      env: { ...process.env, MJ_CALLBACKS: 'off', MJ_BATCH_MEDIA_CONCURRENCY: '2' },
    });
    offlineRun = offline.run();
    offlineEnv = { MJ_BATCH_TASK_QUEUE: taskQueue, MJ_BASE_URL: closed, MJ_API_KEY: 'unused' };
  });
  afterAll(async () => {
    offline?.shutdown();
    await offlineRun;
  });

  test('the first batch stored originals for the rows that succeeded', () => {
    expect(runSummary).toMatchObject({ rows: 3, succeeded: 2, failed: 1 });
    const picks = before.find((l) => l.input.id === 'picks')!;
    expect(picks.images.map((i) => i.role)).toEqual(['grid', 'U1', 'U2', 'U2>upscale_subtle']);
    expect(picks.images.every((i) => i.thumbnails.length === 2)).toBe(true);
  });

  describe('reprocess --thumbnails 300:png,96:jpeg --wait --json', () => {
    let out: Record<string, unknown>;
    let after: ResultLine[];
    let ledgerBefore: number;
    let requestsBefore: Record<string, number>;
    const byId = (lines: ResultLine[], id: string) => lines.find((l) => l.input.id === id)!;

    beforeAll(async () => {
      ledgerBefore = p.ledger().length;
      requestsBefore = await apiRequests();
      const run = await runCli(['reprocess', batchId, '--thumbnails', '300:png,96:jpeg', '--wait', '--json'], { env: offlineEnv });
      expect(run.stderr).not.toMatch(/Error:/);
      expect(run.code).toBe(0);
      out = JSON.parse(run.stdout) as Record<string, unknown>;
      after = await readReport(output);
    });

    test('prints the keys `run --wait --json` prints, for a batch of its own over the same rows', () => {
      expect(Object.keys(out).sort()).toEqual(Object.keys(runSummary).sort());
      expect(out.batchId).toMatch(new RegExp(`^${batchId}-reprocess-\\d{8}T\\d{6}Z?$`));
      expect(out).toMatchObject({ rows: 3, failed: 0, skipped: 1, outputPrefix: output, failedEarly: false });
      expect(out.resultsJsonl).toBe(runSummary.resultsJsonl);
    });

    test('the simulator saw no call: no job in its ledger, no API request', async () => {
      expect(p.ledger()).toHaveLength(ledgerBefore);
      expect(await apiRequests()).toEqual(requestsBefore);
    });

    test('every stored original has the new thumbnails: real images at the new sizes, named by the row record and the sidecar', async () => {
      for (const id of ['picks', 'plain']) {
        const line = byId(after, id);
        const earlier = byId(before, id);
        expect(line.status).toBe('SUCCESS');
        expect(line.taskIds).toEqual(earlier.taskIds);
        expect(line.images.map((i) => [i.role, i.key, i.sha256])).toEqual(earlier.images.map((i) => [i.role, i.key, i.sha256]));
        const record = await getJson<RowRecord>(rowResultKey(output, line.key));
        for (const image of record.result.images as StoredImage[]) {
          // The original is untouched: the same bytes as recorded.
          const original = await getBytes(image.key);
          expect(sha256(original)).toBe(image.sha256);
          expect(image.thumbnails.map((t) => [t.format, Math.max(t.width, t.height)])).toEqual([
            ['png', 300],
            ['jpeg', 96],
          ]);
          for (const t of image.thumbnails) {
            const meta = await sharp(await getBytes(t.key)).metadata();
            expect([meta.format, meta.width, meta.height]).toEqual([t.format, t.width, t.height]);
            // The aspect of the original, within rounding.
            expect(Math.abs(t.width / t.height - image.width / image.height)).toBeLessThan(0.05);
          }
          const sidecar = await getJson<{ prompt: string; original: { sha256: string }; thumbnails: StoredThumbnail[] }>(image.sidecarKey);
          expect(sidecar.thumbnails).toEqual(image.thumbnails);
          expect(sidecar).toMatchObject({ prompt: line.input.prompt, original: { sha256: image.sha256 } });
        }
        // The report lists the new thumbnails only.
        expect(line.images.map((i) => i.thumbnails)).toEqual(
          (record.result.images as StoredImage[]).map((i) => i.thumbnails.map((t) => t.key)),
        );
        for (const i of line.images) expect(i.thumbnails.every((k) => /-(300\.png|96\.jpeg)$/.test(k))).toBe(true);
      }
    });

    test('the report is rewritten: the contact sheet shows the new thumbnails; the failed row still shows as it ended', async () => {
      const html = (await getBytes(`${output}/index.html`)).toString('utf8');
      const first = byId(after, 'plain').images[0]!.thumbnails[0]!;
      expect(html).toContain(first.slice(output.length + 1));
      expect(html).not.toMatch(/-512\.webp/);
      const fails = byId(after, 'fails');
      expect(fails).toMatchObject({ status: 'FAILED', failureClass: 'generation', reason: byId(before, 'fails').reason });
      const csv = (await getBytes(`${output}/results.csv`)).toString('utf8');
      expect(csv).toContain(first);
    });

    test('an unknown batch is refused with exit 2 and a clear message', async () => {
      const missing = await runCli(['reprocess', 'no-such-batch', '--json'], { env: offlineEnv });
      expect(missing.code).toBe(2);
      expect(JSON.parse(missing.stdout)).toEqual({ error: expect.stringContaining('no batch no-such-batch in s3://') });
    });
  });
});
