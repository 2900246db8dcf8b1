import fc from 'fast-check';
import { dayKey, isValidTimeZone, isWithinHours, nextDayStart, nextWindowOpen, parseHours } from '../../../contracts/accounts';

// Expected instants are written as UTC; the comments give the local time that makes them right.
const at = (iso: string) => Date.parse(iso);
const MIN = 60_000;

describe('parseHours', () => {
  test('reads a window in minutes of the day, also one past midnight and one that ends at 24:00', () => {
    expect(parseHours('08:00-23:30')).toEqual({ start: 8 * 60, end: 23 * 60 + 30 });
    expect(parseHours('22:00-06:00')).toEqual({ start: 22 * 60, end: 6 * 60 });
    expect(parseHours('18:15-24:00')).toEqual({ start: 18 * 60 + 15, end: 0 });
  });

  test.each([
    ['8:00-23:30', /is not HH:MM-HH:MM/],
    ['08:00 - 23:30', /is not HH:MM-HH:MM/],
    ['', /is not HH:MM-HH:MM/],
    ['08:00-25:00', /25:00 is not a time of day/],
    ['08:60-09:00', /08:60 is not a time of day/],
    ['24:00-06:00', /24:00 is not a time of day \(00:00 to 23:59\)/],
    ['08:00-08:00', /opens and closes at the same time/],
    ['00:00-24:00', /opens and closes at the same time \(leave hours out/],
  ])('refuses %j', (hours, message) => {
    expect(() => parseHours(hours)).toThrow(message);
  });
});

test('time zones are checked by the runtime', () => {
  expect(isValidTimeZone('Europe/Berlin')).toBe(true);
  expect(isValidTimeZone('UTC')).toBe(true);
  expect(isValidTimeZone('Mars/Olympus')).toBe(false);
});

describe('UTC, the default zone', () => {
  const spec = { hours: '08:00-23:30' };

  test('the window is open from its start up to, not including, its end', () => {
    expect(isWithinHours(spec, at('2025-06-01T07:59:59Z'))).toBe(false);
    expect(isWithinHours(spec, at('2025-06-01T08:00:00Z'))).toBe(true);
    expect(isWithinHours(spec, at('2025-06-01T23:29:59Z'))).toBe(true);
    expect(isWithinHours(spec, at('2025-06-01T23:30:00Z'))).toBe(false);
    expect(isWithinHours({}, at('2025-06-01T03:00:00Z'))).toBe(true);
  });

  test('the next opening is now when open, later today before the start, tomorrow after the end', () => {
    expect(nextWindowOpen(spec, at('2025-06-01T12:34:56Z'))).toBe(at('2025-06-01T12:34:56Z'));
    expect(nextWindowOpen(spec, at('2025-06-01T05:00:00Z'))).toBe(at('2025-06-01T08:00:00Z'));
    expect(nextWindowOpen(spec, at('2025-06-01T23:30:00Z'))).toBe(at('2025-06-02T08:00:00Z'));
    expect(nextWindowOpen(spec, at('2025-12-31T23:45:00Z'))).toBe(at('2026-01-01T08:00:00Z'));
  });

  test('days', () => {
    expect(dayKey({}, at('2025-06-01T23:59:59Z'))).toBe('2025-06-01');
    expect(nextDayStart({}, at('2025-06-01T10:00:00Z'))).toBe(at('2025-06-02T00:00:00Z'));
    expect(nextDayStart({}, at('2025-06-02T00:00:00Z'))).toBe(at('2025-06-03T00:00:00Z'));
  });
});

describe('Asia/Shanghai (UTC+8, no DST), a window past midnight', () => {
  const spec = { hours: '22:00-06:00', timezone: 'Asia/Shanghai' };

  test('open late in the evening and early in the morning, closed during the day', () => {
    expect(isWithinHours(spec, at('2025-06-01T04:00:00Z'))).toBe(false); // 12:00
    expect(isWithinHours(spec, at('2025-06-01T15:00:00Z'))).toBe(true); // 23:00
    expect(isWithinHours(spec, at('2025-06-01T21:59:00Z'))).toBe(true); // 05:59 next day
    expect(isWithinHours(spec, at('2025-06-01T22:00:00Z'))).toBe(false); // 06:00
    expect(nextWindowOpen(spec, at('2025-06-01T04:00:00Z'))).toBe(at('2025-06-01T14:00:00Z')); // 22:00
  });

  test('the calendar day is the local one', () => {
    expect(dayKey(spec, at('2025-06-01T15:59:59Z'))).toBe('2025-06-01');
    expect(dayKey(spec, at('2025-06-01T16:00:00Z'))).toBe('2025-06-02');
    expect(nextDayStart(spec, at('2025-06-01T03:00:00Z'))).toBe(at('2025-06-01T16:00:00Z'));
    expect(nextDayStart(spec, at('2025-06-01T16:00:00Z'))).toBe(at('2025-06-02T16:00:00Z'));
  });
});

describe('Europe/Berlin across its DST changes (2025-03-30 01:00Z: 02:00 CET -> 03:00 CEST; 2025-10-26 01:00Z: 03:00 CEST -> 02:00 CET)', () => {
  const zone = 'Europe/Berlin';

  test('a day window opens at the same wall time on either side of a change', () => {
    const spec = { hours: '08:00-20:00', timezone: zone };
    expect(nextWindowOpen(spec, at('2025-03-29T20:00:00Z'))).toBe(at('2025-03-30T06:00:00Z')); // 21:00 CET -> 08:00 CEST
    expect(nextWindowOpen(spec, at('2025-10-25T19:00:00Z'))).toBe(at('2025-10-26T07:00:00Z')); // 21:00 CEST -> 08:00 CET
    expect(isWithinHours(spec, at('2025-03-30T05:59:00Z'))).toBe(false); // 07:59 CEST
    expect(isWithinHours(spec, at('2025-10-26T18:59:00Z'))).toBe(true); // 19:59 CET
  });

  test('a window whose start the clock skips opens when the clock jumps into it', () => {
    const spec = { hours: '02:30-04:00', timezone: zone };
    expect(isWithinHours(spec, at('2025-03-30T00:59:59Z'))).toBe(false); // 01:59:59 CET
    expect(nextWindowOpen(spec, at('2025-03-29T23:00:00Z'))).toBe(at('2025-03-30T01:00:00Z')); // 03:00 CEST
  });

  test('a window the clock skips entirely opens the next day', () => {
    const spec = { hours: '02:10-02:50', timezone: zone };
    expect(nextWindowOpen(spec, at('2025-03-29T23:00:00Z'))).toBe(at('2025-03-31T00:10:00Z')); // 02:10 CEST
  });

  test('when the clock falls back, a window opens again at its second pass', () => {
    const spec = { hours: '02:30-02:45', timezone: zone };
    expect(nextWindowOpen(spec, at('2025-10-25T23:00:00Z'))).toBe(at('2025-10-26T00:30:00Z')); // first 02:30, CEST
    expect(isWithinHours(spec, at('2025-10-26T00:50:00Z'))).toBe(false);
    expect(nextWindowOpen(spec, at('2025-10-26T00:50:00Z'))).toBe(at('2025-10-26T01:30:00Z')); // second 02:30, CET
  });

  test('when the clock falls back into a window after it closed, it opens again at the change', () => {
    const spec = { hours: '01:00-02:30', timezone: zone };
    expect(isWithinHours(spec, at('2025-10-26T00:40:00Z'))).toBe(false); // 02:40 CEST
    expect(nextWindowOpen(spec, at('2025-10-26T00:40:00Z'))).toBe(at('2025-10-26T01:00:00Z')); // 02:00 CET
  });

  test('days are 23 and 25 hours long on the change days', () => {
    const spec = { timezone: zone };
    expect(dayKey(spec, at('2025-03-29T23:30:00Z'))).toBe('2025-03-30'); // 00:30 CET
    expect(nextDayStart(spec, at('2025-03-29T12:00:00Z'))).toBe(at('2025-03-29T23:00:00Z'));
    expect(nextDayStart(spec, at('2025-03-30T12:00:00Z'))).toBe(at('2025-03-30T22:00:00Z'));
    expect(nextDayStart(spec, at('2025-10-25T12:00:00Z'))).toBe(at('2025-10-25T22:00:00Z'));
    expect(nextDayStart(spec, at('2025-10-26T12:00:00Z'))).toBe(at('2025-10-26T23:00:00Z'));
  });
});

test('a day whose midnight the clock skips starts when the clock jumps (America/Santiago, 2025-09-07 00:00 -> 01:00)', () => {
  const spec = { timezone: 'America/Santiago' };
  expect(nextDayStart(spec, at('2025-09-06T12:00:00Z'))).toBe(at('2025-09-07T04:00:00Z'));
  expect(dayKey(spec, at('2025-09-07T04:00:00Z'))).toBe('2025-09-07');
});

test('a skipped calendar day is skipped (Pacific/Apia went from 2011-12-29 to 2011-12-31)', () => {
  const spec = { timezone: 'Pacific/Apia' };
  expect(nextDayStart(spec, at('2011-12-29T22:00:00Z'))).toBe(at('2011-12-30T10:00:00Z'));
  expect(dayKey(spec, at('2011-12-30T10:00:00Z'))).toBe('2011-12-31');
});

describe('properties, in zones with and without DST', () => {
  const zones = ['UTC', 'Europe/Berlin', 'Asia/Shanghai', 'America/New_York', 'Australia/Lord_Howe', 'America/Santiago'];
  const instant = fc.integer({ min: at('2024-01-01T00:00:00Z'), max: at('2027-01-01T00:00:00Z') });
  const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  const window = fc
    .tuple(fc.integer({ min: 0, max: 1439 }), fc.integer({ min: 1, max: 1439 }))
    .map(([start, length]) => `${hhmm(start)}-${hhmm((start + length) % 1440)}`);

  test('the next opening is open, and the window is closed at every minute before it', () => {
    fc.assert(
      fc.property(instant, window, fc.constantFrom(...zones), (t, hours, timezone) => {
        const spec = { hours, timezone };
        const open = nextWindowOpen(spec, t);
        expect(open).toBeGreaterThanOrEqual(t);
        expect(isWithinHours(spec, open)).toBe(true);
        if (open > t) {
          expect(isWithinHours(spec, open - 1000)).toBe(false);
          for (let m = t; m < open; m += MIN) expect(isWithinHours(spec, m)).toBe(false);
        }
      }),
      { numRuns: 150 },
    );
  });

  test('the next day starts the first second the day changes', () => {
    fc.assert(
      fc.property(instant, fc.constantFrom(...zones), (t, timezone) => {
        const spec = { timezone };
        const next = nextDayStart(spec, t);
        expect(next).toBeGreaterThan(t);
        expect(dayKey(spec, next) > dayKey(spec, t)).toBe(true);
        expect(dayKey(spec, next - 1000)).toBe(dayKey(spec, t));
      }),
      { numRuns: 300 },
    );
  });
});
