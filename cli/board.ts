import type { BatchProgress } from '../contracts/batch';
import type { ItemStage } from '../contracts/rows';
import type { AccountSlotsStatus } from '../client/account-slots';
import type { AccountPoolState, AccountState } from '../contracts/account-pool';
import { duration, stallLine } from './accounts-view';

export type StageCounts = Partial<Record<ItemStage, number>>;

const STAGES: ItemStage[] = ['queued', 'submitting', 'held', 'generating', 'follow-ups', 'media', 'done', 'failed'];

function eta(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** Rows per stage: queued and finished from the batch's counters, the ones in flight from their own search attributes. */
export function stageCounts(p: BatchProgress, inFlight: StageCounts = {}): Record<ItemStage, number> {
  const c = p.counts;
  const running = { submitting: 0, held: 0, generating: 0, 'follow-ups': 0, media: 0, ...inFlight };
  // Rows started but not yet visible with a stage (visibility lags a moment) count as submitting.
  const seen = Object.values(inFlight).reduce((a, b) => a + (b ?? 0), 0);
  return {
    queued: p.queued + (inFlight.queued ?? 0),
    submitting: running.submitting + Math.max(0, p.inFlight - seen),
    held: running.held,
    generating: running.generating,
    'follow-ups': running['follow-ups'],
    media: running.media,
    done: c.succeeded + c.skipped,
    failed: c.failed + c.unknownSubmit + c.cancelled,
  };
}

/**
 * The board: one line per stage, then rate, ETA and slots in use, then the account's slots when rows wait for them,
 * or, with an accounts file, each account of the pool.
 */
export function boardLines(
  p: BatchProgress,
  inFlight: StageCounts = {},
  slots?: AccountSlotsStatus,
  pool?: AccountPoolState,
  now = Date.now(),
): string[] {
  const stages = stageCounts(p, inFlight);
  const total = Math.max(1, p.counts.total);
  const width = 24;
  const lines = [`batch ${p.batchId}  [${p.state}]  ${stages.done + stages.failed}/${p.counts.total} rows finished`];
  for (const s of STAGES) {
    const n = stages[s];
    const bar = '#'.repeat(Math.round((n / total) * width)).padEnd(width, '.');
    lines.push(`  ${s.padEnd(11)} ${String(n).padStart(6)}  ${bar}`);
  }
  lines.push(
    `  rate ${p.ratePerMinute}/min   ETA ${eta(p.etaSeconds)}   slots in use ${p.inFlight}/${p.concurrency}${p.runs > 1 ? `   run ${p.runs}` : ''}`,
  );
  if (p.accountHold) lines.push(`  ${holdLine(p)}`);
  if (p.counts.modeMismatches) lines.push(`  WARNING: ${p.counts.modeMismatches} row(s) ran in another speed mode than asked`);
  if (slots && slots.waiting > 0) lines.push(`  ${slotsLine(slots)}`);
  if (pool) lines.push(...poolLines(pool, now).map((l) => `  ${l}`));
  return lines;
}

/** Why a held batch waits, and what happens next. */
export function holdLine(p: BatchProgress, now = Date.now()): string {
  const h = p.accountHold;
  if (!h) return '';
  const account = p.accountSlotsWorkflowId?.split('/').pop() ?? 'the account';
  const next = Math.max(0, Math.round((h.nextProbeAt - now) / 1000));
  return (
    `HELD: ${account} refuses jobs (${h.reason}: ${h.message.slice(0, 120)}) since ${new Date(h.since).toISOString()}; ` +
    `${h.rowsHeld} row(s) wait, none failed; next try in ${next} s (\`mj-batch resume ${p.batchId}\` tries now)`
  );
}

/** One plain line, for logs and pipes. */
export function progressLine(
  p: BatchProgress,
  inFlight: StageCounts = {},
  slots?: AccountSlotsStatus,
  pool?: AccountPoolState,
  now = Date.now(),
): string {
  const s = stageCounts(p, inFlight);
  return (
    `${p.batchId} [${p.state}] ${s.done + s.failed}/${p.counts.total} finished: ` +
    STAGES.map((stage) => `${stage} ${s[stage]}`).join(', ') +
    `; ${p.ratePerMinute}/min; ETA ${eta(p.etaSeconds)}; slots ${p.inFlight}/${p.concurrency}` +
    (p.accountHold ? `; ${holdLine(p)}` : '') +
    (slots && slots.waiting > 0 ? `; ${slotsLine(slots)}` : '') +
    (pool ? `; ${poolLines(pool, now).join('; ')}` : '')
  );
}

/**
 * Draws the board in place on a terminal; elsewhere writes a plain line at most every `plainEveryMs` (and when the
 * counts change), so a log file gets a readable history instead of a redraw per tick.
 */
export class Board {
  private drawn = 0;
  private lastPlain = 0;
  private lastLine = '';

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly tty = Boolean(out.isTTY),
    private readonly plainEveryMs = 10_000,
  ) {}

  update(p: BatchProgress, inFlight: StageCounts = {}, slots?: AccountSlotsStatus, pool?: AccountPoolState): void {
    if (this.tty) {
      const lines = boardLines(p, inFlight, slots, pool);
      if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F`);
      this.out.write(lines.map((l) => `\x1b[2K${l}\n`).join(''));
      this.drawn = lines.length;
      return;
    }
    const line = progressLine(p, inFlight, slots, pool);
    const counts = line.replace(/; [\d.]+\/min.*$/, '');
    const now = Date.now();
    if (counts !== this.lastLine || now - this.lastPlain >= this.plainEveryMs) {
      this.out.write(`${new Date(now).toISOString()} ${line}\n`);
      this.lastLine = counts;
      this.lastPlain = now;
    }
  }
}
/** One line for status and watch; empty when nothing is worth saying. */
export function slotsLine(s: AccountSlotsStatus): string {
  const line = `account ${s.account}: ${s.held}/${s.slots}+${s.queueAhead} slots held, ${s.waiting} row(s) waiting`;
  if (s.heldByClosedRows.length === 0) return line;
  return `${line}; ${s.heldByClosedRows.length} held by closed rows (taken back within ${s.reclaimWithinSeconds} s)`;
}

/** The batch's pool of accounts, when it uses one (an accounts file); read optionally, as older batches have none. */
export const accountPoolIdOf = (p: BatchProgress): string | undefined => p.accountPoolWorkflowId;

/** One line per account of the pool (status, slots in use / effective / configured, jobs today), then the stall if any. */
export function poolLines(pool: AccountPoolState, now = Date.now()): string[] {
  const lines = pool.accounts.map(
    (a) =>
      `account ${a.name}: ${statusWithWhy(a, now)}, ${a.inUse}/${a.effectiveSlots}/${a.slots} in use/effective/slots, ` +
      `${a.jobsToday}${a.dailyJobs !== undefined ? `/${a.dailyJobs}` : ''} jobs today`,
  );
  if (pool.stalled) lines.push(stallLine(pool.stalled, now));
  return lines;
}

/** The status, and for one that takes no rows, why and for how long (the board redraws: relative times read best). */
function statusWithWhy(a: AccountState, now: number): string {
  const inHowLong = (iso: string) => {
    const ms = Date.parse(iso) - now;
    return ms > 0 ? `in ${duration(ms)}` : 'now';
  };
  if (a.status === 'parked' && a.parked) return `parked (${a.parked.reason}, next probe ${inHowLong(a.parked.probeAt)})`;
  if ((a.status === 'outside-hours' || a.status === 'capped') && a.opensAt) return `${a.status} (opens ${inHowLong(a.opensAt)})`;
  return a.status;
}
