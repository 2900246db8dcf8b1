import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, type EffectiveConfig } from '../config/config';
import { delay, freePort, isPortFree, isRunning, waitUntil } from '../stack/processes';
import { stackDown, stackUp, type StackEndpoints } from '../stack/stack';
import { readStackState } from '../stack/state';

/**
 * A private copy of the embedded stack (Temporal dev server + S3 server) in a folder and on ports of its own, so a
 * benchmark or chaos run can kill and restart servers without touching the stack the developer or the tests use.
 * The Midjourney API is the caller's (an in-process simulator whose ledger the caller reads).
 */
export interface OwnStack {
  dir: string;
  endpoints: StackEndpoints;
  /** The configuration every mj-batch command would resolve for this stack (API: the caller's simulator). */
  config: EffectiveConfig;
  /** Environment for a worker process on this stack. */
  env: NodeJS.ProcessEnv;
  /** SIGKILLs the Temporal dev server and starts it again on the same SQLite file; resolves once it answers. */
  restartTemporal(): Promise<void>;
  /** Stops the S3 server for `ms`, then starts it again; resolves once it answers. */
  s3Outage(ms: number): Promise<void>;
  /** Stops both servers; the folder is removed unless `keep`. */
  stop(keep?: boolean): Promise<void>;
}

/** Settings that would point the stack or a worker elsewhere than this private stack. */
const FOREIGN_KEYS = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'S3_ENDPOINT',
  'S3_BUCKET',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'MJ_BATCH_CONFIG',
  'MJ_BATCH_STACK_DIR',
  'MJ_BASE_URL',
  'MJ_API_KEY',
  'MJ_BATCH_TASK_QUEUE',
];

export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of FOREIGN_KEYS) delete env[k];
  return env;
}

export async function startOwnStack(opts: {
  name: string;
  simUrl: string;
  simApiKey: string;
  taskQueue: string;
  log?: (line: string) => void;
}): Promise<OwnStack> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mj-batch-${opts.name}-`));
  const log = opts.log ?? (() => undefined);
  // MJ_BASE_URL makes `stack up` leave the simulator to us.
  const upEnv = { ...cleanEnv(), MJ_BASE_URL: opts.simUrl };
  const ports = { temporalPort: await freePort(), uiPort: await freePort(), s3Port: await freePort() };
  const up = () => stackUp({ dir, env: upEnv, ...ports, log, healthTimeoutMs: 120_000 });
  const endpoints = await up();
  const env: NodeJS.ProcessEnv = {
    ...cleanEnv(),
    MJ_BATCH_STACK_DIR: dir,
    // A config file in the working directory must not redirect the run.
    MJ_BATCH_CONFIG: path.join(dir, 'no-config-file.json'),
    MJ_BASE_URL: opts.simUrl,
    MJ_API_KEY: opts.simApiKey,
    MJ_BATCH_TASK_QUEUE: opts.taskQueue,
  };
  fs.writeFileSync(env.MJ_BATCH_CONFIG!, '{}\n');
  const config = loadConfig(env);

  const killRecorded = async (which: 'temporal' | 's3') => {
    const rec = readStackState(dir)?.[which].process;
    if (!rec || !isRunning(rec)) return;
    process.kill(rec.pid, 'SIGKILL');
    while (isRunning(rec)) await delay(50);
    // The kernel frees a dead server's listening ports a moment after the process is gone.
    for (const port of which === 'temporal' ? [ports.temporalPort, ports.uiPort] : [ports.s3Port]) {
      await waitUntil(
        `port ${port}`,
        async () => {
          if (!(await isPortFree(port))) throw new Error('still in use');
        },
        30_000,
      );
    }
  };
  return {
    dir,
    endpoints,
    config,
    env,
    async restartTemporal() {
      await killRecorded('temporal');
      await up();
    },
    async s3Outage(ms) {
      await killRecorded('s3');
      await delay(ms);
      await up();
    },
    async stop(keep = false) {
      await stackDown({ dir, env: upEnv });
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
