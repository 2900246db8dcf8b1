// The accounts a batch may use: several API endpoints or keys, each with its own slots, modes, caps and hours. Read
// from the accounts file (`MJ_ACCOUNTS_FILE`, in the environment or the config file, or `--accounts FILE`); without one,
// today's single-account settings are one implicit account. Keys are never here: only the name of the variable
// that holds each one (`apiKeyEnv`), read by the worker and the CLI, never put in inputs, history or logs.

/** A speed mode (the same words as `mj-client/routing.ts`'s `Mode`). */
export type AccountMode = 'fast' | 'relax' | 'turbo';

export interface AccountSpec {
  /** Unique in the file: letters, digits, `.`, `_`, `-`. */
  name: string;
  /** The API's base URL (a Plus proxy, or a gateway in front of one). */
  baseUrl: string;
  /** The environment variable that holds this account's API key. */
  apiKeyEnv: string;
  /** Jobs it runs at once (3 on most Midjourney plans, 12 on the top ones). */
  slots: number;
  /** Jobs it may hold waiting in the API's queue beyond `slots` (default 0). */
  queueAhead?: number;
  /** The speed modes it serves (default all three). */
  modes?: AccountMode[];
  /** How the key is sent (default as the single-account setting `MJ_AUTH_HEADER` says). */
  authHeader?: 'bearer' | 'mj-api-secret';
  /** How a row's mode appears in URLs (default as `MJ_MODE_PREFIX`). */
  modePrefix?: 'auto' | 'mj-dash' | 'plain' | 'none';
  /** At most this many paid jobs per day (in `timezone`), then no new rows until the next day. */
  dailyJobs?: number;
  /** A daily working window, `HH:MM-HH:MM` in `timezone` (one that ends before it starts runs past midnight). */
  hours?: string;
  /** An IANA time zone for `hours` and `dailyJobs` (default UTC). */
  timezone?: string;
  /** Spacing between this account's submits: at least `minGapMs`, plus up to `jitterMs` at random. */
  minGapMs?: number;
  jitterMs?: number;
  /** Tie-break between equally loaded accounts (default 1). */
  weight?: number;
}

/** The implicit account's name when no accounts file is given. */
export const DEFAULT_ACCOUNT_NAME = 'default';

/** Every speed mode, the default of `modes`. */
export const ACCOUNT_MODES: readonly AccountMode[] = ['fast', 'relax', 'turbo'];

/** The zone of `hours` and `dailyJobs` when `timezone` is not set. */
export const DEFAULT_ACCOUNT_TIMEZONE = 'UTC';

// Working windows and daily caps, in the account's wall-clock time. Pure and deterministic (workflow code uses them):
// only `Intl.DateTimeFormat`, whose answers depend on the time zone data, not on the machine's clock or zone.

/** A daily window in minutes of the local day: open from `start` up to (not including) `end`; `end < start` runs past midnight. */
export interface HoursWindow {
  start: number;
  end: number;
}

const HOURS = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/;

/** Parses `HH:MM-HH:MM` (an end of `24:00` is midnight); throws an Error saying what is wrong. */
export function parseHours(hours: string): HoursWindow {
  const m = HOURS.exec(hours);
  if (!m) throw new Error(`hours ${JSON.stringify(hours)} is not HH:MM-HH:MM (e.g. "08:00-23:30", or "22:00-06:00" past midnight)`);
  const minute = (h: string, mm: string, endOfDay: boolean) => {
    const value = Number(h) * 60 + Number(mm);
    const ok = Number(mm) < 60 && (Number(h) < 24 || (endOfDay && value === 24 * 60));
    if (!ok)
      throw new Error(
        `hours ${JSON.stringify(hours)}: ${h}:${mm} is not a time of day (00:00 to 23:59${endOfDay ? ', or 24:00 as an end' : ''})`,
      );
    return value;
  };
  const start = minute(m[1], m[2], false);
  const end = minute(m[3], m[4], true) % (24 * 60);
  if (start === end) throw new Error(`hours ${JSON.stringify(hours)} opens and closes at the same time (leave hours out to work all day)`);
  return { start, end };
}

/** What `hours` and `dailyJobs` need of an account. */
export type AccountClock = Pick<AccountSpec, 'hours' | 'timezone'>;

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** Offset changes are looked for at this spacing: real zones never change twice within it. */
const OFFSET_PROBE_MS = 6 * 60 * MINUTE_MS;

/** One formatter per zone: building one is costly, and a zone's answers never change within a process. */
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether `timeZone` is an IANA zone the runtime knows (`Intl.DateTimeFormat` throws a RangeError for others). */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatterOf(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** What a zone's clocks show: a calendar day and a time of day. */
export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** What the clocks in `timeZone` show at `atMs`. */
export function localTime(timeZone: string, atMs: number): LocalTime {
  const parts: Record<string, number> = {};
  for (const p of formatterOf(timeZone).formatToParts(atMs)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { year: parts.year, month: parts.month, day: parts.day, hour: parts.hour, minute: parts.minute, second: parts.second };
}

/** The zone's offset from UTC at `atMs`, in ms (local minus UTC). */
export function offsetAt(timeZone: string, atMs: number): number {
  const t = localTime(timeZone, atMs);
  const wholeSecond = Math.floor(atMs / 1000) * 1000;
  return Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second) - wholeSecond;
}

const zoneOf = (spec: AccountClock) => spec.timezone ?? DEFAULT_ACCOUNT_TIMEZONE;

/** The instants (0, 1 or 2, in order) when the local clock shows `minuteOfDay` on the local date `date`. */
function instantsAt(timeZone: string, date: LocalTime, minuteOfDay: number): number[] {
  const asUtc = Date.UTC(date.year, date.month - 1, date.day, 0, minuteOfDay);
  // The offsets in force around that wall time (offsets stay within ±14 h, so a day either side covers it).
  const offsets = new Set([offsetAt(timeZone, asUtc - DAY_MS), offsetAt(timeZone, asUtc + DAY_MS)]);
  return [...offsets]
    .map((offset) => asUtc - offset)
    .filter((at) => offsetAt(timeZone, at) === asUtc - at)
    .sort((a, b) => a - b);
}

/** The instants in (fromMs, toMs] when the zone's offset changes (the local clock jumps); offsets change on whole seconds. */
function offsetChanges(timeZone: string, fromMs: number, toMs: number): number[] {
  const changes: number[] = [];
  for (let lo = fromMs; lo < toMs; lo += OFFSET_PROBE_MS) {
    const before = offsetAt(timeZone, lo);
    let [a, b] = [Math.floor(lo / 1000), Math.floor(Math.min(lo + OFFSET_PROBE_MS, toMs) / 1000)];
    if (offsetAt(timeZone, b * 1000) === before) continue;
    // Narrow to the first whole second with the new offset.
    while (b - a > 1) {
      const mid = Math.floor((a + b) / 2);
      if (offsetAt(timeZone, mid * 1000) === before) a = mid;
      else b = mid;
    }
    changes.push(b * 1000);
  }
  return changes;
}

function addDays(date: LocalTime, days: number): LocalTime {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: 0, minute: 0, second: 0 };
}

/**
 * The first instant after `atMs` (within `days`) at which `ok` holds. What `ok` tests depends only on the local
 * clock, which changes course only when it reaches `minuteOfDay` or jumps at an offset change: those instants are
 * the only candidates.
 */
function firstAfter(timeZone: string, atMs: number, minuteOfDay: number, days: number, ok: (at: number) => boolean): number {
  const today = localTime(timeZone, atMs);
  const candidates = offsetChanges(timeZone, atMs, atMs + days * DAY_MS);
  for (let k = -1; k <= days; k++) candidates.push(...instantsAt(timeZone, addDays(today, k), minuteOfDay));
  const found = candidates
    .filter((at) => at > atMs)
    .sort((a, b) => a - b)
    .find(ok);
  if (found === undefined) throw new Error(`no such time within ${days} days in ${timeZone}`);
  return found;
}

/** Whether the account's working window is open at `atMs` (always, without `hours`). */
export function isWithinHours(spec: AccountClock, atMs: number): boolean {
  if (spec.hours === undefined) return true;
  const { start, end } = parseHours(spec.hours);
  const t = localTime(zoneOf(spec), atMs);
  const now = t.hour * 60 + t.minute;
  return start < end ? now >= start && now < end : now >= start || now < end;
}

/** When the working window next opens (ms epoch): `atMs` itself when it is open. */
export function nextWindowOpen(spec: AccountClock, atMs: number): number {
  if (isWithinHours(spec, atMs)) return atMs;
  const { start } = parseHours(spec.hours!);
  // A week: a window skipped by a clock change (or a zone's skipped day) opens again on a later day.
  return firstAfter(zoneOf(spec), atMs, start, 7, (at) => isWithinHours(spec, at));
}

/** The account's calendar day at `atMs`, `YYYY-MM-DD` in its time zone: what `dailyJobs` counts per. */
export function dayKey(spec: AccountClock, atMs: number): string {
  const t = localTime(zoneOf(spec), atMs);
  return `${String(t.year).padStart(4, '0')}-${String(t.month).padStart(2, '0')}-${String(t.day).padStart(2, '0')}`;
}

/** When the account's next calendar day starts (ms epoch): its first instant, even when the clock skips midnight. */
export function nextDayStart(spec: AccountClock, atMs: number): number {
  const today = dayKey(spec, atMs);
  return firstAfter(zoneOf(spec), atMs, 0, 2, (at) => dayKey(spec, at) > today);
}
