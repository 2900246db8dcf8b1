import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, type EffectiveConfig } from '../config/config';
import { clusterPorts, portsInUse } from '../stack/cluster-config';
import { clusterUp, type ClusterEndpoints } from '../stack/cluster';
import { delay, freePort, isPortFree, isRunning, waitUntil } from '../stack/processes';
import { stackDown } from '../stack/stack';
import { readStackState, type ClusterServiceName } from '../stack/state';
import { cleanEnv } from './own-stack';

/**
 * A private `stack up --cluster` (Temporal server on PostgreSQL, services as separate processes, plus the S3 server)
 * in a folder and on ports of its own, so a chaos run can SIGKILL the frontend or history without touching the
 * stack the developer or the tests use. The Midjourney API is the caller's in-process simulator.
 */
export interface OwnCluster {
  dir: string;
  endpoints: ClusterEndpoints;
  config: EffectiveConfig;
  /** Environment for a worker process on this cluster. */
  env: NodeJS.ProcessEnv;
  /** SIGKILLs one Temporal service and lets `stack up --cluster` start it again; resolves once the cluster serves. */
  restartService(name: ClusterServiceName): Promise<void>;
  /** Stops the S3 server for `ms`, then starts it again; resolves once it answers. */
  s3Outage(ms: number): Promise<void>;
  stop(keep?: boolean): Promise<void>;
}

async function allFree(ports: number[]): Promise<boolean> {
  for (const p of ports) if (!(await isPortFree(p))) return false;
  return true;
}

/** A frontend port whose derived ports (history +1, ..., membership -300) are all free too. */
async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below 33061: the membership ports (300 lower) must fit a SMALLINT (see clusterPorts).
    const candidate = 20_000 + Math.floor(Math.random() * 13_000);
    if (await allFree(portsInUse(clusterPorts(candidate, 0)).map((p) => p.port))) return candidate;
  }
  throw new Error('no free block of ports for a private cluster');
}

async function waitPortFree(port: number): Promise<void> {
  await waitUntil(
    `port ${port}`,
    async () => {
      if (!(await isPortFree(port))) throw new Error('still in use');
    },
    30_000,
  );
}

export async function startOwnCluster(opts: {
  name: string;
  simUrl: string;
  simApiKey: string;
  taskQueue: string;
  log?: (line: string) => void;
}): Promise<OwnCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mj-batch-${opts.name}-`));
  // Under root PostgreSQL runs as the postgres account, which must reach its data folder inside this one.
  fs.chmodSync(dir, 0o755);
  const log = opts.log ?? (() => undefined);
  // MJ_BASE_URL makes `stack up` leave the simulator to us.
  const upEnv = { ...cleanEnv(), MJ_BASE_URL: opts.simUrl };
  const ports = {
    temporalPort: await freePort(),
    uiPort: await freePort(),
    s3Port: await freePort(),
    clusterPort: await freeClusterPort(),
    postgresPort: await freePort(),
  };
  const up = () => clusterUp({ dir, env: upEnv, ...ports, log, healthTimeoutMs: 180_000 });
  const endpoints = await up().catch(async (err: unknown) => {
    // Whatever did start (PostgreSQL, S3...) must not outlive a failed start; the folder stays for its logs.
    await stackDown({ dir, env: upEnv }).catch(() => undefined);
    throw new Error(`${(err as Error).message}\n(private cluster's logs: ${path.join(dir, 'logs')})`);
  });
  const env: NodeJS.ProcessEnv = {
    ...cleanEnv(),
    MJ_BATCH_STACK_DIR: dir,
    TEMPORAL_ADDRESS: endpoints.cluster.address,
    MJ_BATCH_CONFIG: path.join(dir, 'no-config-file.json'),
    MJ_BASE_URL: opts.simUrl,
    MJ_API_KEY: opts.simApiKey,
    MJ_BATCH_TASK_QUEUE: opts.taskQueue,
  };
  fs.writeFileSync(env.MJ_BATCH_CONFIG!, '{}\n');
  const config = loadConfig(env);
  return {
    dir,
    endpoints,
    config,
    env,
    async restartService(name) {
      const rec = readStackState(dir)?.cluster?.services[name];
      if (rec && isRunning(rec)) {
        process.kill(rec.pid, 'SIGKILL');
        while (isRunning(rec)) await delay(50);
      }
      const p = clusterPorts(ports.clusterPort, ports.postgresPort);
      // The kernel frees a dead server's listening ports a moment after the process is gone.
      await waitPortFree(p.membership[name]);
      if (name !== 'worker') await waitPortFree(p.grpc[name]);
      await up();
    },
    async s3Outage(ms) {
      const rec = readStackState(dir)?.s3.process;
      if (rec && isRunning(rec)) {
        process.kill(rec.pid, 'SIGKILL');
        while (isRunning(rec)) await delay(50);
        await waitPortFree(ports.s3Port);
      }
      await delay(ms);
      await up();
    },
    async stop(keep = false) {
      await stackDown({ dir, env: upEnv });
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
