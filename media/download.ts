import * as dns from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { MediaError } from './errors';

export interface DownloadPolicy {
  /** Hosts allowed (exact names, or `*.example.com`); empty means any public host. */
  allowHosts: string[];
  /** Allow loopback and private addresses (the local simulator); off for real gateways. */
  allowPrivate: boolean;
  maxBytes: number;
  timeoutMs: number;
  maxRedirects: number;
}

export const DEFAULT_DOWNLOAD_POLICY: DownloadPolicy = {
  allowHosts: [],
  allowPrivate: false,
  maxBytes: 64 * 1024 * 1024,
  timeoutMs: 120_000,
  maxRedirects: 3,
};

// Everything that is not a public unicast address.
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
// No `::ffff:0:0/96` rule: BlockList checks IPv4-mapped IPv6 addresses against the IPv4 rules above, and such a rule
// would also match every plain IPv4 address (public ones included).
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function hostAllowed(host: string, allow: string[]): boolean {
  if (allow.length === 0) return true;
  const h = host.toLowerCase();
  return allow.some((a) => (a.startsWith('*.') ? h.endsWith(a.slice(1).toLowerCase()) : h === a.toLowerCase()));
}

/** Checks a URL before any connection: scheme, allow-list, and literal IP addresses (which skip DNS). */
export function checkUrl(raw: string, policy: DownloadPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new MediaError('download', `not a URL: ${raw.slice(0, 100)}`, false);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new MediaError('download', `only http and https images are fetched, not ${url.protocol}`, false);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!hostAllowed(host, policy.allowHosts)) throw new MediaError('download', `host ${host} is not in the allowed image hosts`, false);
  if (!policy.allowPrivate && isPrivateAddress(host)) throw new MediaError('download', `host ${host} is a private address`, false);
  return url;
}

/** A dispatcher whose DNS answers are checked at connect time, so a name cannot rebind to a private address. */
export function createDownloadDispatcher(policy: DownloadPolicy): Dispatcher {
  if (policy.allowPrivate) return new Agent({ connect: { timeout: 10_000 } });
  const lookup: typeof dns.lookup = ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err);
      const list = addresses as dns.LookupAddress[];
      const bad = list.find((a) => isPrivateAddress(a.address));
      if (bad) return callback(new MediaError('download', `host ${hostname} resolves to the private address ${bad.address}`, false));
      return options.all ? callback(null, list) : callback(null, list[0]!.address, list[0]!.family);
    });
  }) as typeof dns.lookup;
  return new Agent({ connect: { timeout: 10_000, lookup } });
}

export interface Downloaded {
  bytes: Buffer;
  url: string;
  contentType?: string;
}

/**
 * GETs an image: redirects followed by hand (each hop re-checked), a byte cap enforced while reading, one deadline
 * for the whole transfer. HTTP 403/404/410 (an expired or gone URL) are final; 429, 5xx and network errors retryable.
 */
export async function downloadImage(
  rawUrl: string,
  policy: DownloadPolicy,
  dispatcher: Dispatcher,
  onProgress?: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<Downloaded> {
  const deadline = AbortSignal.timeout(policy.timeoutMs);
  const abort = signal ? AbortSignal.any([signal, deadline]) : deadline;
  let url = checkUrl(rawUrl, policy);
  for (let hop = 0; ; hop++) {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: 'GET',
        dispatcher,
        signal: abort,
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
        maxRedirections: 0,
      } as Parameters<typeof request>[1]);
    } catch (err) {
      if (err instanceof MediaError) throw err;
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof MediaError) throw cause;
      throw new MediaError(
        'download',
        `${url.host}: ${deadline.aborted ? `no complete answer within ${policy.timeoutMs} ms` : (err as Error).message}`,
        true,
      );
    }
    if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
      await res.body.dump();
      if (hop >= policy.maxRedirects) throw new MediaError('download', `more than ${policy.maxRedirects} redirects`, false);
      url = checkUrl(new URL(String(res.headers.location), url).toString(), policy);
      continue;
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      const retryable = res.statusCode === 429 || res.statusCode >= 500;
      const why = [403, 404, 410].includes(res.statusCode) ? ' (the URL has expired or the image is gone)' : '';
      throw new MediaError('download', `HTTP ${res.statusCode} for ${url.host}${url.pathname}${why}`, retryable);
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > policy.maxBytes) {
      await res.body.dump();
      throw new MediaError('download', `image is ${declared} bytes; the limit is ${policy.maxBytes}`, false);
    }
    // With a declared length (within the cap, checked above) the bytes go straight into one buffer of that size, rather
    // than into a list of chunks copied once more at the end.
    const into = Number.isSafeInteger(declared) && declared >= 0 ? Buffer.allocUnsafe(declared) : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        const piece = chunk as Buffer;
        if (size + piece.length > policy.maxBytes) {
          res.body.destroy();
          throw new MediaError('download', `image is larger than the limit of ${policy.maxBytes} bytes`, false);
        }
        if (into) {
          if (size + piece.length > into.length) {
            res.body.destroy();
            throw new MediaError('download', `got more than the ${declared} bytes declared`, true);
          }
          piece.copy(into, size);
        } else chunks.push(piece);
        size += piece.length;
        onProgress?.(size);
      }
    } catch (err) {
      if (err instanceof MediaError) throw err;
      throw new MediaError(
        'download',
        `${url.host}: the transfer broke off after ${size} bytes (${deadline.aborted ? 'too slow' : (err as Error).message})`,
        true,
      );
    }
    if (Number.isFinite(declared) && size !== declared) throw new MediaError('download', `got ${size} of ${declared} bytes`, true);
    const ct = res.headers['content-type'];
    return { bytes: into ?? Buffer.concat(chunks, size), url: url.toString(), contentType: Array.isArray(ct) ? ct[0] : ct };
  }
}
