import type { ClusterServiceName } from './state';

/**
 * The ports of `stack up --cluster`. They sit beside the dev stack's (Temporal 7233, UI 8233, S3 7070, simulator
 * 7080), so both Temporal servers run at once. The other services' ports follow from the frontend's, the way
 * Temporal's own configs lay them out (7233 frontend, 7234 history, 7235 matching, 7239 worker; membership 300 below).
 */
export const DEFAULT_CLUSTER_PORT = 7433;
export const DEFAULT_POSTGRES_PORT = 7432;

const OFFSETS: Record<ClusterServiceName, number> = { frontend: 0, history: 1, matching: 2, worker: 6 };
const MEMBERSHIP_BELOW = 300;
const FRONTEND_HTTP_ABOVE = 10;

export interface ClusterPorts {
  grpc: Record<ClusterServiceName, number>;
  membership: Record<ClusterServiceName, number>;
  frontendHttp: number;
  postgres: number;
}

export function clusterPorts(frontendPort: number, postgresPort: number): ClusterPorts {
  const each = (below: number) =>
    Object.fromEntries(Object.entries(OFFSETS).map(([name, offset]) => [name, frontendPort + offset - below])) as Record<
      ClusterServiceName,
      number
    >;
  // Membership ports are stored in a SMALLINT column (cluster_membership.rpc_port): above 32767 a service cannot join.
  if (frontendPort - MEMBERSHIP_BELOW < 1024 || frontendPort + OFFSETS.worker - MEMBERSHIP_BELOW > 32767) {
    throw new Error(
      `the cluster's frontend port must be from ${1024 + MEMBERSHIP_BELOW} to ${32767 + MEMBERSHIP_BELOW - OFFSETS.worker} ` +
        `(its membership ports, ${MEMBERSHIP_BELOW} below, must fit Temporal's SMALLINT column)`,
    );
  }
  return { grpc: each(0), membership: each(MEMBERSHIP_BELOW), frontendHttp: frontendPort + FRONTEND_HTTP_ABOVE, postgres: postgresPort };
}

/** Every port the cluster listens on, with what it is, for the "port taken" check before anything starts. */
export function portsInUse(ports: ClusterPorts): { port: number; what: string }[] {
  return [
    ...Object.entries(ports.grpc).map(([name, port]) => ({ port, what: `Temporal ${name} (gRPC)` })),
    ...Object.entries(ports.membership).map(([name, port]) => ({ port, what: `Temporal ${name} (membership)` })),
    { port: ports.frontendHttp, what: 'Temporal frontend (HTTP)' },
  ];
}

/** PostgreSQL's superuser, which the server and the schema tool use: a development password, loopback only. */
export const POSTGRES_USER = 'temporal';
export const POSTGRES_PASSWORD = 'mjbatch-dev-postgres-local-only';
export const TEMPORAL_DATABASE = 'temporal';
export const VISIBILITY_DATABASE = 'temporal_visibility';
/** The postgres12 plugin covers PostgreSQL 12 and later (Debian 12 ships 15). */
export const SQL_PLUGIN = 'postgres12';

/** The env name the server is started with (`--env`): it reads `<config dir>/<env>.yaml`. */
export const SERVER_ENV = 'mj-batch';

function sqlStore(database: string, port: number, maxConns: number): string {
  return `      sql:
        pluginName: "${SQL_PLUGIN}"
        databaseName: "${database}"
        connectAddr: "127.0.0.1:${port}"
        connectProtocol: "tcp"
        user: "${POSTGRES_USER}"
        password: "${POSTGRES_PASSWORD}"
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: "1h"`;
}

function serviceBlock(name: ClusterServiceName, ports: ClusterPorts): string {
  const http = name === 'frontend' ? `\n      httpPort: ${ports.frontendHttp}` : '';
  return `  ${name}:
    rpc:
      grpcPort: ${ports.grpc[name]}
      membershipPort: ${ports.membership[name]}
      bindOnLocalHost: true${http}`;
}

/**
 * The server's static config: every service on loopback, history and visibility (advanced visibility, SQL) in
 * PostgreSQL, no archival. All four services read the same file; each process runs the one `--service` it is given.
 * Four history shards are plenty for one machine; the number can never change once the database is set up.
 */
export function serverConfigYaml(ports: ClusterPorts, dynamicConfigFile: string): string {
  return `# Written by \`mj-batch stack up --cluster\` on every start; edits are overwritten.
log:
  stdout: true
  level: warn
  format: json

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:
${sqlStore(TEMPORAL_DATABASE, ports.postgres, 10)}
    postgres-visibility:
${sqlStore(VISIBILITY_DATABASE, ports.postgres, 4)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"

services:
${(['frontend', 'history', 'matching', 'worker'] as const).map((name) => serviceBlock(name, ports)).join('\n')}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:${ports.grpc.frontend}"

dcRedirectionPolicy:
  policy: "noop"

dynamicConfigClient:
  filepath: "${dynamicConfigFile}"
  pollInterval: "10s"
`;
}

/**
 * Dynamic config. The search-attribute cache is read through: `stack up` registers the batch's attributes and a
 * batch may start a second later, before the services' cache (refreshed every minute) would know them.
 */
export function dynamicConfigYaml(): string {
  return `# Written by \`mj-batch stack up --cluster\` on every start; edits are overwritten.
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
    constraints: {}
`;
}
