import { accountForRows, duplicatePaidJobs, type LedgerEntry } from '../../../bench/chaos-checks';
import type { ResultLine } from '../../../report/results';

const job = (over: Partial<LedgerEntry>): LedgerEntry => ({
  id: '1',
  action: 'IMAGINE',
  customId: null,
  prompt: 'p',
  state: 'r1',
  parentId: null,
  charged: true,
  status: 'SUCCESS',
  ...over,
});

describe('duplicatePaidJobs', () => {
  test('the same row submitting the same prompt twice is one duplicate; different rows or buttons are not', () => {
    const jobs = [
      job({ id: '1' }),
      job({ id: '2' }), // r1 imagined twice
      job({ id: '3', state: 'r2' }), // another row, same prompt: fine
      job({ id: '4', action: 'UPSCALE', parentId: '1', customId: 'MJ::JOB::upsample::1::h' }),
      job({ id: '5', action: 'UPSCALE', parentId: '1', customId: 'MJ::JOB::upsample::2::h' }), // another button: fine
      job({ id: '6', action: 'UPSCALE', parentId: '1', customId: 'MJ::JOB::upsample::1::h' }), // U1 pressed twice
    ];
    const d = duplicatePaidJobs(jobs);
    expect(d.count).toBe(2);
    expect(d.examples.join('\n')).toContain('jobs 1, 2');
  });

  test('a job that ended FAILURE is refunded: asking again after it is a retry, not a duplicate', () => {
    expect(duplicatePaidJobs([job({ id: '1', status: 'FAILURE' }), job({ id: '2' })]).count).toBe(0);
    expect(duplicatePaidJobs([job({ id: '1' }), job({ id: '2', status: 'FAILURE' }), job({ id: '3' })]).count).toBe(1);
  });

  test('a MODAL job never confirmed is not paid, so it is no duplicate', () => {
    expect(duplicatePaidJobs([job({ id: '1' }), job({ id: '2', charged: false })]).count).toBe(0);
  });
});

describe('accountForRows', () => {
  const line = (key: string, status: string, failureClass?: string) => ({ key, status, failureClass }) as unknown as ResultLine;

  test('successes and classified failures are outcomes; missing, cancelled and unclassified rows are lost', () => {
    const report = [
      line('a', 'SUCCESS'),
      line('b', 'FAILED', 'image'),
      line('c', 'UNKNOWN_SUBMIT', 'ambiguous'),
      line('d', 'MISSING'),
      line('e', 'CANCELLED', 'cancelled'),
      line('f', 'FAILED'),
    ];
    const r = accountForRows(['a', 'b', 'c', 'd', 'e', 'f', 'g'], report);
    expect(r.lost).toEqual(['d', 'e', 'f', 'g']);
    expect(r.byStatus).toEqual({ SUCCESS: 1, FAILED: 2, UNKNOWN_SUBMIT: 1, MISSING: 1, CANCELLED: 1, NOT_IN_REPORT: 1 });
    expect(r.byFailureClass).toEqual({ image: 1, ambiguous: 1, cancelled: 1 });
  });
});
