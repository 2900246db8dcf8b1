// `--deadline`'s parser: wall-clock times in an IANA time zone (only Intl). The accounts' windows and days are
// contracts/accounts.ts's; this only turns a time the user typed into an instant.
import { isValidTimeZone, localTime, offsetAt, type LocalTime } from '../contracts/accounts';

/** The machine's time zone: what `--deadline 07:00` means without `--timezone`. */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

const DAY_MS = 86_400_000;

/**
 * The instant the clocks in `timeZone` show `local` (the day may overflow: day 32 is the next month's first). A
 * time shown twice (the clocks moving back) is the first; a time skipped (moving forward) is read with the offset
 * before the change: 02:30 on a spring-forward night in Paris is 01:30 UTC, which the clocks show as 03:30.
 */
export function instantOf(local: Omit<LocalTime, 'second'> & { second?: number }, timeZone: string): number {
  const asUtc = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second ?? 0);
  // Offsets stay within ±14 h and change at most once in two days: the ones a day either side are the candidates.
  const before = offsetAt(timeZone, asUtc - DAY_MS);
  const after = offsetAt(timeZone, asUtc + DAY_MS);
  const shown = [asUtc - before, asUtc - after].filter((at) => offsetAt(timeZone, at) === asUtc - at);
  return shown.length > 0 ? Math.min(...shown) : asUtc - before;
}

const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** `HH:MM` as minutes after midnight, or undefined. */
export function minutesOfDay(text: string): number | undefined {
  const m = HH_MM.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

/** The first instant at or after `fromMs` (strictly after, with `strict`) when the clocks in `timeZone` show `minutes` after midnight. */
export function nextLocalTime(minutes: number, timeZone: string, fromMs: number, strict = false): number {
  const today = localTime(timeZone, fromMs);
  for (let days = 0; days < 3; days++) {
    const at = instantOf(
      { year: today.year, month: today.month, day: today.day + days, hour: Math.floor(minutes / 60), minute: minutes % 60 },
      timeZone,
    );
    if (strict ? at > fromMs : at >= fromMs) return at;
  }
  throw new Error(`no ${minutes} minutes after midnight in ${timeZone} within 3 days`);
}

const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const ISO_LOCAL = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/;

/**
 * `--deadline`: `HH:MM` is the next time the clocks in `timeZone` show it after `nowMs` (07:00 given at 07:00 is
 * tomorrow's); an ISO date-time with `Z` or an offset is that instant; one without is read in `timeZone`.
 */
export function parseDeadline(text: string, nowMs: number, timeZone: string = localTimeZone()): number {
  if (!isValidTimeZone(timeZone)) throw new Error(`unknown time zone "${timeZone}" (use an IANA name such as Europe/Paris or UTC)`);
  const value = text.trim();
  const minutes = minutesOfDay(value);
  if (minutes !== undefined) return nextLocalTime(minutes, timeZone, nowMs, true);
  if (ISO_WITH_ZONE.test(value)) {
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return ms;
  }
  const local = ISO_LOCAL.exec(value);
  if (local) {
    const [year, month, day, hour, minute, second] = local.slice(1).map((v) => Number(v ?? 0));
    const probe = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
    // Date.UTC rolls 2026-02-30 over to March: refuse what is not a real date.
    if (probe.getUTCMonth() === month - 1 && probe.getUTCDate() === day && hour < 24 && minute < 60 && second < 60)
      return instantOf({ year, month, day, hour, minute, second }, timeZone);
  }
  throw new Error(
    `"${text}" is not a time: use HH:MM (the next such time) or an ISO date-time such as 2026-03-02T07:00 or 2026-03-02T07:00:00Z`,
  );
}
