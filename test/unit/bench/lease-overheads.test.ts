import { leaseOverheads } from '../../../bench/slot-utilisation';

const payload = (v: unknown) => ({ payloads: [{ data: Buffer.from(JSON.stringify(v)) }] });
const at = (ms: number) => ({ seconds: { toString: () => String(Math.floor(ms / 1000)) }, nanos: (ms % 1000) * 1e6 });
const grant = (ms: number, id: string) => ({
  eventTime: at(ms),
  signalExternalWorkflowExecutionInitiatedEventAttributes: { signalName: 'slotGranted', input: payload(id) },
});
const release = (ms: number, v: unknown) => ({
  eventTime: at(ms),
  workflowExecutionSignaledEventAttributes: { signalName: 'releaseSlot', input: payload(v) },
});

test("a lease's refill time is its release less its grant less the job's time queued and ran, from its last grant", () => {
  const events = [
    grant(1_000, 'a'),
    grant(1_200, 'b'),
    release(5_500, { leaseId: 'a', queuedMs: 500, ranMs: 3_000 }),
    // Granted again (a batch run again asks again): the later grant counts.
    grant(6_000, 'b'),
    release(9_250, { leaseId: 'b', ranMs: 2_000 }),
    // Without times (an older row, a row that made no job), or never granted here: left out.
    grant(10_000, 'c'),
    release(11_000, 'c'),
    release(12_000, { leaseId: 'c', ranMs: 0 }),
    release(13_000, { leaseId: 'z', ranMs: 1_000 }),
    // Clocks a little apart never make it negative.
    grant(14_000, 'd'),
    release(14_500, { leaseId: 'd', queuedMs: 100, ranMs: 900 }),
  ];
  expect(leaseOverheads(events)).toEqual([1_000, 1_250, 0]);
});
