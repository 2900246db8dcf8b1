import { instantOf, parseDeadline } from '../../../manifest/deadline';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

test('HH:MM is the next such time after now, in the zone given', () => {
  expect(iso(parseDeadline('07:00', at('2026-03-01T06:59:00Z'), 'UTC'))).toBe('2026-03-01T07:00:00.000Z');
  expect(iso(parseDeadline('07:00', at('2026-03-01T10:00:00Z'), 'UTC'))).toBe('2026-03-02T07:00:00.000Z');
  // Exactly 07:00 now: the next one is tomorrow's.
  expect(iso(parseDeadline('07:00', at('2026-03-01T07:00:00Z'), 'UTC'))).toBe('2026-03-02T07:00:00.000Z');
  // 10:00 UTC is 19:00 in Tokyo (UTC+9): the next 07:00 there is 22:00 UTC the same day.
  expect(iso(parseDeadline('07:00', at('2026-03-01T10:00:00Z'), 'Asia/Tokyo'))).toBe('2026-03-01T22:00:00.000Z');
  // Paris moves to summer time (UTC+2) in the night of 28 to 29 March 2026: Saturday 07:00 was 06:00 UTC, Sunday's is 05:00.
  expect(iso(parseDeadline('07:00', at('2026-03-28T05:00:00Z'), 'Europe/Paris'))).toBe('2026-03-28T06:00:00.000Z');
  expect(iso(parseDeadline('07:00', at('2026-03-28T12:00:00Z'), 'Europe/Paris'))).toBe('2026-03-29T05:00:00.000Z');
});

test('an ISO date-time: with Z or an offset as written, without one in the zone given', () => {
  const now = at('2026-03-01T00:00:00Z');
  expect(iso(parseDeadline('2026-03-02T07:00:00Z', now, 'Asia/Tokyo'))).toBe('2026-03-02T07:00:00.000Z');
  expect(iso(parseDeadline('2026-03-02T07:00+02:00', now, 'UTC'))).toBe('2026-03-02T05:00:00.000Z');
  expect(iso(parseDeadline('2026-03-02T07:00', now, 'America/New_York'))).toBe('2026-03-02T12:00:00.000Z');
  expect(iso(parseDeadline('2026-07-02T07:00:30', now, 'America/New_York'))).toBe('2026-07-02T11:00:30.000Z');
});

test('what is not a deadline, or not a zone, is refused with the forms accepted', () => {
  for (const bad of ['7am', '25:00', '7:00', '2026-02-30T07:00', 'tomorrow'])
    expect(() => parseDeadline(bad, 0, 'UTC')).toThrow(`"${bad}" is not a time: use HH:MM`);
  expect(() => parseDeadline('07:00', 0, 'Mars/Olympus')).toThrow('unknown time zone "Mars/Olympus"');
});

test('a wall time skipped by the clocks moving forward reads with the offset before the change', () => {
  // 02:30 on 29 March 2026 does not exist in Paris (02:00 CET -> 03:00 CEST): it is 01:30 UTC, shown as 03:30.
  expect(iso(instantOf({ year: 2026, month: 3, day: 29, hour: 2, minute: 30 }, 'Europe/Paris'))).toBe('2026-03-29T01:30:00.000Z');
  // 02:30 on 25 October happens twice (CEST, then CET): the first, 00:30 UTC.
  expect(iso(instantOf({ year: 2026, month: 10, day: 25, hour: 2, minute: 30 }, 'Europe/Paris'))).toBe('2026-10-25T00:30:00.000Z');
});
