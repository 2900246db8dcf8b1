import {
  BUTTON_INTENTS,
  buildUrl,
  findButton,
  intentOf,
  isModal,
  isTerminal,
  MODAL_INTENTS,
  parseProgress,
  withModeFlag,
  type ButtonIntent,
} from '../../../mj-client';

test.each([
  ['0%', 0],
  ['15%', 15],
  ['100%', 100],
  ['', 0],
  [null, 0],
  [undefined, 0],
  [' 93 % ', 93],
  ['31.5%', 31],
  ['150%', 100],
  ['abc', 0],
  ['-5%', 0],
])('progress %j is %i', (input, expected) => {
  expect(parseProgress(input as string | null | undefined)).toBe(expected);
});

test('terminal states are SUCCESS, FAILURE and CANCEL', () => {
  expect(['SUCCESS', 'FAILURE', 'CANCEL'].map((status) => isTerminal({ status }))).toEqual([true, true, true]);
  expect(['NOT_START', 'SUBMITTED', 'IN_PROGRESS', 'MODAL', ''].map((status) => isTerminal({ status }))).toEqual([
    false,
    false,
    false,
    false,
    false,
  ]);
});

test('MODAL is code 21 at submit or status MODAL when fetched', () => {
  expect(isModal({ code: 21 })).toBe(true);
  expect(isModal({ code: 1 })).toBe(false);
  expect(isModal({ status: 'MODAL' })).toBe(true);
  expect(isModal({ status: 'SUBMITTED' })).toBe(false);
});

const hash = '3dbbd469-36af-4a0f-8f02-df6c579e7011';
// customIds exactly as the reference lists them (grid and single-image buttons, v5 and v7 upscales).
const examples: [string, ButtonIntent][] = [
  [`MJ::JOB::upsample::1::${hash}`, 'U1'],
  [`MJ::JOB::upsample::2::${hash}`, 'U2'],
  [`MJ::JOB::upsample::3::${hash}`, 'U3'],
  [`MJ::JOB::upsample::4::${hash}`, 'U4'],
  [`MJ::JOB::variation::1::${hash}`, 'V1'],
  [`MJ::JOB::variation::2::${hash}`, 'V2'],
  [`MJ::JOB::variation::3::${hash}`, 'V3'],
  [`MJ::JOB::variation::4::${hash}`, 'V4'],
  [`MJ::JOB::reroll::0::${hash}::SOLO`, 'reroll'],
  [`MJ::JOB::upsample_v7_2x_subtle::1::${hash}::SOLO`, 'upscale_subtle'],
  [`MJ::JOB::upsample_v6r1_2x_creative::1::${hash}::SOLO`, 'upscale_creative'],
  [`MJ::JOB::upsample_v6_2x_subtle::1::${hash}::SOLO`, 'upscale_subtle'],
  [`MJ::JOB::upsample_v5_2x::1::${hash}::SOLO`, 'upscale_2x'],
  [`MJ::JOB::upsample_v5_4x::1::${hash}::SOLO`, 'upscale_4x'],
  [`MJ::JOB::low_variation::1::${hash}::SOLO`, 'vary_subtle'],
  [`MJ::JOB::high_variation::1::${hash}::SOLO`, 'vary_strong'],
  [`MJ::Inpaint::1::${hash}::SOLO`, 'vary_region'],
  [`MJ::Outpaint::50::1::${hash}::SOLO`, 'zoom_2x'],
  [`MJ::Outpaint::75::1::${hash}::SOLO`, 'zoom_1.5x'],
  [`MJ::CustomZoom::${hash}`, 'zoom_custom'],
  [`MJ::CustomZoom::1::${hash}`, 'zoom_custom'],
  [`MJ::JOB::pan_left::1::${hash}::SOLO`, 'pan_left'],
  [`MJ::JOB::pan_right::1::${hash}::SOLO`, 'pan_right'],
  [`MJ::JOB::pan_up::1::${hash}::SOLO`, 'pan_up'],
  [`MJ::JOB::pan_down::1::${hash}::SOLO`, 'pan_down'],
];

test.each(examples)('%s does %s', (customId, intent) => {
  expect(intentOf(customId)).toBe(intent);
});

test('every intent is recognised from at least one real customId', () => {
  expect(new Set(examples.map(([, i]) => i))).toEqual(new Set(BUTTON_INTENTS));
});

test('buttons that are not follow-ups are not mistaken for one', () => {
  expect(intentOf(`MJ::BOOKMARK::${hash}`)).toBeUndefined();
  expect(intentOf('MJ::Job::PicReader::1')).toBeUndefined();
  expect(intentOf(`MJ::JOB::animate_high::1::${hash}::SOLO`)).toBeUndefined();
});

test('findButton picks the button by what it does', () => {
  const task = { buttons: examples.map(([customId], i) => ({ customId, emoji: '', label: `b${i}`, type: 2, style: 2 })) };
  expect(findButton({ buttons: task.buttons.filter((b) => intentOf(b.customId) !== 'U3') }, 'U3')).toBeUndefined();
  expect(findButton(task, 'U3')?.customId).toBe(`MJ::JOB::upsample::3::${hash}`);
  expect(findButton(task, 'zoom_1.5x')?.customId).toBe(`MJ::Outpaint::75::1::${hash}::SOLO`);
  expect(findButton({ buttons: null }, 'U1')).toBeUndefined();
  expect([...MODAL_INTENTS].sort()).toEqual(['vary_region', 'zoom_custom']);
});

test('URLs join the base, the mode prefix and /mj', () => {
  expect(buildUrl('https://gw.example/', '/submit/imagine', {})).toBe('https://gw.example/mj/submit/imagine');
  expect(buildUrl('https://gw.example/api', '/task/1/fetch', { mode: 'relax' })).toBe('https://gw.example/api/relax/mj/task/1/fetch');
  expect(buildUrl('https://gw.example', '/submit/imagine', { mode: 'relax', modePrefix: 'mj-dash' })).toBe(
    'https://gw.example/mj-relax/mj/submit/imagine',
  );
  expect(buildUrl('https://gw.example', '/submit/imagine', { mode: 'fast', modePrefix: 'plain' })).toBe(
    'https://gw.example/fast/mj/submit/imagine',
  );
  expect(buildUrl('https://gw.example', '/submit/imagine', { mode: 'turbo', modePrefix: 'none' })).toBe(
    'https://gw.example/mj/submit/imagine',
  );
});

test("a row's mode rides in the prompt as a flag, unless the prompt already names a mode", () => {
  expect(withModeFlag('a vase --ar 3:2', 'relax')).toBe('a vase --ar 3:2 --relax');
  expect(withModeFlag('a vase --fast', 'relax')).toBe('a vase --fast');
  expect(withModeFlag('a vase --TURBO --ar 1:1', 'fast')).toBe('a vase --TURBO --ar 1:1');
  expect(withModeFlag('a vase', undefined)).toBe('a vase');
  // A word that merely starts like a flag is not one.
  expect(withModeFlag('a vase--relaxed', 'turbo')).toBe('a vase--relaxed --turbo');
});
