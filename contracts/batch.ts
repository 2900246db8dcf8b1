// A batch's input, progress and result: what the client starts, queries and waits for.
import type { ItemOptions, ItemStatus } from './rows';

export interface BatchInput {
  batchId: string;
  /**
   * `delimiter`: a CSV's delimiter, when `run --delimiter` named one (inputs without it, older ones too, choose it from
   * the header line, as validation did).
   */
  manifest: { ref: string; sha256: string; delimiter?: ',' | ';' | '\t' };
  outputPrefix: string;
  /** Rows in flight at once (waiting for a slot, running jobs, storing images); the account's slots limit the jobs. */
  concurrency: number;
  item: ItemOptions;
  /** Fail the batch early when more rows than this have failed (a count, or a percent of the rows). */
  maxFailed?: number;
  maxFailedPercent?: number;
  /** A redrive: only these rows. */
  onlyKeys?: string[];
  /**
   * A redrive: only the rows listed in this bucket object (see `RowKeysRef`). New redrives carry this instead of
   * `onlyKeys`, whose list grows with the rows and outgrows Temporal's payload limits.
   */
  onlyKeysRef?: RowKeysRef;
  pageSize?: number;
  /** The account's slots workflow (shared by every batch on the same API key); none: only `concurrency` limits. */
  accountSlotsWorkflowId?: string;
  /**
   * With an accounts file: the task queue's pool of accounts (contracts/account-pool.ts), in place of one account's
   * slots workflow. Each row's lease names the account its jobs run on.
   */
  accountPoolWorkflowId?: string;
  /** Rows started per run before continue-as-new keeps the history small. */
  rowsPerRun?: number;
  /** How often rows carried over from an earlier run are checked for having closed silently (default `CARRIED_ROWS_CHECK_MS`). */
  carriedRowsCheckMs?: number;
  carried?: BatchCarried;
}

/**
 * The row keys of a redrive, as an object the client writes once before the batch starts (`redriveKeysKey` in
 * ./bucket-layout, in the batch's bucket): `{"batchId", "redriveOf", "keys": [...]}`. The input carries only this
 * reference, a few hundred bytes whatever the number of rows; the activities read the object and refuse it if its
 * bytes no longer have this sha256.
 */
export interface RowKeysRef {
  /** The object's key in the bucket. */
  key: string;
  /** How many row keys it lists. */
  count: number;
  /** The sha256 of the object's bytes (hex). */
  sha256: string;
}

/** Every 5 min: a terminated row carried over from an earlier run is counted (as failed) and its slot given back. */
export const CARRIED_ROWS_CHECK_MS = 5 * 60_000;

/** What survives continue-as-new: a cursor and counters, never per-row results (those live in S3). */
export interface BatchCarried {
  offset: number;
  counts: BatchCounts;
  startedAt: number;
  runs: number;
  concurrency: number;
  paused: boolean;
  /**
   * Rows an earlier run asked for that had not ended when it continued as new: they keep running and tell this run
   * by `rowFinished`. Unset in runs from before rows outlived runs.
   */
  open?: { key: string; leaseId: string; offset?: number }[];
  /** The account hold in force, and the rows waiting on it, when the run continued as new. */
  hold?: Omit<AccountHold, 'rowsHeld'>;
  heldRows?: string[];
  /** Report shards [0, shardsWritten) are written (see `REPORT_SHARD_ROWS`), and the manifest's rows when known. */
  shardsWritten?: number;
  manifestRows?: number;
}

/** What the report activity wrote. */
export interface ReportResult {
  /** This batch's rows. */
  rows: number;
  /** Rows in the report files: the whole manifest. */
  reportRows: number;
  counts: BatchCounts;
  resultsCsv: string;
  resultsJsonl: string;
  contactSheet: string;
}

export interface BatchResult extends ReportResult {
  batchId: string;
  failedEarly: boolean;
  cancelled: boolean;
}

export interface BatchCounts {
  total: number;
  succeeded: number;
  failed: number;
  unknownSubmit: number;
  skipped: number;
  cancelled: number;
  /** Rows whose jobs ran in another mode than the one asked for (see `modeMismatch`). */
  modeMismatches?: number;
}

/** The account refuses jobs for a reason about the account, not the rows: the batch holds its rows until it recovers. */
export interface AccountHold {
  /** The client's reason: `quota-exhausted`, `unauthorized`, `forbidden`, `no-account`. */
  reason: string;
  /** The API's own words. */
  message: string;
  since: number;
  /** Rows waiting for the account. */
  rowsHeld: number;
  probes: number;
  /** When one held row tries again (`mj-batch resume` makes it now). */
  nextProbeAt: number;
}

/** What a row tells its batch when it ends: enough to count it (the result itself is in the bucket). */
export interface RowFinished {
  rowKey: string;
  status: ItemStatus;
  modeMismatch?: boolean;
}

/** What a row tells its batch when the account refuses its submit. */
export interface AccountCondition {
  rowKey: string;
  reason: string;
  message: string;
}

export interface BatchProgress {
  batchId: string;
  state: 'running' | 'paused' | 'held' | 'cancelling' | 'finished';
  counts: BatchCounts;
  inFlight: number;
  concurrency: number;
  queued: number;
  startedAt: number;
  ratePerMinute: number;
  etaSeconds: number | null;
  runs: number;
  /** The account's slots workflow, when the batch shares one. */
  accountSlotsWorkflowId?: string;
  /** The pool of accounts, when the batch runs on an accounts file. */
  accountPoolWorkflowId?: string;
  accountHold?: AccountHold;
}

/**
 * Manifest rows per report shard: shard i holds the result lines of manifest positions [i*1000, (i+1)*1000) (cut at
 * the manifest's end), so the report's end merges a few shard objects instead of reading every row's result.
 */
export const REPORT_SHARD_ROWS = 1000;

/** A range of manifest row positions (in manifest order) whose result lines one report shard holds. */
export interface ReportShardRange {
  index: number;
  offset: number;
  limit: number;
}

/** What writing one shard found in its range (never the lines: those are in the shard object). */
export interface ReportShardResult {
  index: number;
  /** Result lines in the shard: the range cut at the manifest's end (0: nothing written). */
  reportRows: number;
  /** This batch's rows among them, and how they ended. */
  rows: number;
  counts: BatchCounts;
  /** Rows in the whole manifest: shards cover [0, manifestRows), which a redrive's own row count does not tell. */
  manifestRows: number;
}

/** How many shards cover a manifest of `manifestRows` rows. */
export const reportShardCount = (manifestRows: number) => Math.ceil(manifestRows / REPORT_SHARD_ROWS);

/** Shard `index`'s range. */
export const reportShardRange = (index: number): ReportShardRange => ({
  index,
  offset: index * REPORT_SHARD_ROWS,
  limit: REPORT_SHARD_ROWS,
});
