import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Engine,
  Refusal,
  aspectOf,
  directivesOf,
  gatewayActionOf,
  type ImageSpec,
  type SimJob,
  type SimMode,
  type SubmitAnswer,
} from './engine';
import { corrupt, renderGrid, renderOversized, renderPreview, renderTile, renderUpscale, truncate } from './images';
import {
  DEFAULT_GATEWAY,
  NO_FAULTS,
  simulatorOptions,
  type Faults,
  type GatewayBehaviour,
  type SimulatorOptions,
  type SimulatorSettings,
} from './options';
import { SeededRandom } from './random';
import { gatewayView, plusView, type PlusView } from './views';

// C# Plus registers its controllers under mj/, mj-fast/mj/, mj-relax/mj/ and mj-turbo/mj/ only (SubmitController.cs,
// TaskController.cs); SimpleAuthMiddleware reads the mode from that prefix. Any other path is no route: 404, empty body.
const PLUS_MODE_PREFIX = /^\/mj-(fast|relax|turbo)(?=\/mj\/)/;
// The /relax/mj/... style, which new-api forwards as it is.
const PLAIN_MODE_SEGMENT = /^(fast|relax|turbo)$/;
// new-api's MJ routes, registered under /mj and /:mode/mj (router/relay-router.go); others fall to gin's NoRoute.
// There is no cancel route in either line (QuantumNous and Calcium-Ion registerMjRouterGroup): POST
// /mj/task/{id}/cancel gets the web UI like any unknown path, and nothing reaches the upstream (docs/api-cancel.md).
const GATEWAY_ROUTES: [string, RegExp][] = [
  ['POST', /^\/mj\/submit\/(action|shorten|modal|imagine|change|simple-change|describe|blend|upload-discord-images|edits|video)$/],
  ['GET', /^\/mj\/task\/[^/]+\/(fetch|image-seed)$/],
  ['POST', /^\/mj\/task\/list-by-condition$/],
  ['POST', /^\/mj\/insight-face\/swap$/],
  ['GET', /^\/mj\/image\/[^/]+$/],
];
// Go's net/http sniffs a body written without a Content-Type, so relayed JSON reads as text/plain (relay/relay-mj.go).
const SNIFFED_JSON = { 'content-type': 'text/plain; charset=utf-8' };
// What new-api sets itself on task views (RelayMidjourneyTask) and, in newer builds, on relayed submit answers.
const SET_JSON = { 'content-type': 'application/json' };
const DATA_URL = /^data:image\/(png|jpe?g|webp|gif);base64,[A-Za-z0-9+/=\s]+$/;
const MAX_BODY_BYTES = 64 * 1024 * 1024;

class HttpReply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

/** Where a request goes: the path after any mode prefix, and what the server makes of that prefix. */
interface Route {
  path: string;
  pathMode?: SimMode;
  /** Gateway: a `/mj-...` prefix was cut before forwarding, so the mode never reaches the upstream. */
  modeStripped?: boolean;
  /** Gateway: the upstream has no route for the path the gateway forwards (a C# Plus behind `/relax/mj/...`). */
  upstreamNoRoute?: boolean;
}

const GATEWAY_COUNTERS = {
  lostAnswers: 0,
  quotaRefusals: 0,
  quotaRefunds: 0,
  tokenGateRefusals: 0,
  hooksForwarded: 0,
  hooksDropped: 0,
  modePrefixesStripped: 0,
  upstreamNoRoute: 0,
  parentNotReady: 0,
  tasksTimedOut: 0,
};

export interface RunningSimulator {
  url: string;
  port: number;
  options: SimulatorOptions;
  engine: Engine;
  close(): Promise<void>;
}

/** Renders each distinct image once and keeps recent ones (bounded by bytes). */
class ImageCache {
  private readonly entries = new Map<string, Promise<Buffer>>();
  private sizes = new Map<string, number>();
  private total = 0;

  constructor(private readonly maxBytes = 512 * 1024 * 1024) {}

  get(key: string, render: () => Promise<Buffer>): Promise<Buffer> {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const p: Promise<Buffer> = render().then((buf) => {
      if (this.entries.get(key) !== p) return buf; // evicted while rendering: never counted
      this.sizes.set(key, buf.length);
      this.total += buf.length;
      for (const [k] of this.entries) {
        if (this.total <= this.maxBytes || k === key) break;
        this.total -= this.sizes.get(k) ?? 0;
        this.sizes.delete(k);
        this.entries.delete(k);
      }
      return buf;
    });
    p.catch(() => this.entries.delete(key));
    this.entries.set(key, p);
    return p;
  }
}

/** Starts the simulator on host:port (port 0 picks a free one). */
export async function startSimulator(partial: SimulatorSettings = {}): Promise<RunningSimulator> {
  const options = simulatorOptions(partial);
  const faults: Faults = { ...NO_FAULTS, ...options.faults };
  options.faults = faults;
  const secret = createHash('sha256').update(`url-signing:${options.seed}`).digest();
  const requestRng = new SeededRandom(`${options.seed}:requests`);
  let publicUrl = options.publicUrl ?? '';
  const images = new ImageCache();
  const requestCounts: Record<string, number> = {};
  const injected = { http5xx: 0, rate429: 0, resetAfterSubmit: 0 };
  const callbacks = { sent: 0, failed: 0 };
  const gatewaySnapshots = new Map<string, PlusView>();
  const notifyChains = new Map<string, Promise<void>>();
  const gateway = options.profile === 'gateway';
  const gatewayBehaviour: GatewayBehaviour = { ...DEFAULT_GATEWAY, ...options.gateway };
  options.gateway = gatewayBehaviour;
  const gatewayCounters = { ...GATEWAY_COUNTERS };
  // Jobs the upstream accepted but the gateway never recorded (its answer was lost), and jobs the gateway charged.
  const gatewayLost = new Set<string>();
  const gatewayCharged = new Set<string>();
  let inFlight = 0;
  const serverAddress = () => gatewayBehaviour.serverAddress ?? publicUrl;

  const sign = (path: string, expires: number) => createHmac('sha256', secret).update(`${path}:${expires}`).digest('hex').slice(0, 32);
  const imageUrl = (job: SimJob, file: string) => {
    const path = `/_sim/images/${job.id}/${file}`;
    // `[sim:expired-url]` hands out a URL that has already expired, as a CDN link past its lifetime does.
    const ttl = directivesOf(job.prompt).has('expired-url') ? -60_000 : options.imageUrlTtlMs;
    const ex = (Date.now() + ttl).toString(16);
    return `${publicUrl}${path}?ex=${ex}&is=${Date.now().toString(16)}&hm=${sign(path, parseInt(ex, 16))}`;
  };
  const engine = new Engine(options, imageUrl, describePrompts);

  // notifyHook: the whole task, POSTed on every change, one at a time per task so they arrive in order.
  engine.onChange((job) => {
    if (!job.notifyHook) return;
    const body = JSON.stringify(plusView(job));
    const hook = job.notifyHook;
    const previous = notifyChains.get(job.id) ?? Promise.resolve();
    const next = previous.then(async () => {
      try {
        const res = await fetch(hook, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(5_000),
        });
        await res.arrayBuffer();
        if (res.ok) callbacks.sent++;
        else callbacks.failed++;
      } catch {
        callbacks.failed++;
      }
    });
    notifyChains.set(job.id, next);
    if (job.status === 'SUCCESS' || job.status === 'FAILURE')
      void next.then(() => notifyChains.get(job.id) === next && notifyChains.delete(job.id));
  });

  // The gateway profile refreshes its copy of each unfinished task only when it polls its upstream.
  const poller = gateway
    ? setInterval(
        () => {
          for (const job of engine.jobs.values()) {
            if (gatewayLost.has(job.id)) continue;
            const snap = gatewaySnapshots.get(job.id);
            if (snap && (snap.status === 'SUCCESS' || snap.status === 'FAILURE')) continue;
            const next = structuredClone(plusView(job));
            // controller/midjourney.go UpdateMidjourneyTaskBulk: a task the gateway still holds unfinished an hour after
            // its submit is marked FAILURE, whatever the upstream says now.
            if (options.gatewayTaskTimeoutMs > 0 && Date.now() - job.submitTime > options.gatewayTaskTimeoutMs) {
              Object.assign(next, { status: 'FAILURE', failReason: '上游任务超时（超过1小时）' });
              gatewayCounters.tasksTimedOut++;
            }
            // Same place: a failed task gives its quota back.
            if (next.status === 'FAILURE' && gatewayCharged.delete(job.id) && gatewayBehaviour.quota !== null) {
              gatewayBehaviour.quota++;
              gatewayCounters.quotaRefunds++;
            }
            gatewaySnapshots.set(job.id, next);
          }
        },
        Math.max(5, options.gatewayPollMs),
      )
    : undefined;

  /** The job as this server knows it: a gateway knows only the tasks it recorded. */
  const knownJob = (id: string) => (gateway && gatewayLost.has(id) ? undefined : engine.jobs.get(id));
  const taskView = (job: SimJob) =>
    gateway ? gatewayView(job, gatewaySnapshots.get(job.id), serverAddress(), job.submitTime) : plusView(job);

  function renderImage(spec: ImageSpec, file: string): Promise<Buffer> {
    if (file.endsWith('.webp')) return images.get(`preview:${spec.key}:${spec.aspect}`, () => renderPreview(spec.key, spec.aspect));
    switch (spec.kind) {
      case 'grid':
        return images.get(`grid:${spec.key}:${spec.aspect}`, () => renderGrid(spec.key, spec.aspect));
      case 'tile':
        return images.get(`tile:${spec.key}:${spec.aspect}:${spec.index}`, () => renderTile(spec.key, spec.aspect, spec.index));
      case 'upscale':
        return images.get(`up:${spec.key}:${spec.aspect}:${spec.index}:${spec.factor}`, () =>
          renderUpscale(spec.key, spec.aspect, spec.index, spec.factor),
        );
    }
  }

  async function imageBytes(job: SimJob, file: string): Promise<{ bytes: Buffer; type: string }> {
    const preview = file.endsWith('.webp');
    let bytes = await renderImage(job.image!, file);
    if (!preview && job.plan.imageFault === 'corrupt') bytes = corrupt(bytes);
    if (!preview && job.plan.imageFault === 'truncated') bytes = truncate(bytes);
    if (!preview && job.plan.imageFault === 'oversized') bytes = await images.get('oversized', () => renderOversized());
    return { bytes, type: preview ? 'image/webp' : 'image/png' };
  }

  /** Sends image bytes, throttled when the slow-download fault is on. */
  async function sendImage(res: http.ServerResponse, bytes: Buffer, type: string): Promise<void> {
    res.writeHead(200, { 'content-type': type, 'content-length': String(bytes.length), 'cache-control': 'no-store' });
    const rate = faults.slowImageBytesPerSec;
    if (!rate) return void res.end(bytes);
    const chunk = Math.max(1024, Math.floor(rate / 10));
    for (let i = 0; i < bytes.length && !res.destroyed; i += chunk) {
      res.write(bytes.subarray(i, i + chunk));
      await new Promise((r) => setTimeout(r, 100));
    }
    res.end();
  }

  function signedImage(url: URL): { job: SimJob; file: string } | HttpReply {
    const m = /^\/_sim\/images\/(\d+)\/([\w.-]+)$/.exec(url.pathname);
    const job = m ? engine.jobs.get(m[1]!) : undefined;
    if (!m || !job?.image) return new HttpReply(404, 'Not Found');
    const ex = parseInt(url.searchParams.get('ex') ?? '', 16);
    const hm = url.searchParams.get('hm') ?? '';
    const expected = sign(url.pathname, ex);
    if (!Number.isFinite(ex) || hm.length !== expected.length || !timingSafeEqual(Buffer.from(hm), Buffer.from(expected)))
      return new HttpReply(403, 'This content is no longer available.');
    if (Date.now() > ex) return new HttpReply(403, 'This content is no longer available.');
    return { job, file: m[2]! };
  }

  function authorized(req: http.IncomingMessage): boolean {
    const auth = req.headers.authorization;
    const fromBearer = auth && auth !== 'midjourney-proxy' ? auth.replace(/^Bearer\s+/i, '') : undefined;
    const key = fromBearer || (req.headers['mj-api-secret'] as string | undefined)?.replace(/^Bearer\s+/i, '');
    return key === options.apiKey;
  }

  const requestId = () => `${Date.now()}${requestRng.int(100000, 999999)}`;
  const newGateway = () => gatewayBehaviour.errorStyle === 'new';

  // new-api middleware/auth.go: the envelope has no `code` in the April 2025 build, an empty one in newer builds.
  const tokenRefused = (why: string) =>
    new HttpReply(401, {
      error: { message: `${why} (request id: ${requestId()})`, type: 'new_api_error', ...(newGateway() ? { code: '' } : {}) },
    });
  const unauthorized = () => (gateway ? tokenRefused('无效的令牌') : new HttpReply(401, 'Authorization header missing.'));
  // A gateway relays an upstream 429 with an empty body and no upstream headers: DoMidjourneyHttpRequest turns the
  // empty body into empty_response_body without an error, and the submit writes the upstream status (relay/relay-mj.go).
  const rateLimited = () => (gateway ? new HttpReply(429, null) : new HttpReply(429, '', { 'retry-after': '1' }));
  // QuantumNous middleware TokenConcurrencyGate: 429 in the OpenAI envelope, no Retry-After.
  const tokenGateFull = () =>
    new HttpReply(429, {
      error: {
        message: `token_concurrency_limit_reached (request id: ${requestId()})`,
        type: 'new_api_error',
        code: 'token_concurrency_limit_reached',
      },
    });
  // gin's NoRoute serves new-api's web UI for any path it does not route (router/web-router.go): 200, HTML, no key.
  const webUi = () =>
    new HttpReply(
      200,
      '<!doctype html><html><head><meta charset="utf-8"><title>New API</title></head><body><div id="root"></div></body></html>',
      {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-cache',
      },
    );
  /** new-api's own error answer (controller/relay.go RelayMidjourney): 400, `"%s %s"` of description and an empty result. */
  const gatewayError = (code: number, description: string) =>
    new HttpReply(400, { description: `${description} `, type: 'upstream_error', code });
  // The answer to a submit whose upstream call failed after sending, or whose answer was lost: old builds turn any
  // client.Do error into code 5 do_request_failed (service/midjourney.go DoMidjourneyHttpRequest); newer ones answer
  // code 4 accepted_state_unknown (QuantumNous MJ relay handler, midjourneySubmissionStateUnknown).
  const transportError = () =>
    newGateway()
      ? gatewayError(4, `accepted_state_unknown; do not retry; contact an administrator with request_id=${requestId()}`)
      : gatewayError(5, 'do_request_failed');
  const serverError = () =>
    gateway
      ? new HttpReply(500, {
          error: { message: `internal error (request id: ${requestId()})`, type: 'new_api_error', code: 'internal_error' },
        })
      : new HttpReply(500, { success: false, code: -1, message: '操作失败', timestamp: new Date().toISOString() });
  const badJson = (why: string) =>
    gateway
      ? gatewayError(4, 'bind_request_body_failed')
      : new HttpReply(200, { success: false, code: -1, message: why, timestamp: new Date().toISOString() });

  /**
   * A refused request in the profile's shape. The gateway's own checks (the only 400 refusals) answer in its error
   * shape; an upstream refusal is relayed verbatim by old builds, and by newer ones mapped to an HTTP status.
   */
  function refusal(r: Refusal): HttpReply {
    if (r.code === 4) engine.counters.validationRefusals++;
    const upstreamBody = { code: r.code, description: r.description, result: null, properties: r.properties };
    if (!gateway) return new HttpReply(r.httpStatus, upstreamBody);
    if (r.httpStatus === 400) return gatewayError(r.code, r.description);
    if (!newGateway()) return new HttpReply(r.httpStatus, upstreamBody, SNIFFED_JSON);
    return new HttpReply(applicationStatus(r.code, r.httpStatus), {
      description: `${r.description} `,
      type: 'upstream_error',
      code: r.code,
    });
  }

  function submitted(a: SubmitAnswer): HttpReply {
    // A new-api gateway rewrites codes 22 and 21 to 1, except for the MODAL actions the client must confirm.
    let code = a.code;
    if (gateway && (code === 22 || (code === 21 && !['INPAINT', 'CUSTOM_ZOOM'].includes(a.job?.gatewayAction ?? '')))) code = 1;
    const contentType = gateway ? (newGateway() ? SET_JSON : SNIFFED_JSON) : {};
    return new HttpReply(200, { code, description: a.description, result: a.result, properties: a.properties }, contentType);
  }

  function debitQuota(): void {
    if (gatewayBehaviour.quota !== null) gatewayBehaviour.quota = Math.max(0, gatewayBehaviour.quota - 1);
  }

  /** Charges the gateway's quota for an accepted paid job (relay/relay-mj.go: consumed once the upstream accepted). */
  function charge(job: SimJob): void {
    gatewayCharged.add(job.id);
    debitQuota();
  }

  /**
   * new-api's own checks before it forwards a submit, in its order (relay/relay-mj.go RelayMidjourneySubmit; service/
   * midjourney.go CoverPlusActionToNormalAction). Returns whether the submit is paid: INPAINT and CUSTOM_ZOOM are
   * charged only at /submit/modal.
   */
  function gatewayPrecheck(kind: string, body: Record<string, unknown>): boolean {
    const refuse = (description: string) => new Refusal(4, description, {}, 400);
    if (kind === 'imagine' && !text(body.prompt)) throw refuse('prompt_is_required');
    if (kind !== 'action' && kind !== 'modal') return true;
    let paid = true;
    if (kind === 'action') {
      const customId = text(body.customId) ?? '';
      if (!customId) throw refuse('custom_id_is_required');
      const action = gatewayActionOf(customId);
      if (!action) throw refuse(`unknown_action:${customId}`);
      paid = action !== 'INPAINT' && action !== 'CUSTOM_ZOOM';
    }
    // Without a taskId the gateway skips its record check and forwards; the upstream answers for it.
    const taskId = idOf(body.taskId);
    if (!taskId) return paid;
    if (!knownJob(taskId)) throw refuse('task_not_found');
    // MjActionCheckSuccessEnabled (on by default): the gateway's own record of the parent, refreshed only when it polls,
    // must read SUCCESS, even when the upstream finished it long ago. /submit/modal is exempt.
    if (kind === 'action' && gatewaySnapshots.get(taskId)?.status !== 'SUCCESS') {
      gatewayCounters.parentNotReady++;
      throw refuse('task_status_not_success');
    }
    return paid;
  }

  function text(v: unknown): string | undefined {
    return typeof v === 'string' ? v : undefined;
  }

  function idOf(v: unknown): string {
    return text(v) ?? (typeof v === 'number' ? String(v) : '');
  }

  function common(body: Record<string, unknown>) {
    const state = text(body.state) ?? null;
    if (state && state.length > 255) throw new Refusal(4, 'State参数过长，最大255字符');
    const notifyHook = text(body.notifyHook) ?? null;
    if (notifyHook && !/^https?:\/\//.test(notifyHook)) throw new Refusal(4, 'notifyHook参数错误');
    return { state, notifyHook };
  }

  function imageList(v: unknown, what: string): string[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || !DATA_URL.test(x))) throw new Refusal(4, `${what}格式错误`);
    return v as string[];
  }

  const digest = (parts: string[]) => createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);

  function submit(kind: string, body: Record<string, unknown>, pathMode: SimMode | undefined): SubmitAnswer {
    switch (kind) {
      case 'imagine': {
        const prompt = text(body.prompt)?.trim() ?? '';
        if (!prompt) throw new Refusal(4, 'prompt不能为空');
        const refs = imageList(body.base64Array, 'base64');
        const key = refs.length ? `${prompt}|refs:${digest(refs)}` : prompt;
        return engine.submitNew('IMAGINE', { prompt, image: { kind: 'grid', key, aspect: aspectOf(prompt) }, ...common(body) }, pathMode);
      }
      case 'blend': {
        const list = Array.isArray(body.base64Array) ? body.base64Array : [];
        if (list.length < 2 || list.length > 5) throw new Refusal(4, 'base64List参数错误');
        const refs = imageList(list, 'base64');
        const dims = text(body.dimensions) ?? 'SQUARE';
        const aspect = { PORTRAIT: '2:3', SQUARE: '1:1', LANDSCAPE: '3:2' }[dims];
        if (!aspect) throw new Refusal(4, 'dimensions参数错误');
        return engine.submitNew(
          'BLEND',
          { prompt: `--ar ${aspect}`, image: { kind: 'grid', key: `blend:${digest(refs)}`, aspect }, ...common(body) },
          pathMode,
        );
      }
      case 'describe': {
        const b64 = text(body.base64);
        const link = text(body.link);
        if (b64 ? !DATA_URL.test(b64) : !link || !/^https?:\/\/\S+$/.test(link)) throw new Refusal(4, 'base64格式错误');
        const key = `describe:${digest([b64 ?? link!])}`;
        return engine.submitNew(
          'DESCRIBE',
          { prompt: '', image: { kind: 'tile', key, aspect: '1:1', index: 1 }, describePrompts: describePrompts(key), ...common(body) },
          pathMode,
        );
      }
      case 'shorten': {
        const prompt = text(body.prompt)?.trim() ?? '';
        if (!prompt) throw new Refusal(4, 'prompt不能为空');
        return engine.submitNew('SHORTEN', { prompt, ...common(body) }, pathMode);
      }
      case 'action': {
        const taskId = idOf(body.taskId);
        const customId = text(body.customId) ?? '';
        if (!taskId) throw new Refusal(4, 'taskId不能为空');
        if (!customId) throw new Refusal(4, 'customId不能为空');
        return engine.submitAction(taskId, customId, common(body), pathMode);
      }
      case 'modal': {
        const taskId = idOf(body.taskId);
        if (!taskId) throw new Refusal(4, 'taskId不能为空');
        const mask = text(body.maskBase64);
        if (mask && !DATA_URL.test(mask)) throw new Refusal(4, 'maskBase64格式错误');
        return engine.submitModal(taskId, text(body.prompt), mask);
      }
      default:
        // No such route on the Plus proxy (C# answers 404 with an empty body); a gateway relays that 404.
        throw new HttpReply(404, null);
    }
  }

  function taskNotFound(): HttpReply {
    // Each layer says "no such task" differently: CS 204, a gateway 400 with code 4.
    return gateway ? new HttpReply(400, { description: 'task_no_found ', type: 'upstream_error', code: 4 }) : new HttpReply(204, null);
  }

  async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown> | HttpReply> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) return new HttpReply(413, 'Request body too large');
      chunks.push(chunk as Buffer);
    }
    const raw = Buffer.concat(chunks).toString('utf8');
    try {
      const parsed: unknown = JSON.parse(raw || '{}');
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return badJson('the body must be a JSON object');
      return parsed as Record<string, unknown>;
    } catch (err) {
      return badJson((err as Error).message);
    }
  }

  /** C# Plus routes /mj/... and /mj-{fast,relax,turbo}/mj/...; anything else has no route. */
  function plusRoute(pathname: string): Route | undefined {
    const m = PLUS_MODE_PREFIX.exec(pathname);
    if (m) return { path: pathname.slice(m[0].length), pathMode: m[1]!.toUpperCase() as SimMode };
    return pathname.startsWith('/mj/') ? { path: pathname } : undefined;
  }

  /**
   * new-api serves /mj/... and /:mode/mj/... alike, and forwards what getMjRequestPath makes of the path
   * (relay/relay-mj.go; newer relay/mjproxy_handler.go): a path containing "/mj-" is cut to /mj/..., so its mode is
   * lost; any other prefix is forwarded as it is. Assumption: the upstream is the Plus proxy the gateway profile
   * stands in for, which reads /relax/mj/... as the measured setup's did, unless `upstreamAcceptsPlainModePaths` is off.
   */
  function gatewayRoute(pathname: string): Route | undefined {
    if (pathname.startsWith('/mj/')) return { path: pathname };
    const m = /^\/([^/]+)(\/mj\/.*)$/.exec(pathname);
    if (!m) return undefined;
    const path = m[2]!;
    if (pathname.includes('/mj-')) return { path, modeStripped: true };
    const plain = PLAIN_MODE_SEGMENT.exec(m[1]!);
    if (plain && gatewayBehaviour.upstreamAcceptsPlainModePaths) return { path, pathMode: plain[1]!.toUpperCase() as SimMode };
    return { path, upstreamNoRoute: true };
  }

  function injectedFault(): HttpReply | undefined {
    if (faults.burst429 > 0) {
      faults.burst429--;
      injected.rate429++;
      return rateLimited();
    }
    if (requestRng.chance(faults.rate429)) {
      injected.rate429++;
      return rateLimited();
    }
    if (requestRng.chance(faults.http5xx)) {
      injected.http5xx++;
      return serverError();
    }
    return undefined;
  }

  function caught(err: unknown): HttpReply {
    if (err instanceof Refusal) return refusal(err);
    if (err instanceof HttpReply) return err;
    throw err;
  }

  /** The job exists (and is paid for), but the client never hears back: its submit is ambiguous. */
  function resetAfterAccepting(req: http.IncomingMessage, answer: SubmitAnswer): boolean {
    if (!answer.job || !requestRng.chance(faults.resetAfterSubmit)) return false;
    injected.resetAfterSubmit++;
    req.socket.destroy();
    return true;
  }

  function plusSubmit(
    req: http.IncomingMessage,
    kind: string,
    body: Record<string, unknown>,
    pathMode: SimMode | undefined,
  ): HttpReply | undefined {
    try {
      const answer = submit(kind, body, pathMode);
      return resetAfterAccepting(req, answer) ? undefined : submitted(answer);
    } catch (err) {
      return caught(err);
    }
  }

  /** A submit through the gateway: its own checks and quota, then the upstream call, then its rewriting of the answer. */
  async function gatewaySubmit(
    req: http.IncomingMessage,
    kind: string,
    body: Record<string, unknown>,
    route: Route,
  ): Promise<HttpReply | undefined> {
    try {
      const paid = gatewayPrecheck(kind, body);
      if (paid && gatewayBehaviour.quota !== null && gatewayBehaviour.quota <= 0) {
        gatewayCounters.quotaRefusals++;
        throw new Refusal(4, 'quota_not_enough', {}, 400);
      }
      if (route.modeStripped) gatewayCounters.modePrefixesStripped++;
      // service/midjourney.go DoMidjourneyHttpRequest deletes notifyHook unless MjNotifyEnabled is on.
      if (typeof body.notifyHook === 'string' && body.notifyHook) {
        if (gatewayBehaviour.notifyForwarding) gatewayCounters.hooksForwarded++;
        else {
          delete body.notifyHook;
          gatewayCounters.hooksDropped++;
        }
      }
      if (gatewayBehaviour.upstreamLatencyMs > 0) await new Promise((r) => setTimeout(r, gatewayBehaviour.upstreamLatencyMs));
      if (route.upstreamNoRoute) {
        // The upstream's empty 404 is relayed as it came (empty_response_body is no error): nothing created or charged.
        gatewayCounters.upstreamNoRoute++;
        return new HttpReply(404, null);
      }
      const answer = submit(kind, body, route.pathMode);
      const job = answer.job;
      if (job && (directivesOf(job.prompt).has('lost-answer') || requestRng.chance(faults.lostUpstreamAnswer))) {
        // The upstream runs and bills the job; the gateway keeps no record of it. Old builds return before charging,
        // newer ones keep the pre-consumed quota for an administrator to settle.
        gatewayLost.add(job.id);
        gatewayCounters.lostAnswers++;
        if (paid && newGateway()) debitQuota();
        return transportError();
      }
      if (job && paid) charge(job);
      return resetAfterAccepting(req, answer) ? undefined : submitted(answer);
    } catch (err) {
      return caught(err);
    }
  }

  async function relayImage(res: http.ServerResponse, id: string): Promise<HttpReply | undefined> {
    // relay/relay-mj.go RelayMidjourneyImage: looks the task up by id alone (no key), fetches its stored upstream URL now.
    const job = knownJob(id);
    if (!job) return new HttpReply(400, { error: 'midjourney_task_not_found' });
    const upstream = gatewaySnapshots.get(job.id)?.imageUrl;
    if (!upstream) return new HttpReply(500, { error: 'http_get_image_failed' });
    const found = signedImage(new URL(upstream));
    if (found instanceof HttpReply) return new HttpReply(found.status, { error: String(found.body) });
    const { bytes, type } = await imageBytes(found.job, found.file);
    await sendImage(res, bytes, type);
    return undefined;
  }

  async function api(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<HttpReply | undefined> {
    const method = req.method ?? 'GET';
    const route = gateway ? gatewayRoute(url.pathname) : plusRoute(url.pathname);
    const path = route?.path ?? url.pathname;
    const endpointKey = `${method} ${path.replace(/\/\d+\//, '/{id}/')}`;
    requestCounts[endpointKey] = (requestCounts[endpointKey] ?? 0) + 1;

    if (gateway) {
      if (!route || !GATEWAY_ROUTES.some(([verb, re]) => verb === method && re.test(path))) return webUi();
      // The image relay is registered before the token check (router/relay-router.go).
      const relay = /^\/mj\/image\/([^/]+)$/.exec(path);
      if (relay) return relayImage(res, decodeURIComponent(relay[1]!));
    }
    if (!authorized(req)) return unauthorized();
    if (gateway && gatewayBehaviour.tokenStatus !== 'enabled')
      return tokenRefused(gatewayBehaviour.tokenStatus === 'expired' ? '该令牌已过期' : '该令牌状态不可用');
    if (!route) return new HttpReply(404, null);
    if (!gateway) return serve(req, method, route);
    // QuantumNous TokenConcurrencyGate holds a lease for the whole relayed call.
    if (gatewayBehaviour.tokenConcurrency > 0 && inFlight >= gatewayBehaviour.tokenConcurrency) {
      gatewayCounters.tokenGateRefusals++;
      return tokenGateFull();
    }
    inFlight++;
    try {
      return await serve(req, method, route);
    } finally {
      inFlight--;
    }
  }

  /** The MJ routes both profiles serve, once the request is past the key check. */
  async function serve(req: http.IncomingMessage, method: string, route: Route): Promise<HttpReply | undefined> {
    const fault = injectedFault();
    if (fault) return fault;
    const { path } = route;
    let m: RegExpExecArray | null;
    if (method === 'POST' && (m = /^\/mj\/submit\/([a-z-]+)$/.exec(path))) {
      const body = await readJson(req);
      if (body instanceof HttpReply) return body;
      return gateway ? gatewaySubmit(req, m[1]!, body, route) : plusSubmit(req, m[1]!, body, route.pathMode);
    }
    if (method === 'GET' && (m = /^\/mj\/task\/([^/]+)\/fetch$/.exec(path))) {
      const job = knownJob(decodeURIComponent(m[1]!));
      return job ? new HttpReply(200, taskView(job), gateway ? SET_JSON : {}) : taskNotFound();
    }
    if (method === 'GET' && (m = /^\/mj\/task\/([^/]+)\/image-seed$/.exec(path))) {
      const job = knownJob(decodeURIComponent(m[1]!));
      if (!job) return taskNotFound();
      if (job.status !== 'SUCCESS') return new HttpReply(200, { code: 4, description: '任务未完成', result: null });
      return new HttpReply(200, { code: 1, description: 'success', result: String(parseInt(job.hash.slice(0, 8), 16)) });
    }
    if (method === 'POST' && (path === '/mj/task/list-by-condition' || path === '/mj/task/list-by-ids')) {
      const body = await readJson(req);
      if (body instanceof HttpReply) return body;
      const ids = Array.isArray(body.ids) ? body.ids.map(String) : [];
      const tasks = ids
        .map(knownJob)
        .filter((j): j is SimJob => Boolean(j))
        .map(taskView);
      return new HttpReply(200, tasks, gateway ? SET_JSON : {});
    }
    if (method === 'POST' && !gateway && (m = /^\/mj\/task\/([^/]+)\/cancel$/.exec(path))) {
      // C# TaskController.Cancel (11.10.3): admins only, refused with a bare string that ASP.NET writes as JSON for
      // Accept: application/json; otherwise 200 with an empty body, whatever the task was (docs/api-cancel.md).
      if (options.plusKeyRole !== 'admin')
        return new HttpReply(400, JSON.stringify('演示模式，禁止操作'), { 'content-type': 'application/json; charset=utf-8' });
      engine.cancel(decodeURIComponent(m[1]!));
      return new HttpReply(200, null);
    }
    if (method === 'GET' && path === '/mj/task/list') {
      // C# TaskController.List: the latest 100 tasks by submit time, newest first (a gateway never routes here).
      const latest = [...engine.jobs.values()].sort((a, b) => b.submitTime - a.submitTime || Number(b.id) - Number(a.id)).slice(0, 100);
      return new HttpReply(200, latest.map(plusView));
    }
    return new HttpReply(404, null);
  }

  /** GET shows a group of settings, POST merges a checked update, DELETE restores the defaults. */
  async function settings(
    req: http.IncomingMessage,
    show: () => object,
    apply: (update: Record<string, unknown>) => string | undefined,
    restore: () => void,
  ): Promise<HttpReply | undefined> {
    const method = req.method ?? 'GET';
    if (method === 'DELETE') restore();
    if (method === 'POST') {
      const body = await readJson(req);
      if (body instanceof HttpReply) return body;
      const problem = apply(body);
      if (problem) return new HttpReply(400, { error: problem });
    }
    return ['GET', 'POST', 'DELETE'].includes(method) ? new HttpReply(200, show()) : undefined;
  }

  async function admin(req: http.IncomingMessage, url: URL): Promise<HttpReply> {
    const method = req.method ?? 'GET';
    if (url.pathname === '/_sim/health')
      return new HttpReply(200, { ok: true, profile: options.profile, speed: options.speed, accounts: options.accounts });
    if (url.pathname === '/_sim/stats' && method === 'GET') {
      return new HttpReply(200, {
        ...engine.stats(),
        profile: options.profile,
        speed: options.speed,
        requests: { byEndpoint: requestCounts, injected: { ...injected } },
        callbacks: { ...callbacks },
        ...(gateway ? { gateway: { ...gatewayCounters, quota: gatewayBehaviour.quota, inFlight } } : {}),
      });
    }
    if (url.pathname === '/_sim/jobs' && method === 'GET') return new HttpReply(200, engine.ledger());
    if (url.pathname === '/_sim/faults') {
      const reply = await settings(
        req,
        () => faults,
        (u) => applyFaults(faults, u),
        () => Object.assign(faults, NO_FAULTS, { bannedWords: [], moderatedWords: [] }),
      );
      if (reply) return reply;
    }
    if (url.pathname === '/_sim/gateway') {
      if (!gateway) return new HttpReply(404, { error: 'only the gateway profile has gateway settings' });
      const reply = await settings(
        req,
        () => ({ ...gatewayBehaviour, serverAddress: serverAddress() }),
        (u) => applyGateway(gatewayBehaviour, u),
        () => {
          delete gatewayBehaviour.serverAddress;
          Object.assign(gatewayBehaviour, DEFAULT_GATEWAY);
        },
      );
      if (reply) return reply;
    }
    if (url.pathname === '/_sim/reset' && method === 'POST') {
      engine.reset();
      gatewaySnapshots.clear();
      gatewayLost.clear();
      gatewayCharged.clear();
      for (const k of Object.keys(requestCounts)) delete requestCounts[k];
      Object.assign(injected, { http5xx: 0, rate429: 0, resetAfterSubmit: 0 });
      Object.assign(callbacks, { sent: 0, failed: 0 });
      Object.assign(gatewayCounters, GATEWAY_COUNTERS);
      return new HttpReply(200, { ok: true });
    }
    return new HttpReply(404, { error: 'unknown admin endpoint' });
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    let reply: HttpReply | undefined;
    if (url.pathname.startsWith('/_sim/images/')) {
      const found = signedImage(url);
      if (found instanceof HttpReply) reply = found;
      else {
        const { bytes, type } = await imageBytes(found.job, found.file);
        return sendImage(res, bytes, type);
      }
    } else if (url.pathname.startsWith('/_sim/')) reply = await admin(req, url);
    else reply = await api(req, res, url);
    if (!reply || res.headersSent || res.destroyed) return;
    const isText = typeof reply.body === 'string';
    const payload = reply.body === null ? '' : isText ? (reply.body as string) : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      ...(payload ? { 'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8' } : {}),
      ...reply.headers,
    });
    res.end(reply.status === 204 ? undefined : payload);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`simulator error: ${(err as Error).message}`);
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  publicUrl = options.publicUrl ?? url;
  return {
    url,
    port,
    options: { ...options, port },
    engine,
    async close() {
      if (poller) clearInterval(poller);
      engine.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const isWholeNumber = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Merges a JSON fault update, checking every value; returns a problem description or undefined. */
export function applyFaults(faults: Faults, update: Record<string, unknown>): string | undefined {
  for (const [key, value] of Object.entries(update)) {
    if (!(key in NO_FAULTS)) return `unknown fault "${key}"; known: ${Object.keys(NO_FAULTS).join(', ')}`;
    if (key === 'bannedWords' || key === 'moderatedWords') {
      if (!Array.isArray(value) || value.some((w) => typeof w !== 'string')) return `${key} must be an array of strings`;
    } else if (key === 'burst429' || key === 'slowImageBytesPerSec') {
      if (!isWholeNumber(value)) return `${key} must be a whole number >= 0`;
    } else if (typeof value !== 'number' || value < 0 || value > 1) return `${key} must be a share from 0 to 1`;
  }
  Object.assign(faults, update);
  return undefined;
}

/** Merges a JSON gateway update (`serverAddress: null` restores the simulator's own URL); returns a problem or undefined. */
export function applyGateway(gateway: GatewayBehaviour, update: Record<string, unknown>): string | undefined {
  const known = [...Object.keys(DEFAULT_GATEWAY), 'serverAddress'];
  for (const [key, value] of Object.entries(update)) {
    if (!known.includes(key)) return `unknown gateway setting "${key}"; known: ${known.join(', ')}`;
    if (key === 'notifyForwarding' || key === 'upstreamAcceptsPlainModePaths') {
      if (typeof value !== 'boolean') return `${key} must be true or false`;
    } else if (key === 'errorStyle') {
      if (value !== 'old' && value !== 'new') return 'errorStyle must be "old" or "new"';
    } else if (key === 'tokenStatus') {
      if (value !== 'enabled' && value !== 'expired' && value !== 'disabled')
        return 'tokenStatus must be "enabled", "expired" or "disabled"';
    } else if (key === 'serverAddress') {
      if (value !== null && (typeof value !== 'string' || !/^https?:\/\/\S+$/.test(value)))
        return 'serverAddress must be an http(s) URL, or null';
    } else if (key === 'quota') {
      if (value !== null && !isWholeNumber(value)) return 'quota must be a whole number >= 0, or null for unlimited';
    } else if (!isWholeNumber(value)) return `${key} must be a whole number >= 0`;
  }
  const { serverAddress, ...rest } = update;
  if (serverAddress === null) delete gateway.serverAddress;
  else if (typeof serverAddress === 'string') gateway.serverAddress = serverAddress.replace(/\/+$/, '');
  Object.assign(gateway, rest);
  return undefined;
}

/**
 * How newer gateways answer an upstream refusal (QuantumNous MJ relay handler, midjourneyApplicationStatus): an
 * upstream non-2xx keeps its status; a refusal inside a 200 maps by code.
 */
function applicationStatus(code: number, upstreamStatus: number): number {
  if (upstreamStatus < 200 || upstreamStatus >= 300) return upstreamStatus;
  return code === 23 ? 429 : code === 24 ? 400 : code === 3 ? 503 : 502;
}

/** Four prompts, as Describe suggests, drawn from the image key. */
function describePrompts(key: string): string[] {
  const rng = new SeededRandom(key);
  const subjects = [
    'a ceramic vase',
    'a leather armchair',
    'a pair of sneakers',
    'a wristwatch',
    'a desk lamp',
    'a glass bottle',
    'a wool sweater',
    'a wooden chair',
  ];
  const styles = [
    'studio lighting',
    'soft natural light',
    'minimalist product photography',
    'high-key catalog shot',
    'moody editorial photo',
  ];
  const backgrounds = ['on a white background', 'on a marble table', 'against a pastel wall', 'in a sunlit room'];
  return [1, 2, 3, 4].map(
    () =>
      `${subjects[rng.int(0, subjects.length - 1)]} ${backgrounds[rng.int(0, backgrounds.length - 1)]}, ${styles[rng.int(0, styles.length - 1)]} --ar 1:1`,
  );
}
