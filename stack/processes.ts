import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/** What `stack up` records about a server it started, so `down` can stop exactly that process. */
export interface ProcessRecord {
  pid: number;
  command: string;
  args: string[];
  logFile: string;
  startedAt: string;
}

export interface StartOptions {
  env: NodeJS.ProcessEnv;
  logFile: string;
  cwd?: string;
}

/** Starts a server in the background, detached from this process, with its output appended to a log file. */
export function startDetached(command: string, args: string[], opts: StartOptions): ProcessRecord {
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = fs.openSync(opts.logFile, 'a');
  try {
    const child = spawn(command, args, { env: opts.env, cwd: opts.cwd, detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    child.unref();
    return { pid: child.pid, command, args, logFile: opts.logFile, startedAt: new Date().toISOString() };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * True while the recorded process is alive and is still the command we started. Where /proc exists the whole
 * command line is compared: a pid reused by another program, or by another node process (a worker where the
 * simulator was), is never mistaken for ours.
 */
export function isRunning(rec: ProcessRecord): boolean {
  try {
    process.kill(rec.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const procFile = `/proc/${rec.pid}/cmdline`;
  if (!fs.existsSync('/proc/self/cmdline')) return true;
  try {
    const argv = fs.readFileSync(procFile, 'utf8').split('\0');
    return [rec.command, ...rec.args].every((arg, i) => argv[i] === arg);
  } catch {
    return false;
  }
}

/** Stops a recorded process: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopProcess(rec: ProcessRecord, graceMs = 10_000): Promise<'stopped' | 'not-running'> {
  if (!isRunning(rec)) return 'not-running';
  process.kill(rec.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(rec)) return 'stopped';
    await delay(100);
  }
  if (isRunning(rec)) process.kill(rec.pid, 'SIGKILL');
  while (isRunning(rec)) await delay(50);
  return 'stopped';
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when nothing listens on host:port (a TCP connect is refused). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** A port the OS considers free right now (for tests and for stacks that must not collide). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const addr = server.address();
      server.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Polls `check` until it resolves, or throws the last error once `timeoutMs` has passed (or `signal` aborts). */
export async function waitUntil<T>(what: string, check: () => Promise<T>, timeoutMs: number, signal?: AbortSignal): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new Error(`stopped waiting for ${what}`);
    try {
      return await check();
    } catch (err) {
      lastError = err;
    }
    await delay(250);
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new Error(`${what} did not become healthy within ${Math.round(timeoutMs / 1000)} s: ${reason}`);
}
