import { Agent, request, type Dispatcher } from 'undici';
import { BEFORE_SEND_CODES, classifyNetworkError, MjApiError, type HttpFailureContext } from './errors';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface SendOptions {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  dispatcher: Dispatcher;
}

/** API answers are small JSON documents; anything larger is not one. */
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export function createDispatcher(opts: { connectTimeoutMs?: number } = {}): Agent {
  return new Agent({
    connect: { timeout: opts.connectTimeoutMs ?? 10_000 },
    keepAliveTimeout: 10_000,
    maxResponseSize: MAX_RESPONSE_BYTES,
  });
}

/**
 * One HTTP exchange. Failures come back as MjApiError with the stage they happened in, so a submit that may have
 * reached the server is reported as ambiguous, never as safely retryable.
 */
export async function send(url: string, opts: SendOptions, ctx: HttpFailureContext): Promise<RawResponse> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  try {
    const res = await request(url, {
      method: opts.method,
      headers: opts.headers,
      body: opts.body,
      signal,
      dispatcher: opts.dispatcher,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  } catch (err) {
    if (opts.signal?.aborted) {
      // A submit cancelled by its caller may already have reached the server: the job may exist and be paid for.
      const kind = ctx.createsJob ? 'ambiguous' : 'cancelled';
      throw new MjApiError({ endpoint: ctx.endpoint, kind, reason: 'cancelled', description: 'aborted by the caller', cause: err });
    }
    if (timeout.aborted)
      throw classifyNetworkError(Object.assign(new Error(`no answer within ${opts.timeoutMs} ms`), { code: 'TIMEOUT' }), 'after-send', ctx);
    const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
    throw classifyNetworkError(err, code && BEFORE_SEND_CODES.has(code) ? 'before-send' : 'after-send', ctx);
  }
}
