import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { classifyHttpStatus, classifySubmitCode, isTaskNotFoundBody, MjApiError, parseErrorBody, parseRetryAfter } from './errors';
import { buildUrl, type Mode, type ModePrefixStyle, type ResolvedModePrefixStyle, type RouteOptions } from './routing';
import {
  imageSeedSchema,
  submitResultSchema,
  taskSchema,
  type ActionRequest,
  type BlendRequest,
  type DescribeRequest,
  type ImagineRequest,
  type ModalRequest,
  type MjTask,
  type ShortenRequest,
} from './schemas';
import { createDispatcher, send, type RawResponse } from './transport';

export interface MjClientOptions {
  /** The gateway or proxy root, e.g. `https://gw.example.com` (the client appends `[/mode]/mj/...`). */
  baseUrl: string;
  apiKey: string;
  /** `Authorization: Bearer <key>` (default) or `mj-api-secret: <key>`. */
  auth?: 'bearer' | 'mj-api-secret';
  /** Default speed mode for every call; unset leaves it to the account, the token or the prompt's flags. */
  mode?: Mode;
  /** How the mode goes into the path; default `auto` (see ModePrefixStyle). */
  modePrefix?: ModePrefixStyle;
  /** Per-call timeout (connect to last byte). Default 30 s. */
  timeoutMs?: number;
  dispatcher?: Dispatcher;
}

export interface CallOptions extends RouteOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A submit the server accepted: a task exists (and, for a paid action, is charged). */
export interface SubmitAccepted {
  taskId: string;
  /** Several ids where one submit created several tasks (e.g. PicReader "all"). */
  taskIds: string[];
  code: 1 | 21 | 22;
  /** Code 22: waiting behind `numberOfQueues` other tasks. */
  queued: boolean;
  numberOfQueues?: number;
  /** Code 21: the task is MODAL and waits for `/submit/modal`. */
  modal: boolean;
  description?: string;
  properties: Record<string, unknown>;
}

const taskListSchema = z.array(taskSchema);

/**
 * What a cancel call got back. `accepted`: the server answered 2xx on its cancel route, which proves little (C# Plus
 * answers 200 with an empty body whatever the task was): fetch the task to see whether it was cancelled. `no-route`:
 * the server has no cancel route (the Java proxy, new-api gateways), so nothing was cancelled.
 */
export type CancelAnswer =
  { outcome: 'accepted'; httpStatus: number; code?: number; description?: string } | { outcome: 'no-route'; httpStatus: number };

/** A 404 that names no task or code: the server has no route for the path (C# answers such a 404 with an empty body). */
function isNoRoute(raw: RawResponse): boolean {
  return raw.status === 404 && parseErrorBody(raw.text).code === undefined;
}

/**
 * A typed client for the Midjourney-proxy "Plus" API and the gateways that relay it. Every answer is validated;
 * every failure is an MjApiError whose `kind` says what a caller may do next.
 */
export class MjClient {
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  /** What `auto` sends now: `plain` until a server shows it has no such route, then `mj-dash`. */
  private autoStyle: ResolvedModePrefixStyle = 'plain';

  constructor(private readonly opts: MjClientOptions) {
    if (!/^https?:\/\//.test(opts.baseUrl)) throw new Error(`baseUrl must be an http(s) URL, got "${opts.baseUrl}"`);
    if (!opts.apiKey) throw new Error('apiKey is required');
    this.ownsDispatcher = !opts.dispatcher;
    // Connecting must give up before a call's own timeout would, so an unreachable host reads as "never sent".
    this.dispatcher =
      opts.dispatcher ?? createDispatcher({ connectTimeoutMs: Math.min(10_000, Math.max(100, (opts.timeoutMs ?? 30_000) / 2)) });
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  /** The mode URL style this client sends now (`auto` resolved to what the server took). */
  modeStyle(call?: Pick<RouteOptions, 'modePrefix'>): ResolvedModePrefixStyle {
    const style = call?.modePrefix ?? this.opts.modePrefix ?? 'auto';
    return style === 'auto' ? this.autoStyle : style;
  }

  submitImagine(req: ImagineRequest, call?: CallOptions): Promise<SubmitAccepted> {
    return this.submit('/submit/imagine', req, call);
  }

  submitBlend(req: BlendRequest, call?: CallOptions): Promise<SubmitAccepted> {
    return this.submit('/submit/blend', req, call);
  }

  submitDescribe(req: DescribeRequest, call?: CallOptions): Promise<SubmitAccepted> {
    return this.submit('/submit/describe', req, call);
  }

  submitShorten(req: ShortenRequest, call?: CallOptions): Promise<SubmitAccepted> {
    return this.submit('/submit/shorten', req, call);
  }

  /** Presses a button of a finished task by its `customId`. A MODAL answer (code 21 or status MODAL) needs `submitModal`. */
  submitAction(req: ActionRequest, call?: CallOptions): Promise<SubmitAccepted> {
    return this.submit('/submit/action', req, call);
  }

  submitModal(req: ModalRequest, call?: CallOptions): Promise<SubmitAccepted> {
    return this.submit('/submit/modal', req, call);
  }

  /** The task as the server sees it now. Unknown ids (empty 200, 204, 400 task_no_found) throw kind `not-found`. */
  async fetchTask(taskId: string, call?: CallOptions): Promise<MjTask> {
    const path = `/task/${encodeURIComponent(taskId)}/fetch`;
    const endpoint = `GET /mj${path}`;
    const raw = await this.request('GET', path, undefined, call, endpoint, false);
    this.throwIfTaskNotFound(raw, endpoint, taskId, true);
    this.throwUnlessOk(raw, endpoint, false);
    return this.parse(taskSchema, raw, endpoint, false);
  }

  /**
   * The latest tasks, newest first (C# TaskController.List: the newest 100 by submit time, each with its `state`), or
   * null where the server does not serve the list (a 404 or 405, or a gateway's web page or `Invalid URL` answer), so a
   * caller knows it cannot look a job up by its state there.
   */
  async listTasks(call?: CallOptions): Promise<MjTask[] | null> {
    const path = '/task/list';
    const endpoint = `GET /mj${path}`;
    const raw = await this.request('GET', path, undefined, call, endpoint, false);
    const ok = raw.status >= 200 && raw.status < 300;
    if (raw.status === 404 || raw.status === 405 || /Invalid URL/i.test(parseErrorBody(raw.text).description ?? '')) return null;
    // new-api's NoRoute serves its web UI with a 200 (router/web-router.go): not an answer of the API.
    if (ok && !/^\s*[[{]/.test(raw.text)) return null;
    this.throwUnlessOk(raw, endpoint, false);
    const tasks = this.parse(taskListSchema, raw, endpoint, false);
    return [...tasks].sort((a, b) => (b.submitTime ?? 0) - (a.submitTime ?? 0));
  }

  /**
   * Asks the server to cancel a task that has not finished (`POST /mj/task/{id}/cancel`, Plus proxies; see
   * docs/api-cancel.md). Creates nothing, so every failure is safe to retry; refusals (C#'s 400 for a non-admin key,
   * 401, 403) throw MjApiError like any other call.
   */
  async cancelTask(taskId: string, call?: CallOptions): Promise<CancelAnswer> {
    const path = `/task/${encodeURIComponent(taskId)}/cancel`;
    const endpoint = `POST /mj${path}`;
    const raw = await this.request('POST', path, undefined, call, endpoint, false);
    const ok = raw.status >= 200 && raw.status < 300;
    const body = parseErrorBody(raw.text);
    // A 404 naming no code or task, a 405, or `Invalid URL`: no such route. new-api's NoRoute serves its web UI
    // with a 200 (router/web-router.go), which is no answer of the API either.
    if (isNoRoute(raw) || raw.status === 405 || /Invalid URL/i.test(body.description ?? ''))
      return { outcome: 'no-route', httpStatus: raw.status };
    if (ok && raw.text.trim() && !/^\s*[[{"]/.test(raw.text)) return { outcome: 'no-route', httpStatus: raw.status };
    this.throwIfTaskNotFound(raw, endpoint, taskId, false);
    this.throwUnlessOk(raw, endpoint, false);
    return { outcome: 'accepted', httpStatus: raw.status, code: body.code, description: body.description };
  }

  /** Several tasks in one call; unknown ids are left out of the answer. */
  async listByCondition(ids: string[], call?: CallOptions): Promise<MjTask[]> {
    const path = '/task/list-by-condition';
    const endpoint = `POST /mj${path}`;
    const raw = await this.request('POST', path, { ids }, call, endpoint, false);
    this.throwUnlessOk(raw, endpoint, false);
    if (!raw.text.trim()) return [];
    return this.parse(taskListSchema, raw, endpoint, false);
  }

  /** The Midjourney seed of a finished task. */
  async imageSeed(taskId: string, call?: CallOptions): Promise<string> {
    const path = `/task/${encodeURIComponent(taskId)}/image-seed`;
    const endpoint = `GET /mj${path}`;
    const raw = await this.request('GET', path, undefined, call, endpoint, false);
    this.throwIfTaskNotFound(raw, endpoint, taskId, false);
    this.throwUnlessOk(raw, endpoint, false);
    const body = this.parse(imageSeedSchema, raw, endpoint, false);
    if (body.code !== 1 || !body.result) {
      const parsed = parseErrorBody(raw.text);
      throw new MjApiError({
        endpoint,
        httpStatus: raw.status,
        code: body.code,
        description: body.description ?? undefined,
        ...classifySubmitCode(body.code, parsed, { endpoint, createsJob: false }),
      });
    }
    return body.result;
  }

  private async submit(path: string, payload: object, call: CallOptions | undefined): Promise<SubmitAccepted> {
    const endpoint = `POST /mj${path}`;
    const raw = await this.request('POST', path, payload, call, endpoint, true);
    this.throwUnlessOk(raw, endpoint, true);
    // A 2xx we cannot read may still be an acceptance: the job may exist, so it is ambiguous, not retryable.
    const body = this.parse(submitResultSchema, raw, endpoint, true);
    const parsedBody = parseErrorBody(raw.text);
    const description = parsedBody.description;
    if (body.code === 1 || body.code === 21 || body.code === 22) {
      const ids =
        body.result === null || body.result === undefined
          ? []
          : Array.isArray(body.result)
            ? body.result
            : body.result
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean);
      if (ids.length === 0) {
        throw new MjApiError({
          endpoint,
          kind: 'ambiguous',
          reason: 'invalid-response',
          httpStatus: raw.status,
          code: body.code,
          description: `accepted without a task id: ${raw.text.slice(0, 200)}`,
        });
      }
      const properties = body.properties ?? {};
      const queues = Number(properties.numberOfQueues);
      return {
        taskId: ids[0]!,
        taskIds: ids,
        code: body.code,
        queued: body.code === 22,
        numberOfQueues: body.code === 22 && Number.isFinite(queues) ? queues : undefined,
        modal: body.code === 21,
        description,
        properties,
      };
    }
    const ctx = { endpoint, createsJob: true };
    throw new MjApiError({
      endpoint,
      httpStatus: raw.status,
      code: body.code,
      description,
      ...classifySubmitCode(body.code, { ...parsedBody, properties: body.properties ?? undefined }, ctx),
    });
  }

  private async request(
    method: 'GET' | 'POST',
    path: string,
    payload: object | undefined,
    call: CallOptions | undefined,
    endpoint: string,
    createsJob: boolean,
  ): Promise<RawResponse> {
    const mode = call?.mode ?? this.opts.mode;
    const auto = (call?.modePrefix ?? this.opts.modePrefix ?? 'auto') === 'auto';
    const style = this.modeStyle(call);
    const headers: Record<string, string> = { accept: 'application/json' };
    if ((this.opts.auth ?? 'bearer') === 'bearer') headers.authorization = `Bearer ${this.opts.apiKey}`;
    else headers['mj-api-secret'] = this.opts.apiKey;
    if (payload) headers['content-type'] = 'application/json';
    const exchange = (modePrefix: ResolvedModePrefixStyle) =>
      send(
        buildUrl(this.opts.baseUrl, path, { mode, modePrefix }),
        {
          method,
          headers,
          body: payload ? JSON.stringify(payload) : undefined,
          timeoutMs: call?.timeoutMs ?? this.opts.timeoutMs ?? 30_000,
          signal: call?.signal,
          dispatcher: this.dispatcher,
        },
        { endpoint, createsJob },
      );
    const raw = await exchange(style);
    // `auto`: /relax/mj/... is what the integration guide and new-api forward as it is; a C# Plus proxy routes only
    // /mj-relax/mj/... (SubmitController.cs) and answers the other with a bare 404, which created nothing.
    if (!auto || !mode || style !== 'plain' || !isNoRoute(raw)) return raw;
    this.autoStyle = 'mj-dash';
    return exchange('mj-dash');
  }

  /** "No such task" in each layer's words: 204 (CS), 400 task_no_found (gateway), and for fetch an empty 200 (Java). */
  private throwIfTaskNotFound(raw: RawResponse, endpoint: string, taskId: string, emptyOkMeansNotFound: boolean): void {
    const body = raw.text.trim();
    const emptyOk = emptyOkMeansNotFound && raw.status >= 200 && raw.status < 300 && (body === '' || body === 'null');
    if (raw.status === 204 || emptyOk || isTaskNotFoundBody(raw.status, raw.text)) {
      throw new MjApiError({
        endpoint,
        kind: 'not-found',
        reason: 'task-not-found',
        httpStatus: raw.status,
        description: `task ${taskId}`,
      });
    }
  }

  private throwUnlessOk(raw: RawResponse, endpoint: string, createsJob: boolean): void {
    if (raw.status >= 200 && raw.status < 300) return;
    throw classifyHttpStatus(raw.status, raw.text, parseRetryAfter(raw.headers['retry-after']), { endpoint, createsJob });
  }

  private parse<T extends z.ZodType>(schema: T, raw: RawResponse, endpoint: string, createsJob: boolean): z.output<T> {
    const fail = (why: string) =>
      new MjApiError({
        endpoint,
        kind: createsJob ? 'ambiguous' : 'retryable',
        reason: 'invalid-response',
        httpStatus: raw.status,
        description: `${why}; body: ${raw.text.slice(0, 200)}`,
      });
    let json: unknown;
    try {
      json = JSON.parse(raw.text);
    } catch {
      throw fail('not JSON');
    }
    const result = schema.safeParse(json);
    if (!result.success)
      throw fail(
        result.error.issues
          .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
          .slice(0, 5)
          .join('; '),
      );
    return result.data;
  }
}
