// Cancelling a batch's jobs that are still waiting at the API, after the batch's own cancel: the rows stop, but a job
// the proxy has queued would otherwise still run and be paid for (issue 14; the servers' behaviour: docs/api-cancel.md).
import type { S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { rowJobsFolder } from '../contracts/bucket-layout';
import { rowWorkflowId, WorkflowType } from '../contracts/naming';
import { RowKeyKey } from '../contracts/search-attributes';
import { MjApiError, isTerminal, type CancelAnswer, type MjClient, type MjTask } from '../mj-client';
import { mapLimit } from '../report/map-limit';
import { readJournal } from '../storage/job-journal';
import type { MjClients } from './account-clients';
import { listKeys } from '../storage/objects';

/**
 * Statuses of a job the API has not started: waiting in the proxy's queue, a MODAL window never confirmed, or a
 * gateway's `""` before its first poll. A SUBMITTED or IN_PROGRESS job is already at Midjourney, which runs and
 * charges it whatever the proxy is told; cancelling it would only throw its image away, which a re-run could adopt.
 */
const NOT_STARTED = new Set(['NOT_START', 'MODAL', '']);
const CANCELLED = new Set(['FAILURE', 'CANCEL']);

export const NO_CANCEL_ROUTE = 'the API has no cancel route';
const ALREADY_RUNNING = 'already running at Midjourney: cancelling it would not stop the charge, only lose the image (a re-run adopts it)';

export interface CancelledJob {
  taskId: string;
  rowKey: string;
}

export interface UncancelledJob {
  /** Null for a submit that was sent but whose answer the row never recorded. */
  taskId: string | null;
  rowKey: string;
  /** The task's status at the API, when it was read. */
  status?: string;
  reason: string;
}

export interface FinishedJob {
  taskId: string;
  rowKey: string;
  status: string;
}

export interface ApiCancelReport {
  cancelled: CancelledJob[];
  couldNotCancel: UncancelledJob[];
  alreadyFinished: FinishedJob[];
  /** Rows whose job journals were read. */
  rows: number;
}

export interface ApiCancelDeps {
  temporal: Client;
  s3: S3Client;
  bucket: string;
  /** One client for every job, or one per account: a job goes to the account its journal names (unset: the default). */
  mj: MjClient | MjClients;
}

export interface ApiCancelOptions {
  /** The batch's output prefix: the rows' job journals are under it. */
  outputPrefix: string;
  /** Rows seen running before the batch's cancel was sent (see `runningRows`). */
  rows: string[];
  /** When the batch's cancel was sent: rows closed since then were in flight too. */
  since: Date;
  /** Calls to the API at once (default 4). */
  concurrency?: number;
  /** How long to wait for the cancelled rows to close before looking at their journals again (default 60 s). */
  settleMs?: number;
}

const quoted = (s: string) => s.replace(/'/g, '');

async function listRows(client: Client, query: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const wf of client.workflow.list({ query, pageSize: 200 })) {
    const key = wf.typedSearchAttributes.get(RowKeyKey);
    if (key) keys.push(key);
  }
  return keys;
}

const rowsOf = (batchId: string) => `WorkflowType = '${WorkflowType.item}' AND BatchId = '${quoted(batchId)}'`;

/** Row keys of the batch's row workflows running now (visibility lags by a moment). */
export const runningRows = (client: Client, batchId: string) => listRows(client, `${rowsOf(batchId)} AND ExecutionStatus = 'Running'`);

/** Row keys of the batch's row workflows running now, or closed at or after `since`. */
export const rowsInFlightSince = (client: Client, batchId: string, since: Date) =>
  listRows(client, `${rowsOf(batchId)} AND (ExecutionStatus = 'Running' OR CloseTime >= '${since.toISOString()}')`);

/** The jobs a row's journal records: accepted ones with their task id and account, and submits still without an answer. */
async function journalOf(s3: S3Client, bucket: string, outputPrefix: string, rowKey: string) {
  const keys = await listKeys(s3, bucket, rowJobsFolder(outputPrefix, rowKey));
  const entries = await Promise.all(keys.map((key) => readJournal(s3, bucket, key)));
  return entries.flatMap((e) => (e ? [{ rowKey, taskId: e.taskId ?? null, intentAt: e.intentAt, account: e.account }] : []));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until none of the rows' workflows runs (their in-flight submits have then recorded their answers), or `ms`. */
async function rowsClosed(client: Client, batchId: string, rows: string[], ms: number): Promise<void> {
  const end = Date.now() + ms;
  let open = rows;
  while (open.length > 0 && Date.now() < end) {
    const still = await Promise.all(
      open.map(async (row) => {
        const d = await client.workflow
          .getHandle(rowWorkflowId(batchId, row))
          .describe()
          .catch(() => undefined);
        return d?.status.name === 'RUNNING' ? [row] : [];
      }),
    );
    open = still.flat();
    if (open.length > 0) await sleep(500);
  }
}

const why = (err: unknown) => (err instanceof MjApiError ? (err.description ?? err.message) : String((err as Error).message ?? err));
const shown = (a: CancelAnswer) =>
  a.outcome === 'accepted'
    ? `HTTP ${a.httpStatus}${a.code !== undefined ? ` code ${a.code}` : ''}${a.description ? ` "${a.description}"` : ''}`
    : '';

/**
 * Cancels the batch's jobs the API has not started. Call it after the batch's own cancel, so no row submits anything
 * new: it reads the job journals of the rows in flight, fetches each job and cancels those still waiting, checking each
 * by fetching it again (a C# proxy answers 200 whatever happened). A row may have had a submit in flight when it was
 * cancelled; once the rows have closed, their journals are read again and any job they recorded since is handled too.
 */
export async function cancelApiJobs(batchId: string, deps: ApiCancelDeps, opts: ApiCancelOptions): Promise<ApiCancelReport> {
  const report: ApiCancelReport = { cancelled: [], couldNotCancel: [], alreadyFinished: [], rows: 0 };
  const seen = new Set<string>();

  const clients: MjClients = 'byName' in deps.mj ? deps.mj : { default: deps.mj, byName: new Map() };
  // The API without a cancel route, per client: one account's gateway may lack it while another's proxy has it.
  const noRoute = new Set<MjClient>();

  const settle = async ({ taskId, rowKey, account }: { taskId: string; rowKey: string; account?: string }): Promise<void> => {
    const refused = (reason: string, status?: string) =>
      report.couldNotCancel.push({ taskId, rowKey, ...(status !== undefined ? { status } : {}), reason });
    // Task ids belong to the account that made them.
    const mj = account === undefined ? clients.default : clients.byName.get(account);
    if (!mj)
      return void refused(`the job is on account "${account}", which is not in this CLI's accounts (use the worker's accounts file)`);
    let task: MjTask;
    try {
      task = await mj.fetchTask(taskId);
    } catch (err) {
      return void refused(err instanceof MjApiError && err.kind === 'not-found' ? 'the API does not know this task' : why(err));
    }
    if (isTerminal(task)) return void report.alreadyFinished.push({ taskId, rowKey, status: task.status });
    if (!NOT_STARTED.has(task.status)) return void refused(ALREADY_RUNNING, task.status);
    if (noRoute.has(mj)) return void refused(NO_CANCEL_ROUTE, task.status);
    let answer: CancelAnswer;
    try {
      answer = await mj.cancelTask(taskId);
    } catch (err) {
      return void refused(why(err), task.status);
    }
    if (answer.outcome === 'no-route') {
      noRoute.add(mj);
      return void refused(NO_CANCEL_ROUTE, task.status);
    }
    const after = await mj.fetchTask(taskId).catch(() => undefined);
    if (after && CANCELLED.has(after.status)) return void report.cancelled.push({ taskId, rowKey });
    if (after?.status === 'SUCCESS') return void report.alreadyFinished.push({ taskId, rowKey, status: after.status });
    refused(`the API answered ${shown(answer)}, but the task is still ${after ? after.status || '""' : 'unreadable'}`, after?.status);
  };

  const pass = async (rows: string[], last: boolean) => {
    const journals = (await mapLimit(rows, 8, (row) => journalOf(deps.s3, deps.bucket, opts.outputPrefix, row))).flat();
    const jobs = journals.flatMap((j) =>
      j.taskId && !seen.has(j.taskId) ? [{ taskId: j.taskId, rowKey: j.rowKey, account: j.account }] : [],
    );
    for (const j of jobs) seen.add(j.taskId);
    await mapLimit(jobs, opts.concurrency ?? 4, settle);
    if (last) {
      for (const j of journals.filter((e) => !e.taskId)) {
        report.couldNotCancel.push({
          taskId: null,
          rowKey: j.rowKey,
          reason: `a submit sent at ${new Date(j.intentAt).toISOString()} has no recorded answer: the job may exist at the API`,
        });
      }
    }
  };

  const first = [...new Set([...opts.rows, ...(await rowsInFlightSince(deps.temporal, batchId, opts.since))])];
  await pass(first, false);
  await rowsClosed(deps.temporal, batchId, first, opts.settleMs ?? 60_000);
  // Rows the visibility listing showed late, and the journals as the closed rows left them.
  const all = [...new Set([...first, ...(await rowsInFlightSince(deps.temporal, batchId, opts.since))])];
  await pass(all, true);
  report.rows = all.length;
  return report;
}
