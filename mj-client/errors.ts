// The one place that decides what a Midjourney-proxy answer means. Every layer (the proxy itself, a new-api style
// gateway, a CS reimplementation) is mapped onto the same few kinds, so callers branch on `kind`, never on codes.

/**
 * - `retryable`: nothing was created; trying again later can succeed (queue full, rate limit, 5xx, connect failure).
 * - `not-retryable`: the request itself is wrong or refused (validation, banned prompt, missing parent, auth).
 * - `ambiguous`: a submit may have reached the server and created a paid job (timeout or reset after sending).
 * - `not-found`: the task id is unknown to the server.
 * - `cancelled`: the caller's AbortSignal fired.
 */
export type MjErrorKind = 'retryable' | 'not-retryable' | 'ambiguous' | 'not-found' | 'cancelled';

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
  | 'no-account'
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

/** Business codes a submit can carry in a 2xx body, and what they mean. Codes 1, 21 and 22 are acceptances. */
export function classifySubmitCode(code: number, body: ParsedErrorBody): Pick<MjErrorDetails, 'kind' | 'reason' | 'bannedWord'> {
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
    case 4:
    case -1: // CS: 200 {success:false, code:-1, message} for a malformed request
      return { kind: 'not-retryable', reason: 'validation' };
    case 3:
      // Code 3 also means "no account instance available" (无可用的账号实例): a pool state, not a bad request.
      return /无可用的账号|no available account/i.test(body.description ?? '')
        ? { kind: 'retryable', reason: 'no-account' }
        : { kind: 'not-retryable', reason: 'parent-missing' };
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

/** Maps a non-2xx HTTP answer onto the taxonomy. */
export function classifyHttpStatus(status: number, text: string, retryAfterMs: number | undefined, ctx: HttpFailureContext): MjApiError {
  const body = parseErrorBody(text);
  const base = { endpoint: ctx.endpoint, httpStatus: status, code: body.code, description: body.description, retryAfterMs };
  if (status === 401) return new MjApiError({ ...base, kind: 'not-retryable', reason: 'unauthorized' });
  if (status === 403) return new MjApiError({ ...base, kind: 'not-retryable', reason: 'forbidden' });
  if (status === 429) return new MjApiError({ ...base, kind: 'retryable', reason: 'rate-limited' });
  if ((status === 404 || status === 400) && body.code === 3) return new MjApiError({ ...base, ...classifySubmitCode(3, body) });
  // A gateway's own check that the parent task exists (before /action or /modal).
  if (status === 400 && body.code === 4 && /task_not_found/.test(body.description ?? '')) return new MjApiError({ ...base, kind: 'not-retryable', reason: 'parent-missing' });
  if (status >= 500) {
    // A gateway timing out on its upstream (504) cannot say whether the upstream created the job.
    if (status === 504 && ctx.createsJob) return new MjApiError({ ...base, kind: 'ambiguous', reason: 'timeout' });
    return new MjApiError({ ...base, kind: 'retryable', reason: 'server-error' });
  }
  if (status === 400 && body.code === 5) {
    // Gateway code 5: the upstream call failed. `do_request_failed` means it never got there; an empty or
    // unreadable upstream answer means it did, so a submit may have been accepted.
    const reachedUpstream = /empty_response_body|unmarshal_response_body_failed/.test(body.description ?? '');
    return new MjApiError({ ...base, kind: reachedUpstream && ctx.createsJob ? 'ambiguous' : 'retryable', reason: 'upstream-error' });
  }
  if (status === 400 && body.code === 30) return new MjApiError({ ...base, kind: 'retryable', reason: 'rate-limited' });
  if (status === 400 && body.code === 24) {
    const word = body.properties?.bannedWord;
    return new MjApiError({ ...base, kind: 'not-retryable', reason: 'banned-prompt', bannedWord: typeof word === 'string' ? word : undefined });
  }
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
  return /task_no(t)?_found|task_not_exist|midjourney_task_not_found/i.test(`${body.description ?? ''} ${body.type ?? ''}`) && (body.code === 4 || body.code === undefined);
}

/** Network failures: what happened before the request was written is always safe to retry. */
export function classifyNetworkError(err: unknown, stage: RequestStage, ctx: HttpFailureContext): MjApiError {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  const description = code ? `${code}: ${message}` : message;
  if (stage === 'before-send') return new MjApiError({ endpoint: ctx.endpoint, kind: 'retryable', reason: 'network', description, cause: err });
  const reason = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'TIMEOUT' ? 'timeout' : 'connection-lost';
  return new MjApiError({ endpoint: ctx.endpoint, kind: ctx.createsJob ? 'ambiguous' : 'retryable', reason, description, cause: err });
}

/** Error codes raised before any byte of the request was written. */
export const BEFORE_SEND_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
