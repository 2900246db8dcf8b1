// Which task failure reasons say the content was refused by moderation (Midjourney's, or the proxy's own banned-word
// check), so the row is a `banned` failure: paying for the same prompt again is a paid refusal and, on a real account,
// another strike against it. Pure and deterministic: the item workflow classifies a FAILURE task with it.
//
// A proxy puts Midjourney's refusal into `failReason` as it got it from Discord: the Java proxy and the Plus proxy as
// `[<embed title>] <embed description>` (novicezk/midjourney-proxy wss/handle/ErrorMessageHandler.java; the Plus
// docs/api.md example `[Invalid parameter] Invalid value`), the C# proxy as `<title>, <description>`
// (trueai-org/midjourney-proxy src/Midjourney.Services/DiscordWebSocketService.cs, errorTitles and `$"{title}, {desc}"`).
// Operators of the Plus proxy may translate reasons (`mj.error-desc`), so the Chinese forms its docs give count too.
// Sources of each pattern are next to it, and listed in docs/gateway-model.md.

/** One moderation wording, with where a real server sends it. */
export interface ModerationPattern {
  pattern: RegExp;
  /** Real strings it matches, exactly as the source has them. */
  examples: readonly string[];
  source: string;
}

export const MODERATION_FAILURE_PATTERNS: readonly ModerationPattern[] = [
  {
    // Midjourney's embed titles for a refused prompt.
    pattern: /\bbanned (?:image )?prompt\b/i,
    examples: ['Banned prompt detected', 'Banned prompt', 'Banned image prompt'],
    source:
      'trueai-org/midjourney-proxy src/Midjourney.Services/DiscordWebSocketService.cs (errorTitles) and ' +
      'src/Midjourney.Base/Models/TaskInfo.cs Fail; igolaizola/bulkai pkg/ai/midjourney/midjourney.go parseError',
  },
  {
    // Midjourney refused the finished image: "output filters" (C# proxy's error titles), "image filters" (Plus docs).
    pattern: /\brequest cancell?ed due to (?:output|image) filters\b/i,
    examples: ['Request cancelled due to output filters', 'Request cancelled due to image filters'],
    source:
      'trueai-org/midjourney-proxy src/Midjourney.Services/DiscordWebSocketService.cs (errorTitles); ' +
      'litter-coder/midjourney-proxy-plus docs/config.md (mj.error-desc example)',
  },
  {
    // Counted with "Banned prompt detected" by the C# proxy's banned-prompt limiter.
    pattern: /\bimage denied\b/i,
    examples: ['Image denied'],
    source: 'trueai-org/midjourney-proxy src/Midjourney.Base/Models/TaskInfo.cs Fail',
  },
  {
    // Midjourney's AI moderator: "Sorry! Our AI moderator thinks this prompt is probably against our community
    // standards." (its answer for banned_prompt_detected) and, on Discord, "Sorry! Our AI moderators feel your prompt
    // might be against our community standards." (the "Action needed to continue" appeal embed).
    pattern: /\bagainst our community standards\b/i,
    examples: [
      'Sorry! Our AI moderator thinks this prompt is probably against our community standards.',
      'Sorry! Our AI moderators feel your prompt might be against our community standards.',
    ],
    source:
      'trueai-org/midjourney-proxy src/Midjourney.Tests/ResTest.cs (the recorded answer); novicezk/midjourney-proxy ' +
      'issue #115 and yokonsan/midjourney-api issue #6 (the Discord embed); litter-coder/midjourney-proxy-plus docs/config.md',
  },
  {
    // The proxies' own banned-word check: the Java proxy's code 24 description, and the C# proxy's failReason when
    // its check (at execution, after accepting the submit) finds a banned word.
    pattern: /可能包含敏感词/,
    examples: ['可能包含敏感词'],
    source:
      'novicezk/midjourney-proxy src/main/java/com/github/novicezk/midjourney/controller/SubmitController.java; ' +
      'trueai-org/midjourney-proxy src/Midjourney.Services/DiscordService.cs (info.Fail)',
  },
  {
    // The Plus proxy's documented translations (mj.error-desc) of "against our community standards" and of
    // "Request cancelled due to image filters".
    pattern: /可能包含违规信息|图片可能违规/,
    examples: ['可能包含违规信息', '图片可能违规'],
    source: 'litter-coder/midjourney-proxy-plus docs/config.md (mj.error-desc example, commit e381c9f)',
  },
];

/**
 * True when a task's failure reason says moderation refused the content. Deliberately not matched: account states
 * (`Pending mod message`, `Blocked`, the C# limiter's submit refusal `账号已被临时封锁，请勿使用违规词作图`), which are
 * about the account rather than the row's prompt, and timeouts, parameter errors and cancellations.
 */
export function isModerationFailure(reason: string): boolean {
  return MODERATION_FAILURE_PATTERNS.some((p) => p.pattern.test(reason));
}
