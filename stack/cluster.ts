import * as fs from 'node:fs';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { resolveBinary, TEMPORAL_SERVER, TEMPORAL_SQL_TOOL } from './binaries';
import {
  clusterPorts,
  DEFAULT_CLUSTER_PORT,
  DEFAULT_POSTGRES_PORT,
  dynamicConfigYaml,
  portsInUse,
  POSTGRES_PASSWORD,
  POSTGRES_USER,
  SERVER_ENV,
  serverConfigYaml,
  SQL_PLUGIN,
  TEMPORAL_DATABASE,
  VISIBILITY_DATABASE,
  type ClusterPorts,
} from './cluster-config';
import { clusterReports, type ClusterServiceReport } from './cluster-processes';
import { prepareNamespace } from './health';
import { stackLayout } from './paths';
import {
  ensurePostgresInstalled,
  initPostgres,
  postgresDataDir,
  runToEnd,
  startPostgres,
  waitForPostgres,
  type PostgresBin,
} from './postgres';
import { isPortFree, isRunning, startDetached, waitUntil, type ProcessRecord } from './processes';
import { DEFAULT_RETENTION_DAYS, stackUp, type StackEndpoints, type StackOptions } from './stack';
import { CLUSTER_SERVICES, readStackState, writeStackState, type ClusterServiceName, type ClusterState } from './state';

export interface ClusterOptions extends StackOptions {
  /** The frontend's gRPC port (default 7433); the other services' ports follow from it. */
  clusterPort?: number;
  postgresPort?: number;
}

export interface ClusterEndpoints extends StackEndpoints {
  cluster: {
    /** What TEMPORAL_ADDRESS should name to run mj-batch on the cluster. */
    address: string;
    namespace: string;
    services: ClusterServiceReport[];
    started: string[];
  };
}

interface ClusterLayout {
  dir: string;
  postgresData: string;
  configDir: string;
  dynamicConfig: string;
  schemaMarker: string;
}

function clusterLayout(stackDir: string): ClusterLayout {
  const dir = stackLayout(stackDir).clusterDir;
  return {
    dir,
    postgresData: postgresDataDir(path.join(dir, 'postgres')),
    configDir: path.join(dir, 'config'),
    dynamicConfig: path.join(dir, 'config', 'dynamic.yaml'),
    // Written once both databases have the server version's schema; a later server version updates them again.
    schemaMarker: path.join(dir, `schema-${TEMPORAL_SERVER.version}.done`),
  };
}

/** Finds or builds the cluster's binaries and PostgreSQL without starting anything (`stack install --cluster`). */
export async function installCluster(opts: { env?: NodeJS.ProcessEnv; log?: (line: string) => void } = {}) {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => undefined);
  const [server, sqlTool] = await Promise.all([
    resolveBinary(TEMPORAL_SERVER, { env, log }),
    resolveBinary(TEMPORAL_SQL_TOOL, { env, log }),
  ]);
  const postgres = ensurePostgresInstalled(env, log);
  return { server, sqlTool, postgres };
}

/** The schema tool against one of our databases. */
async function sqlTool(tool: string, ports: ClusterPorts, database: string, args: string[], env: NodeJS.ProcessEnv) {
  const connect = ['--plugin', SQL_PLUGIN, '--ep', '127.0.0.1', '--port', String(ports.postgres), '--user', POSTGRES_USER];
  // The password travels by environment (SQL_PASSWORD, the tool's own variable), not argv.
  return runToEnd(tool, [...connect, '--db', database, ...args], { ...env, SQL_PASSWORD: POSTGRES_PASSWORD });
}

/**
 * Creates both databases and brings their schemas to the server's version, from the schemas the tool carries
 * (`schema/postgresql/v12/{temporal,visibility}` of the server's module). Done once per server version.
 */
async function setUpSchemas(tool: string, ports: ClusterPorts, layout: ClusterLayout, env: NodeJS.ProcessEnv, log: (l: string) => void) {
  if (fs.existsSync(layout.schemaMarker)) return;
  const freshDatabase = !fs.readdirSync(layout.dir).some((f) => f.startsWith('schema-'));
  for (const [database, schema] of [
    [TEMPORAL_DATABASE, 'postgresql/v12/temporal'],
    [VISIBILITY_DATABASE, 'postgresql/v12/visibility'],
  ] as const) {
    log(`setting up the ${database} database (schema ${schema})`);
    const steps: string[][] = [
      // An interrupted first run may have created the database already; that is not an error here.
      ['create-database', '--defaultdb', 'postgres'],
      // Only on a database no server version ever finished: versioning tables from scratch (dropping a half-made set).
      ...(freshDatabase ? [['setup-schema', '-v', '0.0', '--overwrite']] : []),
      ['update-schema', '--schema-name', schema],
    ];
    for (const step of steps) {
      const run = await sqlTool(tool, ports, database, step, env);
      if (run.code !== 0 && !(step[0] === 'create-database' && /already exists/.test(run.output))) {
        throw new Error(`temporal-sql-tool ${step.join(' ')} (database ${database}) failed with exit code ${run.code}:\n${run.output}`);
      }
    }
  }
  fs.writeFileSync(layout.schemaMarker, `${new Date().toISOString()}\n`);
}

function serverArgs(layout: ClusterLayout, service: ClusterServiceName): string[] {
  // --root and --config are joined by the server: an absolute --config would be taken as relative to --root.
  return ['--root', layout.dir, '--config', 'config', '--env', SERVER_ENV, '--allow-no-auth', 'start', '--service', service];
}

async function withConnection<T>(address: string, fn: (c: Connection) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address, connectTimeout: '2s' });
  try {
    return await fn(connection);
  } finally {
    await connection.close();
  }
}

const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
const codeOf = (err: unknown) => (err as { code?: number }).code;

/**
 * A real server starts with no namespace: register ours with the stack's retention (a running one keeps what it
 * has, raised to the minimum if lower), then its search attributes, as the dev stack does.
 */
async function prepareClusterNamespace(address: string, namespace: string, retentionDays: number, log: (l: string) => void) {
  await withConnection(address, async (c) => {
    try {
      await c.workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: msToTs(retentionDays * 86_400_000),
        description: 'mj-batch (stack up --cluster)',
      });
      log(`registered namespace ${namespace} (retention ${retentionDays} days)`);
    } catch (err) {
      if (codeOf(err) !== ALREADY_EXISTS) throw err;
    }
  });
  await prepareNamespace(address, namespace, { retentionDays, log });
}

/**
 * Every service answers: the frontend knows the namespace (its cache refreshes every few seconds after a
 * registration), matching describes a task queue, and history looks a workflow up (NotFound is its answer).
 */
async function waitUntilServing(address: string, namespace: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  await waitUntil(
    `the Temporal cluster at ${address}`,
    () =>
      withConnection(address, async (c) => {
        await c.workflowService.describeTaskQueue({
          namespace,
          taskQueue: { name: 'mj-batch-readiness-probe' },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        });
        try {
          await c.workflowService.describeWorkflowExecution({ namespace, execution: { workflowId: 'mj-batch-readiness-probe' } });
        } catch (err) {
          if (codeOf(err) !== NOT_FOUND || /namespace/i.test((err as Error).message)) throw err;
        }
      }),
    timeoutMs,
    signal,
  );
}

/**
 * Fails fast, with the log's last lines, when a process we just started dies before the cluster serves; the check
 * is told to stop then, so a failed `up` ends at once instead of polling on until its timeout.
 */
async function whileAllAlive<T>(recs: ProcessRecord[], check: (signal: AbortSignal) => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stop = new AbortController();
  const died = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      const dead = recs.find((r) => !isRunning(r));
      if (!dead) return;
      stop.abort();
      const tail = fs.existsSync(dead.logFile) ? fs.readFileSync(dead.logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
      reject(new Error(`${path.basename(dead.logFile, '.log')} exited during start-up; last lines of ${dead.logFile}:\n${tail}`));
    }, 250);
  });
  try {
    return await Promise.race([check(stop.signal), died]);
  } finally {
    clearInterval(timer);
  }
}

/**
 * `stack up --cluster`: the dev stack as `stack up` makes it (S3 and the simulator are shared), plus a Temporal
 * server on PostgreSQL with frontend, history, matching and worker as separate processes. Starts whatever of it is
 * not running (a killed service comes back), and waits until every service serves the namespace.
 */
export async function clusterUp(opts: ClusterOptions): Promise<ClusterEndpoints> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => undefined);
  const healthTimeoutMs = opts.healthTimeoutMs ?? 120_000;
  const layout = clusterLayout(opts.dir);
  const logsDir = stackLayout(opts.dir).logsDir;
  const previous = readStackState(opts.dir)?.cluster;
  const port = opts.clusterPort ?? previous?.port ?? DEFAULT_CLUSTER_PORT;
  const postgresPort = opts.postgresPort ?? previous?.postgresPort ?? DEFAULT_POSTGRES_PORT;
  const ports = clusterPorts(port, postgresPort);
  const address = `127.0.0.1:${port}`;
  const namespace = opts.namespace ?? env.TEMPORAL_NAMESPACE ?? 'default';
  const retentionDays = opts.retentionDays ?? DEFAULT_RETENTION_DAYS;

  // TEMPORAL_ADDRESS naming this cluster (as `up` told the user to export) must not make the dev server "external".
  const devEnv = { ...env };
  if (devEnv.TEMPORAL_ADDRESS === address || devEnv.TEMPORAL_ADDRESS === `localhost:${port}`) delete devEnv.TEMPORAL_ADDRESS;
  const [endpoints, bins] = await Promise.all([stackUp({ ...opts, env: devEnv }), installCluster({ env, log })]);

  const postgresRunning = !!previous?.postgres && isRunning(previous.postgres);
  const anyRunning = postgresRunning || CLUSTER_SERVICES.some((n) => previous?.services[n] && isRunning(previous.services[n]!));
  if (previous && anyRunning && (previous.port !== port || previous.postgresPort !== postgresPort)) {
    throw new Error(
      `the cluster runs on ${previous.address} (PostgreSQL ${previous.postgresPort}); run \`mj-batch stack down --cluster\` first to move it`,
    );
  }
  const toStart = CLUSTER_SERVICES.filter((name) => !(previous?.services[name] && isRunning(previous.services[name]!)));
  const busy = [
    ...(postgresRunning ? [] : [{ port: ports.postgres, what: 'PostgreSQL', flag: '--postgres-port' }]),
    ...portsInUse(ports)
      .filter(({ what }) => toStart.some((name) => what.startsWith(`Temporal ${name} `)))
      .map((p) => ({ ...p, flag: '--cluster-port' })),
  ];
  for (const { port: p, what, flag } of busy) {
    if (!(await isPortFree(p))) throw new Error(`port ${p} (${what}) is already in use by another process; pass ${flag} to pick another`);
  }

  const cluster: ClusterState = {
    address,
    namespace,
    port,
    postgresPort,
    postgres: previous?.postgres,
    services: { ...previous?.services },
  };
  const record = () => {
    const state = readStackState(opts.dir);
    if (state) writeStackState(opts.dir, { ...state, cluster });
  };
  const started: string[] = [];
  const fresh: ProcessRecord[] = [];

  if (!postgresRunning) {
    fs.mkdirSync(layout.dir, { recursive: true });
    // A new database cluster has no schemas, whatever markers an older one left.
    if (await initPostgres(bins.postgres, layout.postgresData, env, log)) {
      for (const f of fs.readdirSync(layout.dir)) if (f.startsWith('schema-')) fs.rmSync(path.join(layout.dir, f));
    }
    log(`starting PostgreSQL on 127.0.0.1:${ports.postgres} (data in ${layout.postgresData})`);
    cluster.postgres = await startPostgres(bins.postgres, layout.postgresData, ports.postgres, path.join(logsDir, 'postgres.log'), env);
    started.push('postgres');
    fresh.push(cluster.postgres);
    record();
  }
  await whileAllAlive(fresh, (signal) => waitForPostgres(bins.postgres, ports.postgres, healthTimeoutMs, env, signal));
  await setUpSchemas(bins.sqlTool, ports, layout, env, log);

  fs.mkdirSync(layout.configDir, { recursive: true });
  fs.writeFileSync(path.join(layout.configDir, `${SERVER_ENV}.yaml`), serverConfigYaml(ports, layout.dynamicConfig), { mode: 0o600 });
  fs.writeFileSync(layout.dynamicConfig, dynamicConfigYaml());
  if (toStart.length > 0) log(`starting Temporal ${toStart.join(', ')} (frontend on ${address})`);
  const start = (name: ClusterServiceName) => {
    const rec = startDetached(bins.server, serverArgs(layout, name), { env, logFile: path.join(logsDir, `temporal-${name}.log`) });
    cluster.services[name] = rec;
    started.push(name);
    fresh.push(rec);
    record();
  };
  // Each service writes the cluster's metadata row on its first start, and on an empty database all but one of them
  // would fail on the duplicate key: one service goes first, the others once it listens (the row is there by then).
  const [first, ...others] = toStart;
  if (first) {
    start(first);
    const port = first === 'worker' ? ports.membership.worker : ports.grpc[first];
    const listening = async () => {
      if (await isPortFree(port)) throw new Error('not listening yet');
    };
    await whileAllAlive(fresh, (signal) => waitUntil(`Temporal ${first} on 127.0.0.1:${port}`, listening, healthTimeoutMs, signal));
  }
  others.forEach(start);

  await whileAllAlive(fresh, async (signal) => {
    const frontend = () => withConnection(address, (c) => c.workflowService.getSystemInfo({}));
    await waitUntil(`the Temporal frontend at ${address}`, frontend, healthTimeoutMs, signal);
    const namespaceReady = () => prepareClusterNamespace(address, namespace, retentionDays, log);
    await waitUntil(`namespace ${namespace} on ${address}`, namespaceReady, healthTimeoutMs, signal);
    await waitUntilServing(address, namespace, healthTimeoutMs, signal);
  });
  return { ...endpoints, cluster: { address, namespace, services: await clusterReports(cluster), started } };
}

export type { PostgresBin };
