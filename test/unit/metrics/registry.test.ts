import { MjApiError } from '../../../mj-client/errors';
import {
  metricsOn,
  recordJobSubmitted,
  recordMediaBytes,
  recordRowFinished,
  recordSubmitFailed,
  timedMedia,
  useRecorder,
} from '../../../metrics/record';
import { createMetricsRegistry, type AccountSlotsReading } from '../../../metrics/registry';
import { byLabel, parseExposition, valueOf } from '../../metrics-text';

afterEach(() => useRecorder(undefined));

const refusal = (kind: MjApiError['kind'], reason: MjApiError['reason']) =>
  new MjApiError({ kind, reason, endpoint: 'POST /mj/submit/imagine' });

test('with no recorder, recording does nothing and fails nothing', async () => {
  expect(metricsOn()).toBe(false);
  recordJobSubmitted({ op: 'new', kind: 'imagine' }, 'fast', 'a');
  recordRowFinished('SUCCESS', undefined);
  recordSubmitFailed(refusal('retryable', 'rate-limited'), 'a');
  recordMediaBytes('upload', 10);
  await expect(timedMedia('storeImage', async () => 'done')).resolves.toBe('done');
  await expect(timedMedia('storeImage', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
});

test('jobs are counted by the proxy action, mode (default when the row names none) and account', async () => {
  const registry = createMetricsRegistry();
  useRecorder(registry.recorder);
  recordJobSubmitted({ op: 'new', kind: 'imagine' }, 'fast', 'acct-a');
  recordJobSubmitted({ op: 'new', kind: 'imagine' }, 'fast', 'acct-a');
  recordJobSubmitted({ op: 'new', kind: 'blend' }, undefined, 'acct-b');
  recordJobSubmitted({ op: 'action', customId: 'MJ::JOB::upsample::2::5f0c' }, 'relax', 'acct-a');
  recordJobSubmitted({ op: 'action', customId: 'MJ::JOB::upsample_v7_2x_subtle::1::5f0c::SOLO' }, 'relax', 'acct-a');
  recordJobSubmitted({ op: 'action', customId: 'MJ::JOB::variation::3::5f0c' }, 'turbo', 'acct-a');
  recordJobSubmitted({ op: 'action', customId: 'MJ::CustomZoom::5f0c' }, 'fast', 'acct-a');
  recordJobSubmitted({ op: 'action', customId: 'MJ::JOB::pan_left::1::5f0c::SOLO' }, 'fast', 'acct-a');
  recordJobSubmitted({ op: 'action', customId: 'MJ::BOOKMARK::5f0c' }, 'fast', 'acct-a');
  const s = parseExposition(await registry.text());
  const jobs = 'mj_batch_jobs_submitted_total';
  expect(valueOf(s, jobs, { action: 'IMAGINE', mode: 'fast', account: 'acct-a' })).toBe(2);
  expect(valueOf(s, jobs, { action: 'BLEND', mode: 'default', account: 'acct-b' })).toBe(1);
  expect(byLabel(s, jobs, 'action')).toEqual({ IMAGINE: 2, BLEND: 1, UPSCALE: 2, VARIATION: 1, ZOOM: 1, PAN: 1, ACTION: 1 });
  expect(byLabel(s, jobs, 'mode')).toEqual({ fast: 5, default: 1, relax: 2, turbo: 1 });
});

test("refusals are the API's answered noes by reason; an ambiguous or cancelled submit and other errors are none", async () => {
  const registry = createMetricsRegistry();
  useRecorder(registry.recorder);
  recordSubmitFailed(refusal('retryable', 'rate-limited'), 'acct-a');
  recordSubmitFailed(refusal('retryable', 'rate-limited'), 'acct-a');
  recordSubmitFailed(refusal('retryable', 'queue-full'), 'acct-b');
  recordSubmitFailed(refusal('account', 'quota-exhausted'), 'acct-b');
  recordSubmitFailed(refusal('account', 'unauthorized'), 'acct-b');
  recordSubmitFailed(refusal('not-retryable', 'banned-prompt'), 'acct-a');
  recordSubmitFailed(refusal('ambiguous', 'timeout'), 'acct-a');
  recordSubmitFailed(refusal('cancelled', 'cancelled'), 'acct-a');
  recordSubmitFailed(new Error('input image unreadable'), 'acct-a');
  const s = parseExposition(await registry.text());
  const name = 'mj_batch_submit_refusals_total';
  expect(valueOf(s, name, { reason: 'rate-limited', account: 'acct-a' })).toBe(2);
  expect(byLabel(s, name, 'reason')).toEqual({
    'rate-limited': 2,
    'queue-full': 1,
    'quota-exhausted': 1,
    unauthorized: 1,
    'banned-prompt': 1,
  });
});

test('rows finished by status and failure class; media time by activity and outcome; image bytes by direction', async () => {
  const registry = createMetricsRegistry();
  useRecorder(registry.recorder);
  recordRowFinished('SUCCESS', undefined);
  recordRowFinished('SUCCESS', undefined);
  recordRowFinished('FAILED', 'generation');
  recordRowFinished('UNKNOWN_SUBMIT', 'ambiguous');
  await timedMedia('storeImage', async () => 1);
  await timedMedia('storeImage', async () => 2);
  await timedMedia('storeImage', () => Promise.reject(new Error('download: 403'))).catch(() => undefined);
  await timedMedia('rethumbnailImage', async () => 3);
  recordMediaBytes('download', 1000);
  recordMediaBytes('download', 24);
  recordMediaBytes('upload', 700);
  recordMediaBytes('upload', 0);
  const s = parseExposition(await registry.text());
  expect(valueOf(s, 'mj_batch_rows_finished_total', { status: 'SUCCESS', failure_class: 'none' })).toBe(2);
  expect(valueOf(s, 'mj_batch_rows_finished_total', { status: 'FAILED', failure_class: 'generation' })).toBe(1);
  expect(valueOf(s, 'mj_batch_rows_finished_total', { status: 'UNKNOWN_SUBMIT', failure_class: 'ambiguous' })).toBe(1);
  expect(valueOf(s, 'mj_batch_media_seconds_count', { activity: 'storeImage', outcome: 'ok' })).toBe(2);
  expect(valueOf(s, 'mj_batch_media_seconds_count', { activity: 'storeImage', outcome: 'failed' })).toBe(1);
  expect(valueOf(s, 'mj_batch_media_seconds_count', { activity: 'rethumbnailImage', outcome: 'ok' })).toBe(1);
  // Every observation lands in the +Inf bucket, and the sum is real time.
  expect(valueOf(s, 'mj_batch_media_seconds_bucket', { activity: 'storeImage', outcome: 'ok', le: '+Inf' })).toBe(2);
  expect(valueOf(s, 'mj_batch_media_seconds_sum', { activity: 'storeImage' })).toBeGreaterThanOrEqual(0);
  expect(byLabel(s, 'mj_batch_media_bytes_total', 'direction')).toEqual({ download: 1024, upload: 700 });
});

describe('the slots gauges are read on every scrape', () => {
  test('one series per account, as the reading says now', async () => {
    let readings: AccountSlotsReading[] = [
      { account: 'acct-a', inUse: 3, effectiveSlots: 4 },
      { account: 'acct-b', inUse: 0, effectiveSlots: 2 },
    ];
    const registry = createMetricsRegistry({ readSlots: async () => readings });
    let s = parseExposition(await registry.text());
    expect(byLabel(s, 'mj_batch_slots_in_use', 'account')).toEqual({ 'acct-a': 3, 'acct-b': 0 });
    expect(byLabel(s, 'mj_batch_effective_slots', 'account')).toEqual({ 'acct-a': 4, 'acct-b': 2 });
    // An account that is gone is gone from the next scrape.
    readings = [{ account: 'acct-a', inUse: 1, effectiveSlots: 3 }];
    s = parseExposition(await registry.text());
    expect(byLabel(s, 'mj_batch_slots_in_use', 'account')).toEqual({ 'acct-a': 1 });
    expect(byLabel(s, 'mj_batch_effective_slots', 'account')).toEqual({ 'acct-a': 3 });
  });

  test('a failed or unanswered reading leaves them out of that scrape, and the scrape still answers', async () => {
    let answer: 'ok' | 'fail' | 'hang' = 'ok';
    const registry = createMetricsRegistry({
      slotsTimeoutMs: 20,
      readSlots: () =>
        answer === 'ok'
          ? Promise.resolve([{ account: 'acct-a', inUse: 2, effectiveSlots: 2 }])
          : answer === 'fail'
            ? Promise.reject(new Error('query failed'))
            : new Promise<AccountSlotsReading[]>(() => undefined),
    });
    expect(valueOf(parseExposition(await registry.text()), 'mj_batch_slots_in_use', { account: 'acct-a' })).toBe(2);
    for (answer of ['fail', 'hang'] as const) {
      const s = parseExposition(await registry.text());
      expect(s.filter((x) => x.name === 'mj_batch_slots_in_use' || x.name === 'mj_batch_effective_slots')).toEqual([]);
    }
  });
});

test('the text is Prometheus exposition: HELP and TYPE for every mj_batch_ metric', async () => {
  const registry = createMetricsRegistry();
  const text = await registry.text();
  expect(registry.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  for (const [name, type] of [
    ['mj_batch_jobs_submitted_total', 'counter'],
    ['mj_batch_rows_finished_total', 'counter'],
    ['mj_batch_submit_refusals_total', 'counter'],
    ['mj_batch_media_seconds', 'histogram'],
    ['mj_batch_media_bytes_total', 'counter'],
    ['mj_batch_slots_in_use', 'gauge'],
    ['mj_batch_effective_slots', 'gauge'],
  ])
    expect(text).toContain(`# TYPE ${name} ${type}`);
});
