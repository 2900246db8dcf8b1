import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import type { ResultLine } from '../../report/results';
import { runCli } from './cli';
import { unique } from './helpers';
import { defaultOptions, jsonl, maxOutstandingJobs, runBatch, startPipeline, writeManifest, type Pipeline } from './pipeline-harness';

let p: Pipeline;

beforeAll(async () => {
  p = await startPipeline({ speed: 50, faults: { bannedWords: ['forbidden'] } });
});
afterAll(() => p?.stop());

const bucket = () => p.config.s3.bucket;

async function getBytes(key: string): Promise<Buffer> {
  const res = await p.s3.send(new GetObjectCommand({ Bucket: bucket(), Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

async function readJsonl(uri: string): Promise<ResultLine[]> {
  const key = uri.replace(`s3://${bucket()}/`, '');
  return (await getBytes(key))
    .toString('utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ResultLine);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const MIXED = [
  { id: 'picks', prompt: 'a linen armchair in a sunlit room', actions: 'U1,U3>upscale_subtle', sku: 'AR-1' },
  { id: 'blend', kind: 'blend', images: ['s3://mj-batch/examples/inputs/chair-a.png', 's3://mj-batch/examples/inputs/chair-b.png'] },
  { id: 'describe', kind: 'describe', images: ['s3://mj-batch/examples/inputs/lamp.png'] },
  { id: 'shorten', kind: 'shorten', prompt: 'an extremely detailed studio photograph of a handmade ceramic mug with a speckled glaze' },
  { id: 'banned', prompt: 'a forbidden lamp on a desk' },
  { id: 'fails', prompt: 'a glass vase [sim:fail]' },
  { id: 'expired', prompt: 'a wooden bowl [sim:expired-url]' },
];

describe('a mixed manifest end to end, through the CLI, on the real stack and the simulator', () => {
  const output = unique('out/pipeline');
  let manifest: string;
  let summary: Record<string, unknown>;
  let lines: ResultLine[];

  beforeAll(async () => {
    manifest = writeManifest('mixed.jsonl', jsonl(MIXED));
    const run = await runCli(['run', manifest, '--wait', '--json', '--output', output, '--concurrency', '3'], { env: p.cliEnv });
    expect(run.stderr).not.toMatch(/Error:/);
    expect(run.code).toBe(0);
    summary = JSON.parse(run.stdout);
    lines = await readJsonl(summary.resultsJsonl as string);
  });

  test('the summary counts every row, and names the report files as s3:// URIs', () => {
    expect(summary).toMatchObject({ rows: 7, succeeded: 4, failed: 3, unknownSubmit: 0 });
    for (const key of ['resultsCsv', 'resultsJsonl', 'contactSheet'])
      expect(summary[key]).toMatch(new RegExp(`^s3://${bucket()}/${output}/`));
  });

  test('each failure has its class and a specific reason; the others succeeded', () => {
    const byId = Object.fromEntries(lines.map((l) => [l.input.id, l]));
    expect(Object.keys(byId).sort()).toEqual(MIXED.map((r) => r.id).sort());
    expect(byId.banned).toMatchObject({ status: 'FAILED', failureClass: 'banned' });
    expect(byId.banned!.reason).toMatch(/forbidden|banned|敏感/i);
    expect(byId.fails).toMatchObject({ status: 'FAILED', failureClass: 'generation' });
    expect(byId.fails!.reason.length).toBeGreaterThan(0);
    expect(byId.expired).toMatchObject({ status: 'FAILED', failureClass: 'download' });
    expect(byId.expired!.reason).toMatch(/403/);
    for (const id of ['picks', 'blend', 'describe', 'shorten']) expect(byId[id]!.status).toBe('SUCCESS');
    expect(byId.describe!.text.length).toBeGreaterThan(20);
    expect(byId.shorten!.text.length).toBeGreaterThan(0);
    expect(byId.picks!.input.sku).toBe('AR-1');
  });

  test("every picked image is stored with thumbnails and a sidecar, and the sha256 in the report is the stored bytes'", async () => {
    const picks = lines.find((l) => l.input.id === 'picks')!;
    expect(picks.images.map((i) => i.role)).toEqual(['grid', 'U1', 'U3', 'U3>upscale_subtle']);
    expect(picks.taskIds).toHaveLength(4);
    for (const image of picks.images) {
      const bytes = await getBytes(image.key);
      expect(sha(bytes)).toBe(image.sha256);
      expect(image.thumbnails).toHaveLength(2);
      for (const t of image.thumbnails) await expect(p.s3.send(new HeadObjectCommand({ Bucket: bucket(), Key: t }))).resolves.toBeTruthy();
      const sidecar = JSON.parse((await getBytes(image.key.replace(/\.png$/, '.json'))).toString('utf8'));
      expect(sidecar).toMatchObject({ role: image.role, prompt: picks.input.prompt, original: { sha256: image.sha256 } });
      expect(sidecar.parentChain[0]).toBe(picks.taskIds[0]);
    }
    const blend = lines.find((l) => l.input.id === 'blend')!;
    expect(blend.images.map((i) => i.role)).toEqual(['grid']);
  });

  test('the contact sheet lists every row, failed ones with their reason', async () => {
    const html = (await getBytes(`${output}/index.html`)).toString('utf8');
    expect(html.match(/<article /g)).toHaveLength(7);
    expect(html).toContain('data-count="FAILED">3 FAILED');
    expect(html).toMatch(/class="reason">download: /);
  });

  test('the batch never had more jobs outstanding than its concurrency, and no refused row was charged', () => {
    const mine = p.ledger().filter((j) => j.state && MIXED.some((r) => r.id === j.state));
    expect(mine.length).toBeGreaterThan(0);
    expect(maxOutstandingJobs(mine)).toBeLessThanOrEqual(3);
    expect(mine.filter((j) => j.state === 'banned')).toHaveLength(0);
  });

  test('running the same manifest again into the same prefix submits no job for the rows already done', async () => {
    const before = p.ledger().length;
    const again = await runCli(['run', manifest, '--wait', '--json', '--output', output, '--batch-id', unique('rerun')], { env: p.cliEnv });
    expect(again.code).toBe(0);
    const newJobs = p.ledger().slice(before);
    const done = new Set(['picks', 'blend', 'describe', 'shorten']);
    expect(newJobs.filter((j) => done.has(j.state ?? ''))).toEqual([]);
    // The failed rows were tried again and failed again the same way: the failed job with a new one, the job whose
    // image URL expired by adopting it (it exists and is paid for; a new one takes --new-jobs).
    expect(newJobs.map((j) => j.state)).toEqual(['fails']);
    expect(JSON.parse(again.stdout)).toMatchObject({ rows: 7, skipped: 4, failed: 3 });
  });

  test('redrive --class takes only the failed rows of that class; --new-jobs pays for new jobs instead of adopting', async () => {
    const batchId = summary.batchId as string;
    const before = p.ledger().length;
    const redrive = await runCli(['redrive', batchId, '--class', 'download', '--new-jobs', '--wait', '--json'], { env: p.cliEnv });
    expect(redrive.code).toBe(0);
    const out = JSON.parse(redrive.stdout);
    expect(out).toMatchObject({ rows: 1, failed: 1, succeeded: 0 });
    expect(out.batchId).toMatch(new RegExp(`^${batchId}-redrive-`));
    expect(
      p
        .ledger()
        .slice(before)
        .map((j) => j.state),
    ).toEqual(['expired']);
    // The report still covers the whole manifest.
    expect(await readJsonl(out.resultsJsonl)).toHaveLength(7);
  });

  test("no secret (API key, S3 credentials, callback URL) is in the batch's or a row's history", async () => {
    const histories = [
      await p.client.workflow.getHandle(summary.batchId as string).fetchHistory(),
      await p.client.workflow.getHandle(`${summary.batchId}/picks`).fetchHistory(),
    ];
    // Every payload decoded, so the check sees what a person reading the history in the Web UI would.
    const raw = histories.map((h) => JSON.stringify(h)).join('\n');
    const text = [...raw.matchAll(/"data":"([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8')).join('\n');
    expect(text.includes('a linen armchair')).toBe(true);
    for (const secret of [p.sim.options.apiKey, p.config.s3.secretAccessKey!, p.workers.callbacks!.hookUrl.split('/').pop()!]) {
      expect({ secret, found: text.includes(secret) || raw.includes(secret) }).toEqual({ secret, found: false });
    }
  });

  test('rows with a taskId or an imageUrl re-run only the media stage (here with new thumbnail sizes), paying for nothing', async () => {
    const picks = lines.find((l) => l.input.id === 'picks')!;
    const gridTask = p.sim.engine.ledger().find((j) => j.id === picks.taskIds[0])!;
    const imageUrl = (
      (await (
        await fetch(`${p.sim.url}/mj/task/${gridTask.id}/fetch`, { headers: { authorization: `Bearer ${p.sim.options.apiKey}` } })
      ).json()) as { imageUrl: string }
    ).imageUrl;
    const manifest = writeManifest(
      'media-only.jsonl',
      jsonl([
        { id: 'by-task', taskId: gridTask.id },
        { id: 'by-url', imageUrl },
      ]),
    );
    const before = p.ledger().length;
    const out = unique('out/media-only');
    const run = await runCli(['run', manifest, '--wait', '--json', '--output', out, '--thumbnails', '128:png'], { env: p.cliEnv });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ rows: 2, succeeded: 2, failed: 0 });
    expect(p.ledger().length).toBe(before);
    const stored = await readJsonl(JSON.parse(run.stdout).resultsJsonl);
    for (const line of stored) {
      expect(line.images).toHaveLength(1);
      expect(line.images[0]!.sha256).toBe(picks.images[0]!.sha256);
      expect(line.images[0]!.thumbnails).toEqual([`${out}/${line.input.id}/thumbs/grid-128.png`]);
    }
  });

  test('redrive of an unknown batch or with an unknown class exits non-zero with a clear message', async () => {
    const missing = await runCli(['redrive', 'no-such-batch'], { env: p.cliEnv });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no batch no-such-batch/);
    const badClass = await runCli(['redrive', summary.batchId as string, '--class', 'download,weird'], { env: p.cliEnv });
    expect(badClass.code).toBe(1);
    expect(badClass.stderr).toMatch(/unknown failure class weird/);
  });
});

test('a batch over its failure threshold stops early, still writes its report, and exits 3', async () => {
  const rows = Array.from({ length: 8 }, (_, i) => ({ id: `f${i}`, prompt: `a broken thing ${i} [sim:fail]` }));
  const manifest = writeManifest('failing.jsonl', jsonl(rows));
  const run = await runCli(
    ['run', manifest, '--wait', '--json', '--output', unique('out/threshold'), '--max-failed', '1', '--concurrency', '2'],
    { env: p.cliEnv },
  );
  expect(run.code).toBe(3);
  const out = JSON.parse(run.stdout);
  expect(out.failedEarly).toBe(true);
  expect(out.failed).toBeGreaterThanOrEqual(2);
  expect(out.failed).toBeLessThan(8);
  expect(await readJsonl(out.resultsJsonl)).toHaveLength(8);
});

test('a semicolon-separated CSV as spreadsheets export it (BOM, CRLF, a quoted ";") runs, each prompt as written', async () => {
  const tag = unique('semi');
  const prompts = [`a chair; oak, matte ${tag}`, `a lamp ${tag}`];
  const csv = `\uFEFFid;prompt;actions\r\nchair;"${prompts[0]}";\r\nlamp;${prompts[1]};U1\r\n`;
  const manifest = writeManifest('semicolon.csv', csv);
  const run = await runCli(['run', manifest, '--wait', '--json', '--output', unique('out/semicolon')], { env: p.cliEnv });
  expect(run.stderr).not.toMatch(/Error:/);
  expect(run.code).toBe(0);
  expect(JSON.parse(run.stdout)).toMatchObject({ rows: 2, succeeded: 2, failed: 0 });
  const imagined = p.ledger().filter((j) => j.action === 'IMAGINE' && j.prompt.includes(tag));
  expect(imagined.map((j) => j.prompt.replace(/ --\S+.*$/, '')).sort()).toEqual([...prompts].sort());
  expect(p.ledger().filter((j) => j.action === 'UPSCALE' && imagined.some((i) => i.id === j.parentId))).toHaveLength(1);
});

test('run refuses an invalid manifest before submitting anything (exit 1, errors with line numbers)', async () => {
  const before = p.ledger().length;
  const manifest = writeManifest('bad.csv', 'id,prompt,kind\nok,a chair,imagine\nbad,,imagine\nweird,a lamp,paint\n');
  const run = await runCli(['run', manifest, '--json'], { env: p.cliEnv });
  expect(run.code).toBe(1);
  const out = JSON.parse(run.stdout);
  expect(out.errors.map((e: { line: number; field: string }) => [e.line, e.field])).toEqual([
    [3, 'prompt'],
    [4, 'kind'],
  ]);
  expect(p.ledger().length).toBe(before);
});

test("at-most-once: a submit whose answer is lost is found by the row's state in the proxy's task list and adopted, not paid twice", async () => {
  const before = p.ledger().length;
  await fetch(`${p.sim.url}/_sim/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ resetAfterSubmit: 1 }),
  });
  try {
    const manifest = writeManifest('ambiguous.jsonl', jsonl([{ id: 'maybe', prompt: `a teapot ${unique('t')}` }]));
    const { result } = await runBatch(p, manifest, defaultOptions({ outputPrefix: unique('out/ambiguous') }));
    expect(result.counts).toMatchObject({ unknownSubmit: 0, succeeded: 1 });
    expect(
      p
        .ledger()
        .slice(before)
        .filter((j) => j.state === 'maybe'),
    ).toHaveLength(1);
    // Nothing else proved the job existed: the answer was lost every time.
    expect((await (await fetch(`${p.sim.url}/_sim/stats`)).json()).requests.injected.resetAfterSubmit).toBeGreaterThan(0);
  } finally {
    await fetch(`${p.sim.url}/_sim/faults`, { method: 'DELETE' });
  }
});
