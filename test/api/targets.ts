import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MjClient, isTerminal, type Mode, type MjTask } from '../../mj-client';
import { startSimulator, type RunningSimulator } from '../../simulator/server';
import type { SimulatorSettings } from '../../simulator/options';

export interface Target {
  name: string;
  /** True for the simulator; false for a real gateway, where every job costs money. */
  simulated: boolean;
  baseUrl: string;
  apiKey: string;
  mode?: Mode;
  /** How long a job may take here. */
  jobTimeoutMs: number;
  pollMs: number;
  sim?: RunningSimulator;
  close(): Promise<void>;
}

export async function simulatorTarget(profile: 'plus' | 'gateway', extra: SimulatorSettings = {}): Promise<Target> {
  const sim = await startSimulator({ speed: 100, profile, ...extra });
  return {
    name: `simulator (${profile})`,
    simulated: true,
    baseUrl: sim.url,
    apiKey: sim.options.apiKey,
    mode: 'fast',
    jobTimeoutMs: 30_000,
    pollMs: 50,
    sim,
    close: () => sim.close(),
  };
}

/** Runs `fn` against a fresh simulator and a client for it, and closes both afterwards. */
export async function withSimulator<T>(
  profile: 'plus' | 'gateway',
  extra: SimulatorSettings,
  fn: (t: Target, c: MjClient) => Promise<T>,
): Promise<T> {
  const t = await simulatorTarget(profile, extra);
  const c = clientFor(t);
  try {
    return await fn(t, c);
  } finally {
    await c.close();
    await t.close();
  }
}

/** JSON from the simulator's admin API: typed loosely, checked by the assertions. */
export const admin = (t: Target, path: string, init?: RequestInit) =>
  fetch(`${t.baseUrl}${path}`, init).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

/** A notifyHook receiver on loopback that records every callback. */
export async function hookServer(): Promise<{ url: string; received: MjTask[]; close(): void }> {
  const received: MjTask[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`, received, close: () => server.close() };
}

/** A real gateway, when MJ_BASE_URL and MJ_API_KEY are set (MJ_MODE picks fast, relax or turbo; default fast). */
export function realTarget(): Target | undefined {
  const baseUrl = process.env.MJ_BASE_URL;
  const apiKey = process.env.MJ_API_KEY;
  if (!baseUrl || !apiKey) return undefined;
  return {
    name: `real API at ${new URL(baseUrl).host}`,
    simulated: false,
    baseUrl,
    apiKey,
    mode: (process.env.MJ_MODE as Mode | undefined) ?? 'fast',
    jobTimeoutMs: 10 * 60_000,
    pollMs: 5_000,
    close: async () => undefined,
  };
}

export function clientFor(t: Target, apiKey = t.apiKey): MjClient {
  return new MjClient({ baseUrl: t.baseUrl, apiKey, mode: t.mode });
}

/** Polls until the task is terminal, returning every distinct (status, progress) it showed on the way. */
export async function pollUntilDone(
  client: MjClient,
  t: Target,
  taskId: string,
): Promise<{ task: MjTask; seen: { status: string; progress: string | null | undefined }[] }> {
  const seen: { status: string; progress: string | null | undefined }[] = [];
  const deadline = Date.now() + t.jobTimeoutMs;
  while (Date.now() < deadline) {
    const task = await client.fetchTask(taskId);
    const last = seen[seen.length - 1];
    if (!last || last.status !== task.status || last.progress !== task.progress)
      seen.push({ status: task.status, progress: task.progress });
    if (isTerminal(task)) return { task, seen };
    await new Promise((r) => setTimeout(r, t.pollMs));
  }
  throw new Error(`task ${taskId} did not finish within ${t.jobTimeoutMs} ms; last seen ${JSON.stringify(seen[seen.length - 1])}`);
}

/** Downloads an image URL and says what format its bytes are. */
export async function download(url: string): Promise<{ status: number; bytes: Buffer; format: 'png' | 'webp' | 'jpeg' | 'unknown' }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  const bytes = Buffer.from(await res.arrayBuffer());
  const format = bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    ? 'png'
    : bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WEBP'
      ? 'webp'
      : bytes[0] === 0xff && bytes[1] === 0xd8
        ? 'jpeg'
        : 'unknown';
  return { status: res.status, bytes, format };
}
