// The one place that decides what a Midjourney-proxy answer means. Every layer (the proxy itself, a new-api style
// gateway, a CS reimplementation) is mapped onto the same few kinds, so callers branch on `kind`, never on codes.

/**
 * - `retryable`: nothing was created; trying again later can succeed (queue full, rate limit, 5xx, connect failure,
 *   a parent the gateway does not see finished yet).
 * - `not-retryable`: the request itself is wrong or refused (validation, banned prompt, missing parent).
 * - `account`: the account cannot take jobs now (quota exhausted, key invalid or expired, forbidden, no account
 *   available); nothing was created by this request; the same request can succeed once the account recovers.
 * - `ambiguous`: a submit may have reached the upstream and created a paid job: nothing in the answer proves it did
 *   not (a timeout or reset after sending, a gateway's code 5 or `accepted_state_unknown`, a 502/504).
 * - `not-found`: the task id is unknown to the server.
 * - `cancelled`: the caller's AbortSignal fired.
 */
export type MjErrorKind = 'retryable' | 'not-retryable' | 'account' | 'ambiguous' | 'not-found' | 'cancelled';

export type MjErrorReason =
  | 'queue-full'
  | 'system-error'
  | 'rate-limited'
  | 'server-error'
  | 'upstream-error'
  | 'network'
  | 'timeout'
  | 'connection-lost'
  | 'validation'
  | 'banned-prompt'
  | 'parent-missing'
  | 'parent-not-ready'
  | 'no-account'
  | 'quota-exhausted'
  | 'unauthorized'
  | 'forbidden'
  | 'task-not-found'
  | 'invalid-response'
  | 'unexpected-code'
  | 'http-error'
  | 'cancelled';

export interface MjErrorDetails {
  kind: MjErrorKind;
  reason: MjErrorReason;
  /** `POST /mj/submit/imagine`, `GET /mj/task/{id}/fetch`, ... */
  endpoint: string;
  httpStatus?: number;
  /** The proxy's business code (4, 9, 23, 24, ...), when the body had one. */
  code?: number;
  /** The server's own words: the body's description or message, or its text. */
  description?: string;
  bannedWord?: string;
  /** From Retry-After, when the server sent one. */
  retryAfterMs?: number;
  cause?: unknown;
}

export class MjApiError extends Error {
  readonly kind: MjErrorKind;
  readonly reason: MjErrorReason;
  readonly endpoint: string;
  readonly httpStatus?: number;
  readonly code?: number;
  readonly description?: string;
  readonly bannedWord?: string;
  readonly retryAfterMs?: number;

  constructor(details: MjErrorDetails) {
    super(describe(details), details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'MjApiError';
    this.kind = details.kind;
    this.reason = details.reason;
    this.endpoint = details.endpoint;
    this.httpStatus = details.httpStatus;
    this.code = details.code;
    this.description = details.description;
    this.bannedWord = details.bannedWord;
    this.retryAfterMs = details.retryAfterMs;
  }

  get retryable(): boolean {
    return this.kind === 'retryable';
  }
}

function describe(d: MjErrorDetails): string {
  const parts = [`${d.endpoint}: ${d.reason}`];
  if (d.httpStatus !== undefined) parts.push(`HTTP ${d.httpStatus}`);
  if (d.code !== undefined) parts.push(`code ${d.code}`);
  if (d.bannedWord) parts.push(`banned word "${d.bannedWord}"`);
  if (d.description) parts.push(`"${d.description.slice(0, 300)}"`);
  return `${parts.join(', ')} (${d.kind})`;
}

/** What an error body said, whichever of the three shapes it came in. */
export interface ParsedErrorBody {
  code?: number;
  description?: string;
  type?: string;
  properties?: Record<string, unknown>;
}

/**
 * Reads the three error body shapes: the MJ shape `{code, description, type}` (also CS's `{success:false, code,
 * message}`), the gateway envelope `{error: {message, type, code}}`, and plain text (or an empty body).
 */
export function parseErrorBody(text: string): ParsedErrorBody {
  const trimmed = text.trim();
  if (!trimmed) return {};
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    return { description: trimmed.slice(0, 500) };
  }
  // ASP.NET writes a bare string result as a JSON string (C# `BadRequest("...")` with Accept: application/json).
  if (typeof json === 'string') return json ? { description: json.slice(0, 500) } : {};
  if (!json || typeof json !== 'object' || Array.isArray(json)) return { description: trimmed.slice(0, 500) };
  const obj = json as Record<string, unknown>;
  const envelope = obj.error;
  if (envelope && typeof envelope === 'object' && !Array.isArray(envelope)) {
    const e = envelope as Record<string, unknown>;
    return { description: asString(e.message), type: asString(e.type), code: asCode(e.code) };
  }
  if (typeof envelope === 'string') return { description: envelope };
  return {
    code: asCode(obj.code),
    description: asString(obj.description) ?? asString(obj.message) ?? asString(obj.error),
    type: asString(obj.type),
    properties: obj.properties && typeof obj.properties === 'object' ? (obj.properties as Record<string, unknown>) : undefined,
  };
}

function asString(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function asCode(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v);
  return undefined;
}

// Newer new-api builds, for an accepted submit whose outcome they lost (QuantumNous MJ relay handler; code 4, HTTP 400).
const ACCEPTED_STATE_UNKNOWN = /^\s*accepted_state_unknown/i;
// The code 5 answers new-api gives before anything went upstream (service/midjourney.go DoMidjourneyHttpRequest).
const NOT_SENT_UPSTREAM = /^\s*(read_request_body_failed|marshal_request_body_failed|create_request_failed)\b/;
// Proxy code 3 无可用的账号实例 (J/CS), 账号不可用 (CS), and a gateway's 503 当前分组 ... 无可用渠道 (new-api Distribute).
const NO_ACCOUNT = /无可用的账号|无可用渠道|账号不可用|no available (account|channel)/i;
// Gateway code 4 quota_not_enough (relay/relay-mj.go) and the 401 该令牌额度已用尽 for a spent token (model/token.go).
const QUOTA_EXHAUSTED = /quota_not_enough|额度已用尽/i;
// Gateway: its own record of the parent is not SUCCESS yet (relay/relay-mj.go, MjActionCheckSuccessEnabled).
const PARENT_NOT_READY = /task_status_not_success/;
// Plus (C# SubmitController.Action): the parent is not SUCCESS. On /modal the same words mean "not a MODAL task".
const PLUS_PARENT_NOT_READY = /关联任务状态错误/;
// C# Plus: a call only an admin key may make, such as cancelling a task (TaskController.cs, 400 演示模式，禁止操作).
const ADMIN_ONLY = /演示模式，禁止操作/;
// Codes that name what happened more precisely than the HTTP status they arrive with.
const MJ_CODES = new Set([3, 4, 5, 9, 23, 24, 30]);

/** What the classification needs to know about the call: only submits create jobs; the endpoint tells an action. */
export type ClassifyContext = Partial<HttpFailureContext>;

/** Business codes in an MJ-shaped body (2xx, or an error status), and what they mean. Codes 1, 21 and 22 are acceptances. */
export function classifySubmitCode(
  code: number,
  body: ParsedErrorBody,
  ctx: ClassifyContext = {},
): Pick<MjErrorDetails, 'kind' | 'reason' | 'bannedWord'> {
  const description = body.description ?? '';
  if (ACCEPTED_STATE_UNKNOWN.test(description)) return { kind: ctx.createsJob ? 'ambiguous' : 'retryable', reason: 'upstream-error' };
  switch (code) {
    case 9:
      // The Java proxy's system failure; CS also answers 9 for a full queue. Nothing was queued either way.
      return { kind: 'retryable', reason: /队列已满|queue/i.test(body.description ?? '') ? 'queue-full' : 'system-error' };
    case 23:
      return { kind: 'retryable', reason: 'queue-full' };
    case 30:
      return { kind: 'retryable', reason: 'rate-limited' };
    case 24: {
      const word = body.properties?.bannedWord;
      return { kind: 'not-retryable', reason: 'banned-prompt', bannedWord: typeof word === 'string' ? word : undefined };
    }
    case 5:
      // A gateway's upstream call failed. do_request_failed stands for any client.Do error, including new-api's 60 s
      // timeout after the upstream accepted; only the pre-send failures prove that nothing was created.
      return { kind: ctx.createsJob && !NOT_SENT_UPSTREAM.test(description) ? 'ambiguous' : 'retryable', reason: 'upstream-error' };
    case 4:
      if (QUOTA_EXHAUSTED.test(description)) return { kind: 'account', reason: 'quota-exhausted' };
      if (PARENT_NOT_READY.test(description) || (PLUS_PARENT_NOT_READY.test(description) && ctx.endpoint?.endsWith('/submit/action'))) {
        return { kind: 'retryable', reason: 'parent-not-ready' };
      }
      // The gateway's own check that the parent task exists (before /action or /modal).
      if (/task_not_found/.test(description)) return { kind: 'not-retryable', reason: 'parent-missing' };
      return { kind: 'not-retryable', reason: 'validation' };
    case -1: // CS: 200 {success:false, code:-1, message} for a malformed request
      return { kind: 'not-retryable', reason: 'validation' };
    case 3:
      // Code 3 also means "no account instance available" (无可用的账号实例): a pool state, not a bad request.
      return NO_ACCOUNT.test(description) ? { kind: 'account', reason: 'no-account' } : { kind: 'not-retryable', reason: 'parent-missing' };
    default:
      return { kind: 'not-retryable', reason: 'unexpected-code' };
  }
}

/** Where the request was when it failed: only what happens after sending can have created a job. */
export type RequestStage = 'before-send' | 'after-send';

export interface HttpFailureContext {
  endpoint: string;
  /** Submits create paid jobs; reads (fetch, list-by-condition, image-seed) are safe to repeat. */
  createsJob: boolean;
}

/** Maps a non-2xx HTTP answer onto the taxonomy: the body's words first, then its MJ code, then the status. */
export function classifyHttpStatus(status: number, text: string, retryAfterMs: number | undefined, ctx: HttpFailureContext): MjApiError {
  const body = parseErrorBody(text);
  const base = { endpoint: ctx.endpoint, httpStatus: status, code: body.code, description: body.description, retryAfterMs };
  const description = body.description ?? '';
  if (status === 401 || status === 403) {
    return new MjApiError({
      ...base,
      kind: 'account',
      reason: QUOTA_EXHAUSTED.test(description) ? 'quota-exhausted' : status === 401 ? 'unauthorized' : 'forbidden',
    });
  }
  // Newer gateways map business codes onto 429/400/503/502 (QuantumNous MJ relay handler); older ones answer their
  // own checks with 400. Either way the code, not the status, says what happened.
  if (ACCEPTED_STATE_UNKNOWN.test(description) || (body.code !== undefined && MJ_CODES.has(body.code))) {
    return new MjApiError({ ...base, ...classifySubmitCode(body.code ?? 4, body, ctx) });
  }
  if (status === 429) return new MjApiError({ ...base, kind: 'retryable', reason: 'rate-limited' });
  if (status === 400 && ADMIN_ONLY.test(description)) return new MjApiError({ ...base, kind: 'not-retryable', reason: 'forbidden' });
  if (status === 503 && NO_ACCOUNT.test(description)) return new MjApiError({ ...base, kind: 'account', reason: 'no-account' });
  if (status === 502 || status === 504) {
    // A gateway that lost its upstream (502) or timed out on it (504) cannot say whether the job was created.
    return new MjApiError({
      ...base,
      ...(ctx.createsJob
        ? { kind: 'ambiguous', reason: status === 504 ? 'timeout' : 'upstream-error' }
        : { kind: 'retryable', reason: 'server-error' }),
    });
  }
  if (status >= 500) return new MjApiError({ ...base, kind: 'retryable', reason: 'server-error' });
  if (status === 400 || status === 404 || status === 405 || status === 413 || status === 422) {
    return new MjApiError({ ...base, kind: 'not-retryable', reason: 'validation' });
  }
  if (status === 408) return new MjApiError({ ...base, kind: ctx.createsJob ? 'ambiguous' : 'retryable', reason: 'timeout' });
  return new MjApiError({ ...base, kind: 'not-retryable', reason: 'http-error' });
}

/** True for a task fetch answer that means "no such task": gateway 400 with code 4 task_no_found. */
export function isTaskNotFoundBody(status: number, text: string): boolean {
  if (status !== 400 && status !== 404) return false;
  const body = parseErrorBody(text);
  return (
    /task_no(t)?_found|task_not_exist|midjourney_task_not_found/i.test(`${body.description ?? ''} ${body.type ?? ''}`) &&
    (body.code === 4 || body.code === undefined)
  );
}

/** Network failures: what happened before the request was written is always safe to retry. */
export function classifyNetworkError(err: unknown, stage: RequestStage, ctx: HttpFailureContext): MjApiError {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  const description = code ? `${code}: ${message}` : message;
  if (stage === 'before-send')
    return new MjApiError({ endpoint: ctx.endpoint, kind: 'retryable', reason: 'network', description, cause: err });
  const reason =
    code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'TIMEOUT' ? 'timeout' : 'connection-lost';
  return new MjApiError({ endpoint: ctx.endpoint, kind: ctx.createsJob ? 'ambiguous' : 'retryable', reason, description, cause: err });
}

/** Error codes raised before any byte of the request was written. */
export const BEFORE_SEND_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
