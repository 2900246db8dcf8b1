import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../stack/paths';

/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

export interface ProcessUsage {
  /** Peak resident set (VmHWM), bytes. */
  peakRssBytes: number;
  /** User + system CPU, ms. */
  cpuMs: number;
}

/** User + system CPU time of a live process, ms, from /proc/<pid>/stat (Linux); null where it cannot be read. */
export function cpuMsOf(pid: number): number | null {
  try {
    // The command name may hold spaces or parentheses: fields are counted after its closing parenthesis.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return null;
  }
}

/** Peak RSS and CPU time of a live process, from /proc (Linux); null where /proc is missing or the process is gone. */
export function usageOf(pid: number): ProcessUsage | null {
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    const cpuMs = cpuMsOf(pid);
    return cpuMs === null ? null : { peakRssBytes: Number(hwm?.[1] ?? 0) * 1024, cpuMs };
  } catch {
    return null;
  }
}

/**
 * `mj-batch worker` as its own process, the way users run it: started, killed (SIGKILL, no drain), started again.
 * Its output goes to a log file; `ready()` waits for the line saying it polls.
 */
export class WorkerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private starts = 0;
  private readonly cli = path.join(packageRoot(), 'bin', 'mj-batch.js');

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly logFile: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  get restarts(): number {
    return Math.max(0, this.starts - 1);
  }

  /** Starts the worker and resolves once it polls its task queues. */
  async start(timeoutMs = 120_000): Promise<void> {
    fs.mkdirSync(path.dirname(this.logFile), { recursive: true });
    const out = fs.openSync(this.logFile, 'a');
    const mark = fs.fstatSync(out).size;
    fs.writeSync(out, `--- start ${++this.starts} at ${new Date().toISOString()}\n`);
    const child = spawn(process.execPath, [this.cli, 'worker'], { env: this.env, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the worker exited during start-up; see ${this.logFile}`);
      const text = readFrom(this.logFile, mark);
      if (text.includes('worker polling')) return;
      if (Date.now() > deadline) throw new Error(`the worker did not start polling within ${timeoutMs} ms; see ${this.logFile}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGKILL: no drain, in-flight activities are lost mid-call, as when a machine dies. */
  async kill(): Promise<void> {
    if (this.pid !== undefined) this.child!.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM and wait: the worker drains in-flight work first. */
  async stop(): Promise<void> {
    if (this.pid !== undefined) this.child!.kill('SIGTERM');
    await this.exited;
  }

  usage(): ProcessUsage | null {
    return this.pid === undefined ? null : usageOf(this.pid);
  }

  /** Whether the process is gone without being asked (a crash). */
  get crashed(): boolean {
    return this.child !== undefined && this.pid === undefined;
  }
}

function readFrom(file: string, offset: number): string {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - offset));
    fs.readSync(fd, buf, 0, buf.length, offset);
    return buf.toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}
