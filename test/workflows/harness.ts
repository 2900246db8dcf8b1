// Fast workflow tests: the real workflow code on a local Temporal dev server, with in-memory stub activities in place
// of the simulator, S3 and the real activities. Every import of the project's workflow types and handler definitions
// is in this file (the test files take them from here), so a move of those definitions is fixed in one place.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { createManifestActivities, ManifestPageInput } from '../../activities/manifest';
import type { createMediaActivities } from '../../activities/media';
import type { createMjActivities, SubmitJobInput } from '../../activities/mj';
import type { createReportActivities, WriteReportInput, WriteReportShardInput } from '../../activities/report';
import type { createResultActivities } from '../../activities/results';
import { createRowLivenessActivities } from '../../activities/row-liveness';
import { rowStateOf, type createVersionActivities, type PreserveImagesInput } from '../../activities/versions';
import { supersededKey } from '../../contracts/bucket-layout';
import { BUTTON_INTENTS } from '../../mj-client/buttons';
import { ALL_SEARCH_ATTRIBUTES } from '../../contracts/search-attributes';
import type { BatchCounts, BatchInput, BatchProgress, BatchResult } from '../../contracts/batch';
import { progressQuery } from '../../contracts/handlers';
import { mediaTaskQueue } from '../../contracts/naming';
import type { ItemResult, ItemStatus, RowRef, TaskSnapshot } from '../../contracts/rows';
import type { ThumbnailSpec } from '../../contracts/media';
import { resolveBinary, TEMPORAL_CLI } from '../../stack/binaries';
import type { batchWorkflow } from '../../workflows/batch';

export { cancelBatchSignal, pauseUpdate, progressQuery, resumeUpdate, setConcurrencyUpdate } from '../../contracts/handlers';
export type { BatchCounts, BatchInput, BatchProgress, BatchResult, ItemResult };
// The account pool's.
export {
  accountPoolQuery,
  poolAcceptedSignal,
  poolAcquireSignal,
  poolReturnSignal,
  releaseSlotSignal,
  setAccountsSignal,
} from '../../contracts/handlers';
export { PARK_AFTER_REFUSALS } from '../../contracts/account-pool';
export type { AccountPoolInput, AccountPoolState, AccountState, PoolGrant, PoolLease, PoolReturn } from '../../contracts/account-pool';
export type { AccountSpec } from '../../contracts/accounts';
export type { accountPoolWorkflow } from '../../workflows/account-pool';

type MjActivities = ReturnType<typeof createMjActivities>;
type ManifestActivities = ReturnType<typeof createManifestActivities>;
type ResultActivities = ReturnType<typeof createResultActivities>;
type ReportActivities = ReturnType<typeof createReportActivities>;
type MediaActivities = ReturnType<typeof createMediaActivities>;
type VersionActivities = ReturnType<typeof createVersionActivities>;
type StoredImage = Awaited<ReturnType<MediaActivities['storeImage']>>;
export type BatchHandle = WorkflowHandle<typeof batchWorkflow>;

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** The server, the client and the bundled workflow code, shared by the tests of one file. */
export interface WorkflowTestEnv {
  env: TestWorkflowEnvironment;
  bundle: WorkflowBundleWithSourceMap;
  teardown(): Promise<void>;
}

/**
 * One environment per test file: started before its tests (building the Temporal CLI on a machine that lacks it
 * takes minutes, once; later runs reuse the cached binary), torn down after. Read `.current` inside tests.
 */
export function useWorkflowTestEnv(workflowsPath?: string): { readonly current: WorkflowTestEnv } {
  const ref: { current?: WorkflowTestEnv } = {};
  jest.setTimeout(60_000);
  beforeAll(async () => {
    ref.current = await startWorkflowTestEnv(workflowsPath);
  }, 15 * 60_000);
  afterAll(() => ref.current?.teardown());
  return {
    get current() {
      if (!ref.current) throw new Error('the workflow test environment is not started');
      return ref.current;
    },
  };
}

/**
 * A local dev server from the project's own Temporal CLI binary (found, or built once, the way `mj-batch stack install`
 * does), with the workflows' search attributes registered, and the workflow code bundled once (`workflowsPath`: a
 * test's own entry that adds test-only workflows to the project's).
 */
export async function startWorkflowTestEnv(workflowsPath = require.resolve('../../workflows')): Promise<WorkflowTestEnv> {
  try {
    // The stub failures are expected: keep the worker's warnings (failed activities, late completions) out of the output.
    Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
  } catch {
    // a runtime exists already (another file in this process installed it)
  }
  const temporal = await resolveBinary(TEMPORAL_CLI, { log: (line) => process.stderr.write(`[workflows] ${line}\n`) });
  const [env, bundle] = await Promise.all([
    TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: temporal },
        searchAttributes: ALL_SEARCH_ATTRIBUTES,
        log: { format: 'pretty', level: 'error' },
      },
    }),
    bundleWorkflowCode({ workflowsPath, logger: quiet }),
  ]);
  return { env, bundle, teardown: () => env.teardown() };
}

let counter = 0;
/** A name no other test in this file uses (batch ids, task queues). */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${++counter}`;
}

/** What the stubs do for one row. */
export type RowScript =
  /**
   * Submitted, then SUCCESS with an image at the `polls`th poll (default 1: the dev server fires timers to the second,
   * so each poll costs about a second), optionally run in another mode than the row asked for.
   */
  | { kind: 'ok'; polls?: number; modeRan?: 'fast' | 'relax' | 'turbo' }
  /** The submit fails with a non-retryable ApplicationFailure of this type (`Mj.banned-prompt`, `Mj.validation`, ...). */
  | { kind: 'submit-fails'; type: string; details?: unknown[] }
  /** The submit is refused (retryable) this many times, then accepted; the job succeeds. */
  | { kind: 'refused-then-ok'; refusals: number }
  /** The job is accepted and ends FAILURE with this reason. */
  | { kind: 'task-fails'; reason: string }
  /** The job succeeds, storing its image fails with a non-retryable ApplicationFailure of this type. */
  | { kind: 'media-fails'; type: string }
  /** An earlier run stored SUCCESS for this row. */
  | { kind: 'done' };

export interface StubRow {
  key: string;
  script: RowScript;
  mode?: 'fast' | 'relax' | 'turbo';
  /** The row's submits wait until `openGate()`. */
  gated?: boolean;
}

export interface ReportCall {
  input: WriteReportInput;
  /** The stored result's status of every manifest row when the report was asked for (`MISSING`: none). */
  statusesAtCall: Record<string, ItemStatus | 'MISSING'>;
}

/**
 * In-memory stand-ins for every activity the batch and item workflows call, with a manifest of `rows`, recording each
 * call so tests can assert on them.
 */
export class Stubs {
  readonly manifestRef: string;
  readonly sha256: string;
  readonly outputPrefix: string;
  readonly rows: RowRef[];
  readonly pages: ManifestPageInput[] = [];
  readonly submits: { rowKey: string; input: SubmitJobInput }[] = [];
  readonly fetches: string[] = [];
  readonly loads: string[] = [];
  /** Row results by key: seeded for `done` rows, written by saveRowResult. */
  readonly stored = new Map<string, ItemResult>();
  readonly saves: ItemResult[] = [];
  /** The row each stored result was saved with (a seeded one counts as saved with the row as it is now). */
  readonly storedRows = new Map<string, RowRef>();
  /** preserveImages calls. */
  readonly preserves: PreserveImagesInput[] = [];
  /** Tasks the stub API no longer knows (fetchTask answers not found). */
  readonly forgotten = new Set<string>();
  readonly images: { rowKey: string; taskId: string; role: string }[] = [];
  readonly reports: ReportCall[] = [];
  readonly shardWrites: WriteReportShardInput[] = [];
  /** rethumbnailImage calls: the original's key and the profile asked for. */
  readonly rethumbnails: { key: string; thumbnails?: ThumbnailSpec[] }[] = [];
  /** Originals the stub bucket has lost: rethumbnailImage fails for them with a final Media.storage. */
  readonly lostOriginals = new Set<string>();

  private readonly scripts = new Map<string, StubRow>();
  private readonly taskRow = new Map<string, string>();
  private readonly fetchCount = new Map<string, number>();
  private readonly refusals = new Map<string, number>();
  private releaseGate!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.releaseGate = resolve));
  private waiters: (() => void)[] = [];

  constructor(
    readonly batchId: string,
    rows: StubRow[],
  ) {
    this.manifestRef = `mem://${batchId}/manifest.jsonl`;
    this.sha256 = `sha-${batchId}`;
    this.outputPrefix = `out/${batchId}`;
    this.rows = rows.map((r, i) => ({
      key: r.key,
      line: i + 1,
      id: r.key,
      kind: 'imagine',
      prompt: `a test prompt for ${r.key}`,
      images: [],
      mode: r.mode,
      actions: '',
      plan: [],
      prefix: `${this.outputPrefix}/${r.key}`,
      extra: {},
    }));
    for (const r of rows) {
      this.scripts.set(r.key, r);
      if (r.script.kind === 'done')
        this.stored.set(r.key, {
          rowKey: r.key,
          line: this.rows.find((x) => x.key === r.key)!.line,
          status: 'SUCCESS',
          taskIds: ['earlier-task'],
          images: [],
        });
    }
  }

  openGate(): void {
    this.releaseGate();
  }

  /** Resolves once `check` holds after some recorded call (checked now, and after every call); fails after `timeoutMs`. */
  until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      this.waiters.push(waiter);
    });
  }

  submittedKeys(): string[] {
    return this.submits.map((s) => s.rowKey);
  }

  private changed(): void {
    for (const w of [...this.waiters]) w();
  }

  private script(rowKey: string): StubRow {
    const s = this.scripts.get(rowKey);
    if (!s) throw ApplicationFailure.nonRetryable(`no such row in the stub manifest: ${rowKey}`, 'Stub.unknown-row');
    return s;
  }

  /** The orchestration worker's activities. */
  activities(): Pick<ManifestActivities, 'readManifestPage'> &
    Pick<ResultActivities, 'loadRowResult' | 'saveRowResult'> &
    Pick<ReportActivities, 'writeReport' | 'writeReportShard'> &
    Pick<MjActivities, 'submitJob' | 'fetchTask'> &
    Pick<VersionActivities, 'loadRowState' | 'preserveImages'> &
    ReturnType<typeof createRowLivenessActivities> {
    return {
      // Asks the test's own Temporal server, as the real one does.
      ...createRowLivenessActivities(),
      readManifestPage: async (input) => {
        this.pages.push(input);
        this.changed();
        if (input.ref !== this.manifestRef || input.sha256 !== this.sha256)
          throw ApplicationFailure.nonRetryable(`unexpected manifest ${input.ref}`, 'Manifest.changed');
        const wanted = input.onlyKeys ? new Set(input.onlyKeys) : undefined;
        const rows = wanted ? this.rows.filter((r) => wanted.has(r.key)) : this.rows;
        const next = input.offset + input.limit;
        return { rows: rows.slice(input.offset, next), total: rows.length, nextOffset: next < rows.length ? next : null };
      },

      loadRowResult: async ({ rowKey }) => {
        this.loads.push(rowKey);
        this.changed();
        return this.stored.get(rowKey) ?? null;
      },

      loadRowState: async ({ outputPrefix, row }) => {
        this.loads.push(row.key);
        this.changed();
        const result = this.stored.get(row.key);
        const stored = this.storedRows.get(row.key) ?? row;
        return rowStateOf(outputPrefix, row, result ? { batchId: 'earlier-batch', row: stored, result, finishedAt: '' } : null);
      },

      // As the real one answers when every original is still there: each image kept under _versions/<version>/.
      preserveImages: async (input) => {
        this.preserves.push(input);
        this.changed();
        const to = (version: string, key: string) => supersededKey(input.row.prefix, version, key);
        return input.keep.map((e) => ({
          ...e,
          images: e.images.map((i) => ({
            ...i,
            key: to(e.version, i.key),
            sidecarKey: to(e.version, i.sidecarKey),
            thumbnails: i.thumbnails.map((t) => ({ ...t, key: to(e.version, t.key) })),
          })),
        }));
      },

      saveRowResult: async ({ row, result }) => {
        this.storedRows.set(result.rowKey, row);
        this.stored.set(result.rowKey, result);
        this.saves.push(result);
        this.changed();
      },

      writeReportShard: async (input) => {
        this.shardWrites.push(input);
        this.changed();
        const { index, offset, limit } = input.shard;
        const reportRows = Math.max(0, Math.min(limit, this.rows.length - offset));
        const counts: BatchCounts = { total: reportRows, succeeded: 0, failed: 0, unknownSubmit: 0, skipped: 0, cancelled: 0 };
        return { index, reportRows, rows: reportRows, counts, manifestRows: this.rows.length };
      },

      writeReport: async (input) => {
        const statusesAtCall: ReportCall['statusesAtCall'] = {};
        for (const r of this.rows) statusesAtCall[r.key] = this.stored.get(r.key)?.status ?? 'MISSING';
        this.reports.push({ input, statusesAtCall });
        this.changed();
        // As the real report counts: from the stored results of every row (a row with none counts as failed).
        const counts: BatchCounts = { total: this.rows.length, succeeded: 0, failed: 0, unknownSubmit: 0, skipped: 0, cancelled: 0 };
        for (const s of Object.values(statusesAtCall)) {
          if (s === 'SUCCESS') counts.succeeded++;
          else if (s === 'SKIPPED') counts.skipped++;
          else if (s === 'UNKNOWN_SUBMIT') counts.unknownSubmit++;
          else if (s === 'CANCELLED') counts.cancelled++;
          else counts.failed++;
        }
        const base = `mem://${input.outputPrefix}`;
        return {
          rows: this.rows.length,
          reportRows: this.rows.length,
          counts,
          resultsCsv: `${base}/results.csv`,
          resultsJsonl: `${base}/results.jsonl`,
          contactSheet: `${base}/index.html`,
        };
      },

      submitJob: async (input) => {
        const rowKey = input.state;
        const row = this.script(rowKey);
        this.submits.push({ rowKey, input });
        this.changed();
        if (row.gated) await Promise.race([this.gate, cancelled()]);
        const s = row.script;
        if (s.kind === 'submit-fails')
          throw ApplicationFailure.create({
            type: s.type,
            message: `stub refuses ${rowKey} (${s.type})`,
            nonRetryable: true,
            details: s.details,
          });
        if (s.kind === 'refused-then-ok') {
          const n = this.refusals.get(rowKey) ?? 0;
          if (n < s.refusals) {
            this.refusals.set(rowKey, n + 1);
            throw ApplicationFailure.create({
              type: 'Mj.rate-limited',
              message: `stub rate-limits ${rowKey}`,
              nonRetryable: false,
              nextRetryDelay: 10,
            });
          }
        }
        if (s.kind === 'done')
          throw ApplicationFailure.nonRetryable(`row ${rowKey} is done and must not be submitted`, 'Stub.done-row-submitted');
        const taskId = `task-${rowKey}-${this.submits.filter((x) => x.rowKey === rowKey).length}`;
        this.taskRow.set(taskId, rowKey);
        return { taskId, modal: false, queued: false };
      },

      fetchTask: async ({ taskId }): Promise<TaskSnapshot> => {
        this.fetches.push(taskId);
        this.changed();
        const rowKey = this.taskRow.get(taskId);
        if (!rowKey || this.forgotten.has(taskId)) throw ApplicationFailure.nonRetryable(`no such task ${taskId}`, 'Mj.not-found');
        const s = this.script(rowKey).script;
        const n = (this.fetchCount.get(taskId) ?? 0) + 1;
        this.fetchCount.set(taskId, n);
        if (s.kind === 'ok' && n < (s.polls ?? 1)) return { taskId, status: 'IN_PROGRESS', progress: 40, buttons: [] };
        if (s.kind === 'task-fails') return { taskId, status: 'FAILURE', progress: 0, failReason: s.reason, buttons: [] };
        return {
          taskId,
          status: 'SUCCESS',
          progress: 100,
          imageUrl: `https://images.test/${taskId}.png`,
          buttons: BUTTON_INTENTS.map((intent) => ({ customId: `stub::${intent}::${taskId}`, intent })),
          modeRan: s.kind === 'ok' ? s.modeRan : undefined,
        };
      },
    };
  }

  /** The media worker's activity. */
  mediaActivities(): MediaActivities {
    return {
      storeImage: async (input): Promise<StoredImage> => {
        this.images.push({ rowKey: input.rowKey, taskId: input.taskId, role: input.role });
        this.changed();
        const s = this.script(input.rowKey).script;
        if (s.kind === 'media-fails')
          throw ApplicationFailure.create({ type: s.type, message: `stub cannot store ${input.imageUrl}`, nonRetryable: true });
        const key = `${input.prefix}/${input.role}.png`;
        return {
          role: input.role,
          taskId: input.taskId,
          key,
          sha256: `sha-${input.taskId}`,
          bytes: 1024,
          width: 64,
          height: 64,
          format: 'png',
          thumbnails: [],
          sidecarKey: `${key}.json`,
          skipped: false,
        };
      },

      rethumbnailImage: async ({ image, thumbnails }): Promise<StoredImage> => {
        this.rethumbnails.push({ key: image.key, thumbnails });
        this.changed();
        // A gated row's images wait for the gate (or the activity's cancellation), like its submits.
        const row = this.rows.find((r) => image.key.startsWith(`${r.prefix}/`));
        if (row && this.scripts.get(row.key)?.gated) await Promise.race([this.gate, cancelled()]);
        if (this.lostOriginals.has(image.key))
          throw ApplicationFailure.create({
            type: 'Media.storage',
            message: `stub: the original ${image.key} is missing`,
            nonRetryable: true,
          });
        const specs = thumbnails ?? [{ size: 512, format: 'webp' }];
        return {
          ...image,
          thumbnails: specs.map((t) => ({
            key: `${image.key}-${t.size}.${t.format}`,
            sha256: `sha-${image.key}-${t.size}`,
            width: t.size,
            height: t.size,
            format: t.format,
          })),
          skipped: true,
        };
      },
    };
  }
}

/** The activity's cancellation, once the worker delivers it (at shutdown at the latest): a gated stub never outlives its worker. */
function cancelled(): Promise<void> {
  return new Promise((resolve) => Context.current().cancellationSignal.addEventListener('abort', () => resolve(), { once: true }));
}

/** A batch's input as `prepareBatch` builds it, over the stubs' manifest, with short polls. */
export function batchInput(stubs: Stubs, taskQueue: string, over: Partial<BatchInput> = {}): BatchInput {
  return {
    batchId: stubs.batchId,
    manifest: { ref: stubs.manifestRef, sha256: stubs.sha256 },
    outputPrefix: stubs.outputPrefix,
    concurrency: 3,
    ...over,
    item: {
      submitPolicy: 'at-most-once',
      pollMinMs: 20,
      pollMaxMs: 100,
      jobDeadlineMs: 60_000,
      callbacks: false,
      skipDone: true,
      mediaTaskQueue: mediaTaskQueue(taskQueue),
      ...over.item,
    },
  };
}

/**
 * Runs `fn` with an orchestration worker (workflows and stub activities) and a media worker on a task queue of the
 * test's own; opens the stubs' gate before the workers shut down.
 */
export async function withWorkers<T>(t: WorkflowTestEnv, taskQueue: string, stubs: Stubs, fn: () => Promise<T>): Promise<T> {
  const { nativeConnection: connection } = t.env;
  const namespace = t.env.namespace ?? 'default';
  const main = await Worker.create({ connection, namespace, taskQueue, workflowBundle: t.bundle, activities: stubs.activities() });
  const media = await Worker.create({ connection, namespace, taskQueue: mediaTaskQueue(taskQueue), activities: stubs.mediaActivities() });
  return media.runUntil(
    main.runUntil(async () => {
      try {
        return await fn();
      } finally {
        stubs.openGate();
      }
    }),
  );
}

export function startBatch(
  t: WorkflowTestEnv,
  taskQueue: string,
  input: BatchInput,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof batchWorkflow>> {
  return t.env.client.workflow.start<typeof batchWorkflow>('batchWorkflow', { workflowId: input.batchId, taskQueue, args: [input] });
}

/** Asks the batch's progress until `check` holds (a condition on the workflow's state, not a fixed sleep). */
export async function progressUntil(
  handle: BatchHandle,
  what: string,
  check: (p: BatchProgress) => boolean,
  timeoutMs = 30_000,
): Promise<BatchProgress> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const p = await handle.query(progressQuery);
    if (check(p)) return p;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last progress: ${JSON.stringify(p)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The ids of the child workflows the batch has started so far, from its history. */
export async function childrenStarted(handle: BatchHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((e) =>
    e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId
      ? [e.startChildWorkflowExecutionInitiatedEventAttributes.workflowId]
      : [],
  );
}

/**
 * How long the row's workflow `workflowId` waited after each submit that failed: the timer it started right after
 * each failed `submitJob` activity, in ms, from its history (what the workflow asked for, not wall-clock time).
 */
export async function submitRetryDelays(t: WorkflowTestEnv, workflowId: string): Promise<number[]> {
  const events = (await t.env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const submits = new Set(
    events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'submitJob').map((e) => String(e.eventId)),
  );
  const delays: number[] = [];
  let afterFailedSubmit = false;
  for (const e of events) {
    const failed = e.activityTaskFailedEventAttributes;
    if (failed && submits.has(String(failed.scheduledEventId))) afterFailedSubmit = true;
    const timeout = e.timerStartedEventAttributes?.startToFireTimeout;
    if (timeout && afterFailedSubmit) {
      delays.push((timeout.seconds?.toNumber() ?? 0) * 1000 + Math.round((timeout.nanos ?? 0) / 1e6));
      afterFailedSubmit = false;
    }
  }
  return delays;
}
