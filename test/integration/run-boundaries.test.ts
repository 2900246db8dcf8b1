// A batch that crosses many continue-as-new boundaries keeps the account's slots busy across them: rows in flight
// outlive the run that started them (before, every boundary waited for them and the slots fell to zero).
import { waitForBatch } from '../../client/batches';
import { unique } from './helpers';
import { jsonl, maxOutstandingJobs, startOnAccount, startPipeline, writeManifest, type LedgerJob, type Pipeline } from './pipeline-harness';

let p: Pipeline;

beforeAll(async () => {
  // Equal 3 s jobs on 3 slots: long enough that a boundary always finds jobs running, unless it waits for them.
  p = await startPipeline({ concurrency: 3, queueSize: 10, jobMs: 3000 });
});
afterAll(() => p?.stop());

/** When each run of the batch ended by continuing as new, from the server's visibility. */
async function boundaries(batchId: string): Promise<number[]> {
  const times: number[] = [];
  for await (const wf of p.client.workflow.list({ query: `WorkflowId = '${batchId}' AND ExecutionStatus = 'ContinuedAsNew'` }))
    if (wf.closeTime) times.push(wf.closeTime.getTime());
  return times.sort((a, b) => a - b);
}

/** The batch's row workflows with when they started and closed, from the server's visibility. */
async function rowSpans(batchId: string): Promise<{ id: string; start: number; close: number }[]> {
  const spans: { id: string; start: number; close: number }[] = [];
  for await (const wf of p.client.workflow.list({ query: `BatchId = '${batchId}' AND WorkflowType = 'itemWorkflow'` }))
    spans.push({ id: wf.workflowId, start: wf.startTime.getTime(), close: wf.closeTime?.getTime() ?? Infinity });
  return spans;
}

const runningAt = (jobs: LedgerJob[], t: number) =>
  jobs.filter((j) => (j.slotStart ?? j.submitTime) <= t && (j.finishTime ?? Infinity) > t).length;

test('rows keep running across run boundaries: rows and jobs in flight at the boundaries, each row paid once', async () => {
  const tag = unique('bounds');
  const rows = Array.from({ length: 24 }, (_, i) => ({ id: `${tag}-${i}`, prompt: `${tag} chair ${i}` }));
  const manifest = writeManifest(`${tag}.jsonl`, jsonl(rows));
  const account = unique('acct');
  const input = await startOnAccount(p, manifest, {
    concurrency: 5,
    account,
    slots: 3,
    queueAhead: 2,
    outputPrefix: unique('out/bounds'),
    rowsPerRun: 4,
  });
  let runs = 1;
  const { result } = await waitForBatch(p.client, input.batchId, (pr) => (runs = Math.max(runs, pr.runs)), 500);

  expect(result.counts).toMatchObject({ total: 24, succeeded: 24, failed: 0, unknownSubmit: 0, cancelled: 0 });
  const jobs = p.ledger().filter((j) => j.state?.startsWith(`${tag}-`));
  expect(jobs).toHaveLength(24); // one paid job per row, none twice
  expect(new Set(jobs.map((j) => j.state)).size).toBe(24);
  expect(maxOutstandingJobs(jobs)).toBeLessThanOrEqual(5); // 3 slots + 2 queued ahead

  const ends = await boundaries(input.batchId);
  expect(ends.length).toBeGreaterThanOrEqual(4); // 24 rows, 4 per run: at least 5 runs
  expect(runs).toBe(ends.length + 1);
  // A drain closed every row before its run ended. Here each boundary is crossed by rows still running (at least the
  // one the run had just started), and the account's jobs run on: the ledger shows jobs running at most boundaries.
  const spans = await rowSpans(input.batchId);
  expect(spans).toHaveLength(24);
  for (const t of ends) expect(spans.filter((r) => r.start <= t && r.close > t).length).toBeGreaterThan(0);
  const busy = ends.filter((t) => runningAt(jobs, t) > 0).length;
  expect(busy).toBeGreaterThanOrEqual(Math.ceil(ends.length / 2));
});
