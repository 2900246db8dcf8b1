import { unique } from './helpers';
import { defaultOptions, jsonl, runBatch, startPipeline, writeManifest, type Pipeline } from './pipeline-harness';

let p: Pipeline;

// A fast simulator with many slots: this file is about the batch workflow's bookkeeping, not about timing.
beforeAll(async () => {
  p = await startPipeline({ speed: 1000, concurrency: 60, queueSize: 60 }, { MJ_CALLBACKS: '0' });
});
afterAll(() => p?.stop());

test('a 2,000-row manifest runs through several continue-as-new runs with nothing lost or run twice', async () => {
  const rows = Array.from({ length: 2000 }, (_, i) => ({
    id: `r${i}`,
    kind: 'shorten',
    prompt: `an elaborate studio photograph of catalog item number ${i}, soft light`,
  }));
  const manifest = writeManifest('scale.jsonl', jsonl(rows));
  const before = p.ledger().length;
  const { input, result } = await runBatch(p, manifest, {
    ...defaultOptions({ outputPrefix: unique('out/scale'), concurrency: 50, pollMinMs: 100, pollMaxMs: 500 }),
    rowsPerRun: 400,
  });
  expect(result.counts).toMatchObject({ total: 2000, succeeded: 2000, failed: 0, cancelled: 0 });
  expect(result.rows).toBe(2000);

  // One paid job per row, no row twice.
  const jobs = p.ledger().slice(before);
  expect(jobs).toHaveLength(2000);
  expect(new Set(jobs.map((j) => j.state)).size).toBe(2000);

  // The batch continued as new (2,000 rows / 400 per run) and every run's history stayed small.
  const runs = [];
  for await (const run of p.client.workflow.list({ query: `WorkflowId = '${input.batchId}'` })) runs.push(run);
  expect(runs.length).toBeGreaterThanOrEqual(5);
  for (const run of runs) expect(run.historyLength).toBeLessThan(10_000);
}, 900_000);
