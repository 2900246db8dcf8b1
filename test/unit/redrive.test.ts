import { FAILURE_CLASSES } from '../../contracts/rows';
import { wantsRow } from '../../client/redrive';
import type { FailureClass, ItemStatus } from '../../contracts/rows';

const NOT_AMBIGUOUS = FAILURE_CLASSES.filter((c) => c !== 'ambiguous');
/** The classes a redrive takes without --class: all but ambiguous and banned. */
const BY_DEFAULT = FAILURE_CLASSES.filter((c) => c !== 'ambiguous' && c !== 'banned');

describe('FAILURE_CLASSES', () => {
  test('lists each failure class once, including ambiguous', () => {
    expect(new Set(FAILURE_CLASSES).size).toBe(FAILURE_CLASSES.length);
    expect(FAILURE_CLASSES).toEqual(
      expect.arrayContaining([
        'validation',
        'banned',
        'generation',
        'timeout',
        'submit',
        'ambiguous',
        'download',
        'image',
        'storage',
        'cancelled',
      ]),
    );
  });
});

describe('wantsRow without --class', () => {
  test('takes every failed row, whatever its class other than ambiguous and banned', () => {
    expect(BY_DEFAULT).toContain('generation');
    for (const c of BY_DEFAULT) expect([c, wantsRow('FAILED', c, undefined)]).toEqual([c, true]);
  });

  test('leaves banned rows alone: sending a moderated prompt again is a paid refusal and a strike on the account', () => {
    expect(wantsRow('FAILED', 'banned', undefined)).toBe(false);
  });

  test('takes a failed row that has no class', () => {
    expect(wantsRow('FAILED', undefined, undefined)).toBe(true);
  });

  test('takes cancelled rows', () => {
    expect(wantsRow('CANCELLED', 'cancelled', undefined)).toBe(true);
  });

  test('takes rows that were never recorded (the batch stopped before them)', () => {
    expect(wantsRow(undefined, undefined, undefined)).toBe(true);
  });

  test('leaves UNKNOWN_SUBMIT rows alone: they may already have been paid for', () => {
    expect(wantsRow('UNKNOWN_SUBMIT', 'ambiguous', undefined)).toBe(false);
  });

  test('never takes SUCCESS or SKIPPED rows', () => {
    for (const status of ['SUCCESS', 'SKIPPED'] as ItemStatus[]) {
      expect(wantsRow(status, undefined, undefined)).toBe(false);
      for (const c of FAILURE_CLASSES) expect(wantsRow(status, c, undefined)).toBe(false);
    }
  });
});

describe('wantsRow with --class', () => {
  test('takes only failed rows of the named classes', () => {
    const classes: FailureClass[] = ['timeout', 'download'];
    for (const c of FAILURE_CLASSES) expect([c, wantsRow('FAILED', c, classes)]).toEqual([c, classes.includes(c)]);
  });

  test('"banned" takes banned rows; other classes do not', () => {
    expect(wantsRow('FAILED', 'banned', ['banned'])).toBe(true);
    expect(wantsRow('FAILED', 'banned', ['banned', 'generation'])).toBe(true);
    expect(
      wantsRow(
        'FAILED',
        'banned',
        FAILURE_CLASSES.filter((c) => c !== 'banned'),
      ),
    ).toBe(false);
    expect(wantsRow('FAILED', 'generation', ['banned'])).toBe(false);
  });

  test('"ambiguous" takes UNKNOWN_SUBMIT rows; other classes do not', () => {
    expect(wantsRow('UNKNOWN_SUBMIT', 'ambiguous', ['ambiguous'])).toBe(true);
    expect(wantsRow('UNKNOWN_SUBMIT', 'ambiguous', ['ambiguous', 'timeout'])).toBe(true);
    expect(wantsRow('UNKNOWN_SUBMIT', 'ambiguous', NOT_AMBIGUOUS)).toBe(false);
  });

  test('"cancelled" takes cancelled rows', () => {
    expect(wantsRow('CANCELLED', 'cancelled', ['cancelled'])).toBe(true);
    expect(wantsRow('CANCELLED', 'cancelled', ['timeout'])).toBe(false);
  });

  test('a class filter skips rows without a record and failed rows without a class', () => {
    expect(wantsRow(undefined, undefined, ['timeout'])).toBe(false);
    expect(wantsRow(undefined, undefined, [...FAILURE_CLASSES])).toBe(false);
    expect(wantsRow('FAILED', undefined, [...FAILURE_CLASSES])).toBe(false);
  });

  test('still never takes SUCCESS or SKIPPED rows, even when every class is asked for', () => {
    for (const status of ['SUCCESS', 'SKIPPED'] as ItemStatus[]) {
      for (const c of FAILURE_CLASSES) expect(wantsRow(status, c, [...FAILURE_CLASSES])).toBe(false);
    }
  });

  test('over a mixed batch, the default, "ambiguous" and "banned" selections are disjoint and cover every unfinished row', () => {
    const rows: { status?: ItemStatus; failureClass?: FailureClass }[] = [
      { status: 'SUCCESS' },
      { status: 'SKIPPED' },
      {},
      { status: 'FAILED', failureClass: 'banned' },
      { status: 'FAILED', failureClass: 'storage' },
      { status: 'FAILED', failureClass: 'generation' },
      { status: 'UNKNOWN_SUBMIT', failureClass: 'ambiguous' },
      { status: 'CANCELLED', failureClass: 'cancelled' },
    ];
    const byDefault = rows.map((r) => wantsRow(r.status, r.failureClass, undefined));
    const ambiguous = rows.map((r) => wantsRow(r.status, r.failureClass, ['ambiguous']));
    const banned = rows.map((r) => wantsRow(r.status, r.failureClass, ['banned']));
    expect(byDefault).toEqual([false, false, true, false, true, true, false, true]);
    expect(ambiguous).toEqual([false, false, false, false, false, false, true, false]);
    expect(banned).toEqual([false, false, false, true, false, false, false, false]);
  });
});
