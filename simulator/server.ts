import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Engine, Refusal, aspectOf, directivesOf, type ImageSpec, type SimJob, type SimMode, type SubmitAnswer } from './engine';
import { corrupt, renderGrid, renderOversized, renderPreview, renderTile, renderUpscale, truncate } from './images';
import { NO_FAULTS, simulatorOptions, type Faults, type SimulatorOptions, type SimulatorSettings } from './options';
import { SeededRandom } from './random';
import { gatewayView, plusView, type PlusView } from './views';

// Optional first path segment naming the speed and image mode: /mj-fast, /mj-relax-proxy, /mj-origin, /fast, ...
const MODE_PREFIX = /^\/(?:mj-(fast|relax|turbo)(?:-(?:relay|origin|proxy))?|mj-(?:relay|origin|proxy)|(fast|relax|turbo))(?=\/mj\/)/;
const DATA_URL = /^data:image\/(png|jpe?g|webp|gif);base64,[A-Za-z0-9+/=\s]+$/;
const MAX_BODY_BYTES = 64 * 1024 * 1024;

class HttpReply {
  constructor(readonly status: number, readonly body: unknown, readonly headers: Record<string, string> = {}) {}
}

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
        const res = await fetch(hook, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5_000) });
        await res.arrayBuffer();
        if (res.ok) callbacks.sent++;
        else callbacks.failed++;
      } catch {
        callbacks.failed++;
      }
    });
    notifyChains.set(job.id, next);
    if (job.status === 'SUCCESS' || job.status === 'FAILURE') void next.then(() => notifyChains.get(job.id) === next && notifyChains.delete(job.id));
  });

  // The gateway profile refreshes its copy of each unfinished task only when it polls its upstream.
  const poller = options.profile === 'gateway'
    ? setInterval(() => {
        for (const job of engine.jobs.values()) {
          const snap = gatewaySnapshots.get(job.id);
          if (snap && (snap.status === 'SUCCESS' || snap.status === 'FAILURE')) continue;
          gatewaySnapshots.set(job.id, structuredClone(plusView(job)));
        }
      }, Math.max(5, options.gatewayPollMs))
    : undefined;

  const taskView = (job: SimJob) => (options.profile === 'gateway' ? gatewayView(job, gatewaySnapshots.get(job.id), publicUrl, job.submitTime) : plusView(job));

  function renderImage(spec: ImageSpec, file: string): Promise<Buffer> {
    if (file.endsWith('.webp')) return images.get(`preview:${spec.key}:${spec.aspect}`, () => renderPreview(spec.key, spec.aspect));
    switch (spec.kind) {
      case 'grid': return images.get(`grid:${spec.key}:${spec.aspect}`, () => renderGrid(spec.key, spec.aspect));
      case 'tile': return images.get(`tile:${spec.key}:${spec.aspect}:${spec.index}`, () => renderTile(spec.key, spec.aspect, spec.index));
      case 'upscale': return images.get(`up:${spec.key}:${spec.aspect}:${spec.index}:${spec.factor}`, () => renderUpscale(spec.key, spec.aspect, spec.index, spec.factor));
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
    if (!Number.isFinite(ex) || hm.length !== expected.length || !timingSafeEqual(Buffer.from(hm), Buffer.from(expected))) return new HttpReply(403, 'This content is no longer available.');
    if (Date.now() > ex) return new HttpReply(403, 'This content is no longer available.');
    return { job, file: m[2]! };
  }

  function authorized(req: http.IncomingMessage): boolean {
    const auth = req.headers.authorization;
    const fromBearer = auth && auth !== 'midjourney-proxy' ? auth.replace(/^Bearer\s+/i, '') : undefined;
    const key = fromBearer || (req.headers['mj-api-secret'] as string | undefined)?.replace(/^Bearer\s+/i, '');
    return key === options.apiKey;
  }

  const gateway = options.profile === 'gateway';
  const requestId = () => `${Date.now()}${requestRng.int(100000, 999999)}`;

  const unauthorized = () => gateway
    ? new HttpReply(401, { error: { message: `无效的令牌 (request id: ${requestId()})`, type: 'new_api_error', code: '' } })
    : new HttpReply(401, 'Authorization header missing.');
  const rateLimited = () => gateway
    ? new HttpReply(429, { code: 30, description: '当前分组负载已饱和，请稍后再试', type: 'upstream_error' }, { 'retry-after': '1' })
    : new HttpReply(429, '', { 'retry-after': '1' });
  const serverError = () => gateway
    ? new HttpReply(500, { error: { message: `internal error (request id: ${requestId()})`, type: 'new_api_error', code: 'internal_error' } })
    : new HttpReply(500, { success: false, code: -1, message: '操作失败', timestamp: new Date().toISOString() });
  const badJson = (why: string) => gateway
    ? new HttpReply(400, { description: `bind_request_body_failed ${why}`, type: 'upstream_error', code: 4 })
    : new HttpReply(200, { success: false, code: -1, message: why, timestamp: new Date().toISOString() });

  /** A refused request in the profile's shape: the gateway's own checks answer 400, business codes ride a 200. */
  function refusal(r: Refusal): HttpReply {
    if (r.code === 4) engine.counters.validationRefusals++;
    if (gateway && r.httpStatus === 400) return new HttpReply(400, { description: `${r.description} `, type: 'upstream_error', code: r.code });
    return new HttpReply(r.httpStatus, { code: r.code, description: r.description, result: null, properties: r.properties });
  }

  function submitted(a: SubmitAnswer): HttpReply {
    // A new-api gateway rewrites codes 22 and 21 to 1, except for the MODAL actions the client must confirm.
    let code = a.code;
    if (gateway && (code === 22 || (code === 21 && !['INPAINT', 'CUSTOM_ZOOM'].includes(a.job?.gatewayAction ?? '')))) code = 1;
    return new HttpReply(200, { code, description: a.description, result: a.result, properties: a.properties });
  }

  function text(v: unknown): string | undefined {
    return typeof v === 'string' ? v : undefined;
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
        if (!prompt) throw gateway ? new Refusal(4, 'prompt_is_required', {}, 400) : new Refusal(4, 'prompt不能为空');
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
        return engine.submitNew('BLEND', { prompt: `--ar ${aspect}`, image: { kind: 'grid', key: `blend:${digest(refs)}`, aspect }, ...common(body) }, pathMode);
      }
      case 'describe': {
        const b64 = text(body.base64);
        const link = text(body.link);
        if (b64 ? !DATA_URL.test(b64) : !link || !/^https?:\/\/\S+$/.test(link)) throw new Refusal(4, 'base64格式错误');
        const key = `describe:${digest([b64 ?? link!])}`;
        return engine.submitNew('DESCRIBE', { prompt: '', image: { kind: 'tile', key, aspect: '1:1', index: 1 }, describePrompts: describePrompts(key), ...common(body) }, pathMode);
      }
      case 'shorten': {
        const prompt = text(body.prompt)?.trim() ?? '';
        if (!prompt) throw gateway ? new Refusal(4, 'prompt_is_required', {}, 400) : new Refusal(4, 'prompt不能为空');
        return engine.submitNew('SHORTEN', { prompt, ...common(body) }, pathMode);
      }
      case 'action': {
        const taskId = text(body.taskId) ?? (typeof body.taskId === 'number' ? String(body.taskId) : '');
        const customId = text(body.customId) ?? '';
        if (!taskId) throw gateway ? new Refusal(4, 'task_id_is_required', {}, 400) : new Refusal(4, 'taskId不能为空');
        if (!customId) throw gateway ? new Refusal(4, 'custom_id_is_required', {}, 400) : new Refusal(4, 'customId不能为空');
        return engine.submitAction(taskId, customId, common(body), pathMode);
      }
      case 'modal': {
        const taskId = text(body.taskId) ?? (typeof body.taskId === 'number' ? String(body.taskId) : '');
        if (!taskId) throw gateway ? new Refusal(4, 'task_id_is_required', {}, 400) : new Refusal(4, 'taskId不能为空');
        const mask = text(body.maskBase64);
        if (mask && !DATA_URL.test(mask)) throw new Refusal(4, 'maskBase64格式错误');
        return engine.submitModal(taskId, text(body.prompt), mask);
      }
      default:
        throw new HttpReply(404, gateway ? { error: { message: 'Invalid URL', type: 'new_api_error', code: '' } } : 'Not Found');
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

  async function api(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<HttpReply | undefined> {
    const prefix = MODE_PREFIX.exec(url.pathname);
    const pathMode = prefix ? ((prefix[1] ?? prefix[2])?.toUpperCase() as SimMode | undefined) : undefined;
    const path = prefix ? url.pathname.slice(prefix[0].length) : url.pathname;
    const method = req.method ?? 'GET';
    const endpointKey = `${method} ${path.replace(/\/\d+\//, '/{id}/')}`;
    requestCounts[endpointKey] = (requestCounts[endpointKey] ?? 0) + 1;

    // The gateway's image relay needs no key.
    const relay = /^\/mj\/image\/(\d+)$/.exec(path);
    if (relay && gateway && method === 'GET') {
      const job = engine.jobs.get(relay[1]!);
      const upstream = job && gatewaySnapshots.get(job.id)?.imageUrl;
      if (!job || !upstream) return new HttpReply(400, { error: 'midjourney_task_not_found' });
      const found = signedImage(new URL(upstream));
      if (found instanceof HttpReply) return new HttpReply(found.status, { error: String(found.body) });
      const { bytes, type } = await imageBytes(found.job, found.file);
      await sendImage(res, bytes, type);
      return undefined;
    }

    if (!authorized(req)) return unauthorized();
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

    let m: RegExpExecArray | null;
    if (method === 'POST' && (m = /^\/mj\/submit\/([a-z-]+)$/.exec(path))) {
      const body = await readJson(req);
      if (body instanceof HttpReply) return body;
      try {
        const answer = submit(m[1]!, body, pathMode);
        if (answer.job && requestRng.chance(faults.resetAfterSubmit)) {
          // The job exists (and is paid for), but the client never hears back: its submit is ambiguous.
          injected.resetAfterSubmit++;
          req.socket.destroy();
          return undefined;
        }
        return submitted(answer);
      } catch (err) {
        if (err instanceof Refusal) return refusal(err);
        if (err instanceof HttpReply) return err;
        throw err;
      }
    }
    if (method === 'GET' && (m = /^\/mj\/task\/([^/]+)\/fetch$/.exec(path))) {
      const job = engine.jobs.get(decodeURIComponent(m[1]!));
      return job ? new HttpReply(200, taskView(job)) : taskNotFound();
    }
    if (method === 'GET' && (m = /^\/mj\/task\/([^/]+)\/image-seed$/.exec(path))) {
      const job = engine.jobs.get(decodeURIComponent(m[1]!));
      if (!job) return taskNotFound();
      if (job.status !== 'SUCCESS') return new HttpReply(200, { code: 4, description: '任务未完成', result: null });
      return new HttpReply(200, { code: 1, description: 'success', result: String(parseInt(job.hash.slice(0, 8), 16)) });
    }
    if (method === 'POST' && (path === '/mj/task/list-by-condition' || path === '/mj/task/list-by-ids')) {
      const body = await readJson(req);
      if (body instanceof HttpReply) return body;
      const ids = Array.isArray(body.ids) ? body.ids.map(String) : [];
      return new HttpReply(200, ids.map((id) => engine.jobs.get(id)).filter((j): j is SimJob => Boolean(j)).map(taskView));
    }
    return new HttpReply(404, gateway ? { error: { message: 'Invalid URL', type: 'new_api_error', code: '' } } : 'Not Found');
  }

  async function admin(req: http.IncomingMessage, url: URL): Promise<HttpReply> {
    const method = req.method ?? 'GET';
    if (url.pathname === '/_sim/health') return new HttpReply(200, { ok: true, profile: options.profile, speed: options.speed, accounts: options.accounts });
    if (url.pathname === '/_sim/stats' && method === 'GET') {
      return new HttpReply(200, {
        ...engine.stats(), profile: options.profile, speed: options.speed,
        requests: { byEndpoint: requestCounts, injected: { ...injected } }, callbacks: { ...callbacks },
      });
    }
    if (url.pathname === '/_sim/jobs' && method === 'GET') return new HttpReply(200, engine.ledger());
    if (url.pathname === '/_sim/faults') {
      if (method === 'GET') return new HttpReply(200, faults);
      if (method === 'DELETE') {
        Object.assign(faults, NO_FAULTS, { bannedWords: [] });
        return new HttpReply(200, faults);
      }
      if (method === 'POST') {
        const body = await readJson(req);
        if (body instanceof HttpReply) return body;
        const problem = applyFaults(faults, body);
        return problem ? new HttpReply(400, { error: problem }) : new HttpReply(200, faults);
      }
    }
    if (url.pathname === '/_sim/reset' && method === 'POST') {
      engine.reset();
      gatewaySnapshots.clear();
      for (const k of Object.keys(requestCounts)) delete requestCounts[k];
      Object.assign(injected, { http5xx: 0, rate429: 0, resetAfterSubmit: 0 });
      Object.assign(callbacks, { sent: 0, failed: 0 });
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

/** Merges a JSON fault update, checking every value; returns a problem description or undefined. */
export function applyFaults(faults: Faults, update: Record<string, unknown>): string | undefined {
  for (const [key, value] of Object.entries(update)) {
    if (!(key in NO_FAULTS)) return `unknown fault "${key}"; known: ${Object.keys(NO_FAULTS).join(', ')}`;
    if (key === 'bannedWords') {
      if (!Array.isArray(value) || value.some((w) => typeof w !== 'string')) return 'bannedWords must be an array of strings';
    } else if (key === 'burst429' || key === 'slowImageBytesPerSec') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) return `${key} must be a whole number >= 0`;
    } else if (typeof value !== 'number' || value < 0 || value > 1) return `${key} must be a share from 0 to 1`;
  }
  Object.assign(faults, update);
  return undefined;
}

/** Four prompts, as Describe suggests, drawn from the image key. */
function describePrompts(key: string): string[] {
  const rng = new SeededRandom(key);
  const subjects = ['a ceramic vase', 'a leather armchair', 'a pair of sneakers', 'a wristwatch', 'a desk lamp', 'a glass bottle', 'a wool sweater', 'a wooden chair'];
  const styles = ['studio lighting', 'soft natural light', 'minimalist product photography', 'high-key catalog shot', 'moody editorial photo'];
  const backgrounds = ['on a white background', 'on a marble table', 'against a pastel wall', 'in a sunlit room'];
  return [1, 2, 3, 4].map(() => `${subjects[rng.int(0, subjects.length - 1)]} ${backgrounds[rng.int(0, backgrounds.length - 1)]}, ${styles[rng.int(0, styles.length - 1)]} --ar 1:1`);
}
