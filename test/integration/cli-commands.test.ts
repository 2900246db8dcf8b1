import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import { runCli } from './cli';
import { unique } from './helpers';
import { jsonl, startPipeline, writeManifest, type Pipeline } from './pipeline-harness';

let p: Pipeline;

beforeAll(async () => {
  p = await startPipeline({ speed: 50 });
});
afterAll(() => p?.stop());

const cli = (args: string[]) => runCli(args, { env: p.cliEnv });
const json = (stdout: string) => JSON.parse(stdout) as Record<string, any>;

async function startBatch(rows: number, tag: string, concurrency = 1): Promise<string> {
  const manifest = writeManifest(
    `${tag}.jsonl`,
    jsonl(Array.from({ length: rows }, (_, i) => ({ id: `${tag}-${i}`, prompt: `${tag} teapot ${i} ${unique('q')}` }))),
  );
  const run = await cli([
    'run',
    manifest,
    '--json',
    '--concurrency',
    String(concurrency),
    '--output',
    unique(`out/${tag}`),
    '--batch-id',
    unique(tag),
  ]);
  expect(run.code).toBe(0);
  const out = json(run.stdout);
  expect(out.batchId).toBeTruthy();
  return out.batchId as string;
}

describe('a batch driven through the CLI', () => {
  let batchId: string;
  beforeAll(async () => {
    batchId = await startBatch(5, 'ctl');
  });

  test('status --json while it runs: counts by stage, concurrency, ETA fields', async () => {
    const status = await cli(['status', batchId, '--json']);
    expect(status.code).toBe(0);
    const out = json(status.stdout);
    expect(out).toMatchObject({ batchId, status: 'RUNNING', concurrency: 1 });
    expect(out.counts.total).toBe(5);
    expect(Object.keys(out.stages).sort()).toEqual(['done', 'failed', 'follow-ups', 'generating', 'held', 'media', 'queued', 'submitting']);
    expect(Object.values(out.stages as Record<string, number>).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(5);
  });

  test('pause, set-concurrency and resume answer with the new state', async () => {
    const paused = await cli(['pause', batchId, '--json']);
    expect(paused.code).toBe(0);
    expect(json(paused.stdout)).toMatchObject({ batchId, action: 'pause', ok: true, state: 'paused' });
    const resized = await cli(['set-concurrency', batchId, '2', '--json']);
    expect(resized.code).toBe(0);
    expect(json(resized.stdout)).toMatchObject({ ok: true, concurrency: 2 });
    const bad = await cli(['set-concurrency', batchId, '0']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/whole number from 1 to 200/);
    const resumed = await cli(['resume', batchId, '--json']);
    expect(resumed.code).toBe(0);
    expect(json(resumed.stdout)).toMatchObject({ state: 'running', concurrency: 2 });
  });

  test('watch --json follows it to the end: the final summary, exit 0', async () => {
    const watch = await cli(['watch', batchId, '--json']);
    expect(watch.code).toBe(0);
    expect(json(watch.stdout)).toMatchObject({ batchId, rows: 5, succeeded: 5, failed: 0 });
  });

  test('after the end: status shows the result, controls exit 6 (not running)', async () => {
    const status = await cli(['status', batchId, '--json']);
    expect(status.code).toBe(0);
    expect(json(status.stdout)).toMatchObject({ batchId, status: 'COMPLETED', rows: 5, succeeded: 5 });
    const pause = await cli(['pause', batchId, '--json']);
    expect(pause.code).toBe(6);
    expect(json(pause.stdout).error).toMatch(/not running \(completed\)/);
  });

  test('list --json shows the batch with its search attributes', async () => {
    let found: Record<string, unknown> | undefined;
    // Visibility is eventually consistent: give it a moment.
    for (let i = 0; i < 20 && !found; i++) {
      const list = await cli(['list', '--json', '--limit', '200']);
      expect(list.code).toBe(0);
      found = (json(list.stdout).batches as Record<string, unknown>[]).find((b) => b.batchId === batchId && b.state === 'finished');
      if (!found) await new Promise((r) => setTimeout(r, 500));
    }
    expect(found).toMatchObject({ status: 'COMPLETED', state: 'finished', rows: 5, done: 5, failed: 0 });
    const running = await cli(['list', '--json', '--state', 'running', '--limit', '200']);
    expect((json(running.stdout).batches as { batchId: string }[]).some((b) => b.batchId === batchId)).toBe(false);
  });

  test('report prints the CSV, the JSONL, a JSON description, and downloads the sheet with its thumbnails', async () => {
    const csv = await cli(['report', batchId]);
    expect(csv.code).toBe(0);
    const records = parse(csv.stdout, { columns: true }) as Record<string, string>[];
    expect(records.map((r) => r.id).sort()).toEqual(['ctl-0', 'ctl-1', 'ctl-2', 'ctl-3', 'ctl-4']);
    expect(records.every((r) => r.status === 'SUCCESS')).toBe(true);

    const lines = await cli(['report', batchId, '--format', 'jsonl']);
    expect(lines.stdout.trim().split('\n')).toHaveLength(5);

    const described = await cli(['report', batchId, '--json']);
    expect(json(described.stdout)).toMatchObject({ batchId, rows: 5 });

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'report-'));
    const download = await cli(['report', batchId, '--download', dir, '--json']);
    expect(download.code).toBe(0);
    const out = json(download.stdout);
    const html = fs.readFileSync(out.downloaded.contactSheetFile, 'utf8');
    const srcs = [...html.matchAll(/<img src="([^"]+)"/g)].map((m) => decodeURIComponent(m[1]!));
    expect(srcs).toHaveLength(5);
    for (const src of srcs) expect(fs.existsSync(path.join(dir, src))).toBe(true);
  });
});

test('cancel --json stops a running batch; watch then exits 4', async () => {
  const batchId = await startBatch(8, 'cnl');
  const cancel = await cli(['cancel', batchId, '--json']);
  expect(cancel.code).toBe(0);
  expect(json(cancel.stdout)).toMatchObject({ batchId, action: 'cancel', ok: true });
  const watch = await cli(['watch', batchId, '--json']);
  expect(watch.code).toBe(4);
  expect(json(watch.stdout).rows).toBe(8);
});

test('an unknown batch: every command exits 2 with a clear message', async () => {
  for (const args of [
    ['status', 'no-such-batch'],
    ['watch', 'no-such-batch'],
    ['pause', 'no-such-batch'],
    ['cancel', 'no-such-batch'],
    ['report', 'no-such-batch'],
  ]) {
    const run = await cli([...args, '--json']);
    expect({ args, code: run.code }).toEqual({ args, code: 2 });
    expect(json(run.stdout).error).toMatch(/no batch no-such-batch/);
  }
});

test('run without --wait for a batch id that is already running exits 5', async () => {
  const manifest = writeManifest(
    'dup.jsonl',
    jsonl([
      { id: 'd1', prompt: `dup ${unique('d')}` },
      { id: 'd2', prompt: `dup ${unique('d')}` },
    ]),
  );
  const id = unique('dup');
  const first = await cli(['run', manifest, '--json', '--batch-id', id, '--concurrency', '1', '--output', unique('out/dup')]);
  expect(first.code).toBe(0);
  const second = await cli(['run', manifest, '--json', '--batch-id', id, '--output', unique('out/dup')]);
  expect(second.code).toBe(5);
  expect(json(second.stdout).error).toMatch(/already running/);
  expect((await cli(['watch', id, '--json'])).code).toBe(0);
});
