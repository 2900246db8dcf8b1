import { Command, InvalidArgumentError, Option } from 'commander';
import { resolveBinary, TEMPORAL_CLI, VERSITYGW } from '../stack/binaries';
import { clusterUp, installCluster, type ClusterEndpoints } from '../stack/cluster';
import { defaultStackDir } from '../stack/paths';
import { stackDown, stackStatus, stackUp, type StackOptions } from '../stack/stack';
import { printJson, printLines, progress } from './output';
import { STACK_EXIT } from './exit-codes';

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a port number from 1 to 65535');
  return n;
}

function parseDays(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 7) throw new InvalidArgumentError('must be a whole number of days, at least 7');
  return n;
}

interface CommonFlags {
  dir?: string;
  json?: boolean;
}

function baseOptions(flags: CommonFlags): StackOptions {
  return { dir: flags.dir ?? defaultStackDir(), log: progress };
}

export function stackCommand(): Command {
  const stack = new Command('stack').description(
    'the local stack: Temporal dev server, S3 server and Midjourney simulator (data in .mj-batch/); --cluster adds a Temporal server on PostgreSQL',
  );
  const dirOption = ['--dir <path>', 'where the stack keeps data, pids and logs (default: ./.mj-batch, or $MJ_BATCH_STACK_DIR)'] as const;

  stack
    .command('up')
    .description('install what is missing, start the servers in the background, and wait until they answer')
    .option(...dirOption)
    .option('--temporal-port <port>', 'Temporal frontend port (default 7233)', parsePort)
    .option('--ui-port <port>', 'Temporal Web UI port (default 8233)', parsePort)
    .option('--s3-port <port>', 'S3 server port (default 7070)', parsePort)
    .option('--sim-port <port>', 'Midjourney simulator port (default 7080)', parsePort)
    .option('--sim-speed <factor>', 'simulator speed: every job duration is divided by this (default 1)', (v) => {
      const n = Number(v);
      if (!(n > 0)) throw new InvalidArgumentError('must be a positive number');
      return n;
    })
    .addOption(
      new Option('--sim-profile <profile>', 'simulate a Plus proxy or a new-api gateway (default plus)').choices(['plus', 'gateway']),
    )
    .option('--bucket <name>', 'the default bucket to create (default mj-batch, or $S3_BUCKET)')
    .option('--retention-days <days>', 'how long Temporal keeps closed workflows (default 14, at least 7)', parseDays)
    .option('--cluster', 'also run a real Temporal server on PostgreSQL (frontend, history, matching, worker as processes)')
    .option('--cluster-port <port>', "the cluster's frontend port (default 7433; history +1, matching +2, worker +6)", parsePort)
    .option('--postgres-port <port>', "the cluster's PostgreSQL port (default 7432)", parsePort)
    .option('--json', 'print one JSON object with the endpoints')
    .action(
      async (
        flags: CommonFlags & {
          temporalPort?: number;
          uiPort?: number;
          s3Port?: number;
          simPort?: number;
          simSpeed?: number;
          simProfile?: 'plus' | 'gateway';
          bucket?: string;
          retentionDays?: number;
          cluster?: boolean;
          clusterPort?: number;
          postgresPort?: number;
        },
      ) => {
        const started = Date.now();
        const up = flags.cluster
          ? (o: StackOptions) => clusterUp({ ...o, clusterPort: flags.clusterPort, postgresPort: flags.postgresPort })
          : stackUp;
        const endpoints: Awaited<ReturnType<typeof stackUp>> & Partial<Pick<ClusterEndpoints, 'cluster'>> = await up({
          ...baseOptions(flags),
          temporalPort: flags.temporalPort,
          uiPort: flags.uiPort,
          s3Port: flags.s3Port,
          simPort: flags.simPort,
          simSpeed: flags.simSpeed,
          simProfile: flags.simProfile,
          bucket: flags.bucket,
          retentionDays: flags.retentionDays,
        });
        if (flags.json) return printJson(endpoints);
        printLines([
          `stack is up (${((Date.now() - started) / 1000).toFixed(1)} s)`,
          `  Temporal     ${endpoints.temporalAddress}  namespace ${endpoints.temporalNamespace}  [${endpoints.services.temporal}]`,
          ...(endpoints.temporalUiUrl ? [`  Web UI       ${endpoints.temporalUiUrl}`] : []),
          `  S3           ${endpoints.s3Endpoint}  bucket ${endpoints.s3Bucket}  region ${endpoints.s3Region}  [${endpoints.services.s3}]`,
          ...(endpoints.s3AccessKeyId
            ? [`  S3 dev keys  ${endpoints.s3AccessKeyId} / ${endpoints.s3SecretAccessKey}  (local stack only)`]
            : []),
          `  Midjourney   ${endpoints.simulatorUrl}${endpoints.simulatorApiKey ? `  key ${endpoints.simulatorApiKey} (simulator)` : ''}  [${endpoints.services.simulator}]`,
          `  data         ${endpoints.stackDir}`,
          ...(endpoints.cluster
            ? [
                `  cluster      ${endpoints.cluster.address}  namespace ${endpoints.cluster.namespace}  [${endpoints.cluster.started.length > 0 ? `started ${endpoints.cluster.started.join(', ')}` : 'already-running'}]`,
                ...endpoints.cluster.services.map((s) => `    ${s.name.padEnd(9)} ${s.endpoint}  pid ${s.pid}`),
                `  to run mj-batch on the cluster: export TEMPORAL_ADDRESS=${endpoints.cluster.address}`,
              ]
            : []),
        ]);
      },
    );

  stack
    .command('install')
    .description('find or build the server binaries (temporal, versitygw) without starting anything')
    .option('--cluster', "also the cluster's: temporal-server, temporal-sql-tool, and PostgreSQL (apt-get, as root or sudo -n)")
    .option('--json', 'print one JSON object with the binary paths')
    .action(async (flags: CommonFlags & { cluster?: boolean }) => {
      const started = Date.now();
      const [temporal, versitygw, cluster] = await Promise.all([
        resolveBinary(TEMPORAL_CLI, { log: progress }),
        resolveBinary(VERSITYGW, { log: progress }),
        flags.cluster ? installCluster({ log: progress }) : undefined,
      ]);
      const seconds = Number(((Date.now() - started) / 1000).toFixed(1));
      const clusterBins = cluster && { temporalServer: cluster.server, temporalSqlTool: cluster.sqlTool, postgres: cluster.postgres.dir };
      if (flags.json) return printJson({ temporal, versitygw, ...clusterBins, seconds });
      printLines([
        `  temporal           ${temporal}`,
        `  versitygw          ${versitygw}`,
        ...(clusterBins
          ? [
              `  temporal-server    ${clusterBins.temporalServer}`,
              `  temporal-sql-tool  ${clusterBins.temporalSqlTool}`,
              `  postgres           ${clusterBins.postgres}`,
            ]
          : []),
        `  (${seconds} s)`,
      ]);
    });

  stack
    .command('down')
    .description('stop the servers `up` started (by recorded pid); their data stays for the next `up`')
    .option(...dirOption)
    .option('--cluster', 'stop only the cluster (its Temporal services and PostgreSQL), not the dev stack')
    .option('--json', 'print one JSON object')
    .action(async (flags: CommonFlags & { cluster?: boolean }) => {
      const results = await stackDown({ ...baseOptions(flags), only: flags.cluster ? ['cluster'] : undefined });
      if (flags.json) return printJson({ services: results });
      if (results.length === 0) return printLines(['no stack recorded here; nothing to stop']);
      printLines(results.map((r) => `  ${r.name.padEnd(9)} ${r.result}`));
    });

  stack
    .command('status')
    .description('say what runs and whether it answers; exits non-zero when a service is down')
    .option(...dirOption)
    .option('--json', 'print one JSON object')
    .action(async (flags: CommonFlags) => {
      const services = await stackStatus(baseOptions(flags));
      const healthy = services.every((s) => s.healthy === true);
      if (flags.json) printJson({ healthy, services });
      else
        printLines(
          services.map(
            (s) =>
              `  ${s.name.padEnd(9)} ${s.state.padEnd(15)} ${s.endpoint ?? ''}${s.pid ? `  pid ${s.pid}` : ''}${s.healthy === undefined ? '' : s.healthy ? '  healthy' : '  NOT ANSWERING'}`,
          ),
        );
      if (!healthy) process.exitCode = STACK_EXIT.unhealthy;
    });

  return stack;
}
