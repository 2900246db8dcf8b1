import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveBinary, TEMPORAL_CLI, VERSITYGW } from './binaries';
import { packageRoot, stackLayout } from './paths';
import { isPortFree, isRunning, startDetached, stopProcess, type ProcessRecord } from './processes';
import { readStackState, writeStackState, type StackState } from './state';
import { checkS3, checkSimulator, checkTemporal, ensureBucket, prepareNamespace, seedExampleInputs } from './health';
import { clusterDown, clusterReports } from './cluster-processes';
import { DEFAULT_SIM_API_KEY } from '../simulator/options';
import { DEFAULT_BUCKET } from '../contracts/bucket-layout';
import type { S3Settings } from '../storage/s3-client';

/** The local stack's development credentials: loopback only, never real ones. */
export const DEV_S3_ACCESS_KEY = 'mjbatch-dev';
export const DEV_S3_SECRET_KEY = 'mjbatch-dev-secret-local-only';

export const DEFAULT_PORTS = { temporal: 7233, ui: 8233, s3: 7070, simulator: 7080 } as const;
export const DEFAULT_RETENTION_DAYS = 14;
export const SIM_API_KEY = DEFAULT_SIM_API_KEY;

export interface StackOptions {
  dir: string;
  env?: NodeJS.ProcessEnv;
  temporalPort?: number;
  uiPort?: number;
  s3Port?: number;
  simPort?: number;
  /** The simulator's speed factor (default 1, or what the running simulator was started with). */
  simSpeed?: number;
  simProfile?: 'plus' | 'gateway';
  namespace?: string;
  bucket?: string;
  region?: string;
  /** At least 7: a redrive next week must still find last week's batch. */
  retentionDays?: number;
  healthTimeoutMs?: number;
  log?: (line: string) => void;
}

export type ServiceStatus = 'started' | 'already-running' | 'external';

/** What `stack up --json` prints. Secrets of external services are never included. */
export interface StackEndpoints {
  temporalAddress: string;
  temporalNamespace: string;
  temporalUiUrl: string | null;
  s3Endpoint: string;
  s3Region: string;
  s3Bucket: string;
  s3AccessKeyId: string | null;
  s3SecretAccessKey: string | null;
  simulatorUrl: string;
  /** The simulator's key; null when MJ_BASE_URL points at a real API, whose key is never printed. */
  simulatorApiKey: string | null;
  /** The local simulator's speed factor; null for an external API. */
  simulatorSpeed: number | null;
  stackDir: string;
  services: { temporal: ServiceStatus; s3: ServiceStatus; simulator: ServiceStatus };
}

interface Resolved {
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  namespace: string;
  bucket: string;
  region: string;
  retentionDays: number;
  healthTimeoutMs: number;
}

function resolveOptions(opts: StackOptions): Resolved {
  const env = opts.env ?? process.env;
  const retentionDays = opts.retentionDays ?? DEFAULT_RETENTION_DAYS;
  if (retentionDays < 7) throw new Error(`retention must be at least 7 days (got ${retentionDays})`);
  return {
    env,
    log: opts.log ?? (() => undefined),
    namespace: opts.namespace ?? env.TEMPORAL_NAMESPACE ?? 'default',
    bucket: opts.bucket ?? env.S3_BUCKET ?? DEFAULT_BUCKET,
    region: opts.region ?? env.S3_REGION ?? env.AWS_REGION ?? 'us-east-1',
    retentionDays,
    healthTimeoutMs: opts.healthTimeoutMs ?? 60_000,
  };
}

async function assertPortFree(port: number, what: string, flagName: string): Promise<void> {
  if (!(await isPortFree(port))) {
    throw new Error(`port ${port} (${what}) is already in use by another process; pass ${flagName} to pick another port`);
  }
}

function logTail(rec: ProcessRecord): string {
  try {
    const text = fs.readFileSync(rec.logFile, 'utf8');
    return text.split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

/** Fails fast, with the server's own last log lines, when a started process dies before it is healthy. */
async function whileAlive<T>(rec: ProcessRecord | undefined, what: string, check: Promise<T>): Promise<T> {
  if (!rec) return check;
  let timer: NodeJS.Timeout | undefined;
  const died = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (!isRunning(rec)) reject(new Error(`${what} exited during start-up; last lines of ${rec.logFile}:\n${logTail(rec)}`));
    }, 200);
  });
  try {
    return await Promise.race([check, died]);
  } finally {
    clearInterval(timer);
  }
}

/**
 * Starts what is missing of the local stack (Temporal dev server with SQLite persistence and its Web UI, and an
 * S3 server with a default bucket), waits until both answer, and returns their endpoints. Safe to run twice.
 */
export async function stackUp(opts: StackOptions): Promise<StackEndpoints> {
  const o = resolveOptions(opts);
  const layout = stackLayout(opts.dir);
  const previous = readStackState(opts.dir);
  const externalTemporal = o.env.TEMPORAL_ADDRESS;
  const externalS3 = o.env.S3_ENDPOINT;

  const temporalRunning = !externalTemporal && previous?.temporal.process && isRunning(previous.temporal.process);
  const s3Running = !externalS3 && previous?.s3.process && isRunning(previous.s3.process);
  const externalMj = o.env.MJ_BASE_URL;
  const simRunning = !externalMj && previous?.simulator?.process && isRunning(previous.simulator.process);

  // Build (or find) both binaries at once: on a fresh machine the two `go install` runs overlap.
  const [temporalBin, s3Bin] = await Promise.all([
    externalTemporal || temporalRunning ? undefined : resolveBinary(TEMPORAL_CLI, { env: o.env, log: o.log }),
    externalS3 || s3Running ? undefined : resolveBinary(VERSITYGW, { env: o.env, log: o.log }),
  ]);

  const temporalPort = opts.temporalPort ?? previous?.temporal.port ?? DEFAULT_PORTS.temporal;
  const uiPort = opts.uiPort ?? previous?.temporal.uiPort ?? DEFAULT_PORTS.ui;
  const s3Port = opts.s3Port ?? previous?.s3.port ?? DEFAULT_PORTS.s3;
  const simPort = opts.simPort ?? previous?.simulator?.port ?? DEFAULT_PORTS.simulator;

  // Check every port before starting anything, so a conflict never leaves a half-started, unrecorded stack.
  const startTemporal = !externalTemporal && !temporalRunning;
  const startS3 = !externalS3 && !s3Running;
  if (startTemporal) {
    await assertPortFree(temporalPort, 'Temporal frontend', '--temporal-port');
    await assertPortFree(uiPort, 'Temporal Web UI', '--ui-port');
  }
  if (startS3) await assertPortFree(s3Port, 'S3 server', '--s3-port');
  const startSim = !externalMj && !simRunning;
  if (startSim) await assertPortFree(simPort, 'Midjourney simulator', '--sim-port');

  let temporalState: StackState['temporal'];
  let temporalStatus: ServiceStatus;
  if (externalTemporal) {
    temporalState = { external: true, address: externalTemporal, namespace: o.namespace };
    temporalStatus = 'external';
  } else if (temporalRunning && previous) {
    temporalState = previous.temporal;
    temporalStatus = 'already-running';
  } else {
    fs.mkdirSync(path.dirname(layout.temporalDb), { recursive: true });
    const args = [
      'server',
      'start-dev',
      '--db-filename',
      layout.temporalDb,
      '--ip',
      '127.0.0.1',
      '--port',
      String(temporalPort),
      '--ui-port',
      String(uiPort),
      '--namespace',
      o.namespace,
      '--log-level',
      'warn',
      '--log-format',
      'json',
    ];
    o.log(`starting Temporal dev server on 127.0.0.1:${temporalPort} (Web UI on ${uiPort}, data in ${layout.temporalDb})`);
    const proc = startDetached(temporalBin!, args, { env: o.env, logFile: path.join(layout.logsDir, 'temporal.log') });
    temporalState = {
      external: false,
      address: `127.0.0.1:${temporalPort}`,
      namespace: o.namespace,
      uiUrl: `http://127.0.0.1:${uiPort}`,
      port: temporalPort,
      uiPort,
      process: proc,
    };
    temporalStatus = 'started';
  }

  let s3State: StackState['s3'];
  let s3Status: ServiceStatus;
  if (externalS3) {
    s3State = { external: true, endpoint: externalS3, region: o.region, bucket: o.bucket };
    s3Status = 'external';
  } else if (s3Running && previous) {
    s3State = { ...previous.s3, bucket: o.bucket };
    s3Status = 'already-running';
  } else {
    for (const d of [layout.s3DataDir, layout.s3MetaDir, layout.s3IamDir]) fs.mkdirSync(d, { recursive: true });
    // Metadata goes to a sidecar folder, so the data folder works on file systems without xattrs.
    const args = [
      '--port',
      `127.0.0.1:${s3Port}`,
      '--region',
      o.region,
      '--quiet',
      '--iam-dir',
      layout.s3IamDir,
      'posix',
      '--sidecar',
      layout.s3MetaDir,
      layout.s3DataDir,
    ];
    o.log(`starting versitygw S3 server on 127.0.0.1:${s3Port} (data in ${layout.s3DataDir})`);
    // Credentials travel by environment, not argv, so they never show in the process list.
    const env = { ...o.env, ROOT_ACCESS_KEY: DEV_S3_ACCESS_KEY, ROOT_SECRET_KEY: DEV_S3_SECRET_KEY };
    const proc = startDetached(s3Bin!, args, { env, logFile: path.join(layout.logsDir, 's3.log') });
    s3State = {
      external: false,
      endpoint: `http://127.0.0.1:${s3Port}`,
      region: o.region,
      bucket: o.bucket,
      port: s3Port,
      accessKeyId: DEV_S3_ACCESS_KEY,
      secretAccessKey: DEV_S3_SECRET_KEY,
      process: proc,
    };
    s3Status = 'started';
  }

  let simState: NonNullable<StackState['simulator']>;
  let simStatus: ServiceStatus;
  if (externalMj) {
    simState = { external: true, url: externalMj.replace(/\/+$/, '') };
    simStatus = 'external';
  } else if (simRunning && previous?.simulator) {
    simState = previous.simulator;
    simStatus = 'already-running';
    if (opts.simSpeed !== undefined && opts.simSpeed !== simState.speed) {
      o.log(`the simulator already runs at speed ${simState.speed}; run \`mj-batch stack down\` first to change it to ${opts.simSpeed}`);
    }
  } else {
    const speed = opts.simSpeed ?? previous?.simulator?.speed ?? 1;
    const profile = opts.simProfile ?? (previous?.simulator?.profile as 'plus' | 'gateway' | undefined) ?? 'plus';
    const cli = path.join(packageRoot(), 'bin', 'mj-batch.js');
    const args = [
      cli,
      '--log-file',
      path.join(layout.logsDir, 'simulator.json.log'),
      'sim',
      '--port',
      String(simPort),
      '--speed',
      String(speed),
      '--profile',
      profile,
      '--api-key',
      SIM_API_KEY,
    ];
    o.log(`starting the Midjourney simulator on 127.0.0.1:${simPort} (${profile} profile, speed ×${speed})`);
    const proc = startDetached(process.execPath, args, { env: o.env, logFile: path.join(layout.logsDir, 'simulator.log') });
    simState = { external: false, url: `http://127.0.0.1:${simPort}`, port: simPort, speed, profile, apiKey: SIM_API_KEY, process: proc };
    simStatus = 'started';
  }

  // Record before the health checks, so `stack down` can stop what was started even if a check fails.
  // A cluster `stack up --cluster` recorded stays recorded (read again now: it may have been written meanwhile).
  const cluster = readStackState(opts.dir)?.cluster;
  const state: StackState = { version: 1, temporal: temporalState, s3: s3State, simulator: simState, ...(cluster ? { cluster } : {}) };
  writeStackState(opts.dir, state);

  const s3Settings = s3SettingsOf(s3State, o.env);
  await Promise.all([
    whileAlive(
      temporalState.process,
      'the Temporal dev server',
      (async () => {
        await checkTemporal(temporalState.address, o.healthTimeoutMs, temporalState.uiUrl);
        await prepareNamespace(temporalState.address, temporalState.namespace, {
          retentionDays: temporalState.external ? undefined : o.retentionDays,
          log: o.log,
        });
      })(),
    ),
    whileAlive(
      s3State.process,
      'the S3 server',
      (async () => {
        await checkS3(s3Settings, o.healthTimeoutMs);
        await ensureBucket(s3Settings);
        if (!s3State.external) await seedExampleInputs(s3Settings, path.join(packageRoot(), 'examples', 'inputs'));
      })(),
    ),
    // An external API is not probed: a real gateway may charge or rate-limit even a health check.
    simState.external
      ? undefined
      : whileAlive(simState.process, 'the Midjourney simulator', checkSimulator(simState.url, o.healthTimeoutMs)),
  ]);

  return endpointsOf(state, opts.dir, { temporal: temporalStatus, s3: s3Status, simulator: simStatus });
}

export function endpointsOf(state: StackState, dir: string, services: StackEndpoints['services']): StackEndpoints {
  return {
    temporalAddress: state.temporal.address,
    temporalNamespace: state.temporal.namespace,
    temporalUiUrl: state.temporal.uiUrl ?? null,
    s3Endpoint: state.s3.endpoint,
    s3Region: state.s3.region,
    s3Bucket: state.s3.bucket,
    s3AccessKeyId: state.s3.external ? null : (state.s3.accessKeyId ?? null),
    s3SecretAccessKey: state.s3.external ? null : (state.s3.secretAccessKey ?? null),
    simulatorUrl: state.simulator?.url ?? '',
    simulatorApiKey: state.simulator && !state.simulator.external ? (state.simulator.apiKey ?? null) : null,
    simulatorSpeed: state.simulator && !state.simulator.external ? (state.simulator.speed ?? null) : null,
    stackDir: dir,
    services,
  };
}

export interface ServiceReport {
  /** The dev stack's services, then (after `stack up --cluster`) postgres and the cluster's Temporal services. */
  name: 'temporal' | 's3' | 'simulator' | 'postgres' | 'frontend' | 'history' | 'matching' | 'worker';
  state: 'running' | 'stopped' | 'external' | 'not-configured';
  pid?: number;
  endpoint?: string;
  healthy?: boolean;
  log?: string;
}

function serviceReport(name: ServiceReport['name'], external: boolean, rec: ProcessRecord | undefined, endpoint: string): ServiceReport {
  return { name, state: external ? 'external' : rec && isRunning(rec) ? 'running' : 'stopped', pid: rec?.pid, endpoint, log: rec?.logFile };
}

/** S3 settings for the recorded server: its dev keys, or for an external one the caller's own credentials. */
function s3SettingsOf(s3: StackState['s3'], env: NodeJS.ProcessEnv): S3Settings {
  return {
    endpoint: s3.endpoint,
    region: s3.region,
    bucket: s3.bucket,
    forcePathStyle: true,
    accessKeyId: s3.external ? env.AWS_ACCESS_KEY_ID : s3.accessKeyId,
    secretAccessKey: s3.external ? env.AWS_SECRET_ACCESS_KEY : s3.secretAccessKey,
  };
}

/** What runs now, with a quick health check of each endpoint. */
export async function stackStatus(opts: StackOptions): Promise<ServiceReport[]> {
  const state = readStackState(opts.dir);
  if (!state) return (['temporal', 's3', 'simulator'] as const).map((name) => ({ name, state: 'not-configured' }));
  const env = opts.env ?? process.env;
  const quick = 3_000;
  const temporal = serviceReport('temporal', state.temporal.external, state.temporal.process, state.temporal.address);
  const s3 = serviceReport('s3', state.s3.external, state.s3.process, state.s3.endpoint);
  const sim = state.simulator;
  const simulator: ServiceReport = sim
    ? serviceReport('simulator', sim.external, sim.process, sim.url)
    : { name: 'simulator', state: 'not-configured' };
  const s3Settings = s3SettingsOf(state.s3, env);
  [temporal.healthy, s3.healthy, simulator.healthy] = await Promise.all([
    temporal.state === 'stopped'
      ? false
      : checkTemporal(state.temporal.address, quick).then(
          () => true,
          () => false,
        ),
    s3.state === 'stopped'
      ? false
      : checkS3(s3Settings, quick).then(
          () => true,
          () => false,
        ),
    simulator.state === 'running'
      ? checkSimulator(sim!.url, quick).then(
          () => true,
          () => false,
        )
      : simulator.state === 'stopped'
        ? false
        : undefined,
  ]);
  return [temporal, s3, simulator, ...(state.cluster ? await clusterReports(state.cluster) : [])];
}

/** Stops the servers this stack started, by their recorded pids. Data stays on disk for the next `up`. */
export async function stackDown(
  opts: StackOptions & { only?: ('temporal' | 's3' | 'simulator' | 'cluster')[] },
): Promise<{ name: string; result: 'stopped' | 'not-running' | 'external' }[]> {
  const state = readStackState(opts.dir);
  if (!state) return [];
  const wanted = (name: 'temporal' | 's3' | 'simulator' | 'cluster') => !opts.only || opts.only.includes(name);
  const stop = async (name: 'temporal' | 's3' | 'simulator', external: boolean, rec?: ProcessRecord) => ({
    name,
    result: external ? ('external' as const) : rec ? await stopProcess(rec) : ('not-running' as const),
  });
  // The cluster (its services, then PostgreSQL) stops beside the rest: S3 and the simulator do not depend on it.
  const [cluster, rest] = await Promise.all([
    wanted('cluster') ? clusterDown(opts.dir) : [],
    Promise.all([
      ...(wanted('temporal') ? [stop('temporal', state.temporal.external, state.temporal.process)] : []),
      ...(wanted('s3') ? [stop('s3', state.s3.external, state.s3.process)] : []),
      ...(wanted('simulator') && state.simulator ? [stop('simulator', state.simulator.external, state.simulator.process)] : []),
    ]),
  ]);
  return [...rest, ...cluster];
}
