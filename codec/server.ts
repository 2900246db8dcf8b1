// The codec server: Temporal's HTTP protocol (POST .../encode and .../decode, a JSON body `{"payloads": [...]}` of
// proto3-JSON payloads, whose metadata values and data are base64) so the Web UI and `temporal --codec-endpoint`
// can show encrypted payloads decrypted. The keys stay in this process; the browser gets plain payloads only.
import { createHash, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { MissingCodecKeyError, PayloadDecryptionError } from './encryption-codec';

/** The dev stack's Web UI, by either name a browser may have typed (the origin is what the address bar shows). */
export const DEFAULT_CORS_ORIGINS = ['http://127.0.0.1:8233', 'http://localhost:8233'];

export interface CodecServerOptions {
  codec: PayloadCodec;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Browser origins allowed to call (the Web UI's); `*` allows any. */
  corsOrigins: readonly string[];
  /** When set, every POST must carry exactly this `Authorization` header (the UI and the CLI can send one). */
  auth?: string;
  log?: (line: string) => void;
}

export interface RunningCodecServer {
  url: string;
  close(): Promise<void>;
}

// A history's payloads are at most 2 MiB each; the UI sends one event's (or one page's) at a time.
const MAX_BODY_BYTES = 32 * 1024 * 1024;

interface JsonPayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function bytesOf(value: unknown, where: string): Buffer {
  if (typeof value !== 'string' || !BASE64.test(value)) throw new RequestError(400, `${where} must be a base64 string`);
  return Buffer.from(value, 'base64');
}

/** proto3 JSON → Payload: every bytes field (each metadata value, the data) is base64. */
function fromJson(raw: unknown, i: number): Payload {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RequestError(400, `payloads[${i}] must be an object`);
  const { metadata, data } = raw as JsonPayload;
  if (metadata != null && (typeof metadata !== 'object' || Array.isArray(metadata)))
    throw new RequestError(400, `payloads[${i}].metadata must be an object`);
  return {
    metadata: metadata ? Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, bytesOf(v, `payloads[${i}].metadata.${k}`)])) : {},
    data: data == null ? undefined : bytesOf(data, `payloads[${i}].data`),
  };
}

function toJson({ metadata, data }: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
    ...(data ? { data: Buffer.from(data).toString('base64') } : {}),
  };
}

function payloadsOf(body: Buffer): Payload[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new RequestError(400, 'the body is not JSON');
  }
  const payloads = (parsed as { payloads?: unknown } | null)?.payloads;
  if (!Array.isArray(payloads)) throw new RequestError(400, 'the body must be {"payloads": [...]}');
  return payloads.map(fromJson);
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      // Keep reading (and dropping) the rest, so the 413 reaches the caller before the socket closes.
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(c);
    });
    req.on('end', () =>
      tooLarge ? reject(new RequestError(413, `the body is over ${MAX_BODY_BYTES} bytes`)) : resolve(Buffer.concat(chunks)),
    );
    req.on('error', reject);
  });
}

/** Compares digests, so neither the value nor its length leaks through timing. */
function sameAuth(given: string | undefined, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return given !== undefined && timingSafeEqual(digest(given), digest(expected));
}

/** Which endpoint: the protocol says to look only at the last path segment, so the server can sit under any prefix (`/{namespace}/decode`). */
function routeOf(url: string | undefined): 'encode' | 'decode' | undefined {
  const last = new URL(url ?? '/', 'http://codec').pathname.replace(/\/+$/, '').split('/').pop();
  return last === 'encode' || last === 'decode' ? last : undefined;
}

export async function startCodecServer(opts: CodecServerOptions): Promise<RunningCodecServer> {
  const anyOrigin = opts.corsOrigins.includes('*');
  const allowed = new Set(opts.corsOrigins.map((o) => o.replace(/\/+$/, '')));

  const server = http.createServer((req, res) => {
    const origin = req.headers.origin;
    const originAllowed = origin !== undefined && (anyOrigin || allowed.has(origin));
    const send = (status: number, body?: object, headers: Record<string, string> = {}) => {
      if (originAllowed) {
        res.setHeader('Access-Control-Allow-Origin', origin!);
        // The UI's "include cross-origin credentials" setting sends cookies; the origin is named, never `*`.
        res.setHeader('Access-Control-Allow-Credentials', 'true');
      }
      res.setHeader('Vary', 'Origin');
      res.writeHead(status, body ? { 'Content-Type': 'application/json', ...headers } : headers);
      res.end(body ? JSON.stringify(body) : undefined);
    };
    const route = routeOf(req.url);
    if (!route) return send(404, { error: 'not found: POST .../encode or .../decode' });
    if (req.method === 'OPTIONS') {
      // The preflight carries no Authorization (browsers never send it there), so it is answered before the check.
      if (!originAllowed) return send(403, { error: `origin ${origin ?? '(none)'} is not allowed (mj-batch codec-server --cors-origin)` });
      return send(204, undefined, {
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': 'Content-Type, X-Namespace, Authorization',
        'Access-Control-Max-Age': '600',
      });
    }
    if (req.method !== 'POST') return send(405, { error: 'use POST' }, { Allow: 'POST, OPTIONS' });
    if (opts.auth !== undefined && !sameAuth(req.headers.authorization, opts.auth))
      return send(401, { error: 'the Authorization header does not match MJ_BATCH_CODEC_AUTH' });
    readBody(req)
      .then(async (body) => {
        const payloads = payloadsOf(body);
        const out = route === 'encode' ? await opts.codec.encode(payloads) : await opts.codec.decode(payloads);
        send(200, { payloads: out.map(toJson) });
      })
      .catch((err: unknown) => {
        // A payload this server cannot decrypt is the caller's data, not a server fault: say why, as the worker would.
        const known = err instanceof RequestError || err instanceof MissingCodecKeyError || err instanceof PayloadDecryptionError;
        const status = err instanceof RequestError ? err.status : known ? 422 : 500;
        const message = known ? (err as Error).message : 'internal error';
        if (!known) opts.log?.(`codec server: /${route} failed: ${(err as Error).message}`);
        else if (status === 422) opts.log?.(`codec server: /${route}: ${message}`);
        send(status, { error: message });
      });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
