import { isModerationFailure, MODERATION_FAILURE_PATTERNS } from '../../contracts/moderation';

// The strings below are the real servers' own (sources in contracts/moderation.ts and docs/gateway-model.md), in the
// forms the proxies put them into failReason: Java/Plus `[<title>] <description>`, C# `<title>, <description>`.
const MODERATOR = 'Sorry! Our AI moderator thinks this prompt is probably against our community standards.';

describe('isModerationFailure: task failure reasons that say moderation refused the content', () => {
  test.each([
    // Midjourney's embed titles, bare and as each proxy relays them.
    'Banned prompt detected',
    'Banned prompt',
    'Banned image prompt',
    `[Banned prompt detected] ${MODERATOR}`,
    `Banned prompt detected, ${MODERATOR}`,
    'Request cancelled due to output filters',
    'Request cancelled due to image filters',
    'Image denied',
    // Midjourney's AI moderator, as its answer reads and as the Discord appeal embed reads (novicezk issue #115).
    MODERATOR,
    '[Action needed to continue] Sorry! Our AI moderators feel your prompt might be against our community standards. ' +
      'If you think this is a mistake, please press the "Appeal" button below and we will send it to a more ' +
      'sophisticated AI to double-check the result.',
    // Chinese: the proxies' banned-word check, and the Plus proxy's documented translations.
    '可能包含敏感词',
    '可能包含违规信息',
    '图片可能违规',
    // Case does not matter.
    'BANNED PROMPT DETECTED',
  ])('%s', (reason) => {
    expect(isModerationFailure(reason)).toBe(true);
  });
});

describe('isModerationFailure: other failures are not moderation', () => {
  test.each([
    '任务超时', // Java timeout (TaskTimeoutSchedule.java)
    '执行超时 5 分钟', // C# timeout
    '任务提交超时', // C# queued too long
    '上游任务超时（超过1小时）', // new-api's 1 h timeout
    '[Invalid parameter] Invalid value', // the Plus docs' example
    'Invalid parameter',
    '[Invalid parameter] The simulator failed this job on purpose',
    'Invalid link',
    '任务失败，请重试', // C# when fast credits run out
    '取消任务',
    '服务异常，请稍后重试',
    '实例不可用',
    '[Internal Server Error] connection reset',
    'Queue full',
    'Job queued',
    // Account states, not the row's prompt: the account is held or disabled, the row's content was not judged.
    'Pending mod message',
    'Blocked',
    'Subscription required',
    'task 1712345678901234 ended CANCEL',
    '',
  ])('%s', (reason) => {
    expect(isModerationFailure(reason)).toBe(false);
  });
});

test('every pattern matches each real string it names, and names a source', () => {
  expect(MODERATION_FAILURE_PATTERNS.length).toBeGreaterThanOrEqual(5);
  for (const p of MODERATION_FAILURE_PATTERNS) {
    expect(p.source).toMatch(/\//); // owner/repo path
    expect(p.examples.length).toBeGreaterThan(0);
    for (const example of p.examples) expect([example, p.pattern.test(example)]).toEqual([example, true]);
  }
});

test('the patterns are stateless: the same reason gives the same answer every time', () => {
  const reason = `[Banned prompt detected] ${MODERATOR}`;
  expect([1, 2, 3].map(() => isModerationFailure(reason))).toEqual([true, true, true]);
});
