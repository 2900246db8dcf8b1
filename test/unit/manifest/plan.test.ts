import { formatPlan, parsePlan, planJobCount } from '../../../manifest/plan';

test.each([
  ['', []],
  ['U1,U3', [[{ intent: 'U1' }], [{ intent: 'U3' }]]],
  ['all', [[{ intent: 'U1' }], [{ intent: 'U2' }], [{ intent: 'U3' }], [{ intent: 'U4' }]]],
  ['U2>upscale_subtle', [[{ intent: 'U2' }, { intent: 'upscale_subtle' }]]],
  ['V1>U1', [[{ intent: 'V1' }, { intent: 'U1' }]]],
  [' u4 > zoom_custom=1.5 , reroll ', [[{ intent: 'U4' }, { intent: 'zoom_custom', zoom: 1.5 }], [{ intent: 'reroll' }]]],
  ['U1>pan_left>U2', [[{ intent: 'U1' }, { intent: 'pan_left' }, { intent: 'U2' }]]],
])('plan %j', (text, expected) => {
  expect(parsePlan(text)).toEqual(expected);
});

test.each([
  ['U5', 'unknown follow-up "U5"'],
  ['upscale_subtle', 'is a button of a single image'],
  ['U1>U2', 'is a button of a grid'],
  ['U1,,U2', 'empty step'],
  ['U1>vary_region', 'needs a mask'],
  ['U1>zoom_custom', 'zoom factor from 1 to 2'],
  ['U1>zoom_custom=3', 'zoom factor from 1 to 2'],
  ['U1>zoom_custom=1.5=2', 'zoom factor from 1 to 2'],
  ['U1=2', 'takes no value'],
  ['U1>upscale_subtle>pan_left', 'not offered after an HD upscale'],
])('bad plan %j: %s', (text, message) => {
  expect(() => parsePlan(text)).toThrow(message);
});

test('plans round-trip through their text and count their paid jobs', () => {
  const plan = parsePlan('U1, U2>upscale_creative, V3>U4>zoom_custom=1.8');
  expect(formatPlan(plan)).toBe('U1,U2>upscale_creative,V3>U4>zoom_custom=1.8');
  expect(planJobCount(plan)).toBe(6);
});
