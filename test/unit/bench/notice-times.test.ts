import { noticeTimes } from '../../../bench/slot-utilisation';

const payload = (v: object) => ({ payloads: [{ data: Buffer.from(JSON.stringify(v)) }] });
const at = (ms: number) => ({ seconds: { toString: () => String(Math.floor(ms / 1000)) }, nanos: (ms % 1000) * 1e6 });

test('a task is noticed at the first event that brought its terminal state: a poll result or a callback signal', () => {
  const events = [
    { eventTime: at(1_000), activityTaskCompletedEventAttributes: { result: payload({ taskId: 'a', status: 'IN_PROGRESS' }) } },
    {
      eventTime: at(2_500),
      workflowExecutionSignaledEventAttributes: { signalName: 'taskUpdate', input: payload({ taskId: 'a', status: 'SUCCESS' }) },
    },
    { eventTime: at(3_000), activityTaskCompletedEventAttributes: { result: payload({ taskId: 'a', status: 'SUCCESS' }) } },
    { eventTime: at(4_250), activityTaskCompletedEventAttributes: { result: payload({ taskId: 'b', status: 'FAILURE' }) } },
    {
      eventTime: at(5_000),
      workflowExecutionSignaledEventAttributes: { signalName: 'other', input: payload({ taskId: 'c', status: 'SUCCESS' }) },
    },
    { eventTime: at(6_000), activityTaskCompletedEventAttributes: { result: { payloads: [{ data: Buffer.from('not json') }] } } },
  ];
  expect([...noticeTimes(events)]).toEqual([
    ['a', 2_500],
    ['b', 4_250],
  ]);
});
