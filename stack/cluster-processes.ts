import { isPortFree, isRunning, stopProcess, type ProcessRecord } from './processes';
import { clusterPorts } from './cluster-config';
import { stopPostgres } from './postgres';
import { CLUSTER_SERVICES, readStackState, type ClusterServiceName, type ClusterState } from './state';

/** One process of `stack up --cluster`, as `stack status` reports it. */
export interface ClusterServiceReport {
  name: 'postgres' | ClusterServiceName;
  state: 'running' | 'stopped';
  pid?: number;
  endpoint: string;
  /** Running and listening on its port. */
  healthy: boolean;
  log?: string;
}

/** The port each process answers on: the worker service serves no gRPC API, only its membership port. */
function endpointsOf(cluster: ClusterState): Record<ClusterServiceReport['name'], number> {
  const ports = clusterPorts(cluster.port, cluster.postgresPort);
  return { postgres: ports.postgres, ...ports.grpc, worker: ports.membership.worker };
}

/** Each cluster process: recorded pid alive, and something listening on its port. */
export async function clusterReports(cluster: ClusterState): Promise<ClusterServiceReport[]> {
  const ports = endpointsOf(cluster);
  const entries: [ClusterServiceReport['name'], ProcessRecord | undefined][] = [
    ['postgres', cluster.postgres],
    ...CLUSTER_SERVICES.map((name) => [name, cluster.services[name]] as [ClusterServiceName, ProcessRecord | undefined]),
  ];
  return Promise.all(
    entries.map(async ([name, rec]) => {
      const running = !!rec && isRunning(rec);
      return {
        name,
        state: running ? 'running' : 'stopped',
        pid: rec?.pid,
        endpoint: `127.0.0.1:${ports[name]}`,
        healthy: running && !(await isPortFree(ports[name])),
        log: rec?.logFile,
      } satisfies ClusterServiceReport;
    }),
  );
}

/** Stops the cluster's Temporal services, then PostgreSQL (last, so no service loses its database while it runs). */
export async function clusterDown(dir: string): Promise<{ name: string; result: 'stopped' | 'not-running' }[]> {
  const cluster = readStackState(dir)?.cluster;
  if (!cluster) return [];
  const services = await Promise.all(
    CLUSTER_SERVICES.map(async (name) => {
      const rec = cluster.services[name];
      return { name, result: rec ? await stopProcess(rec) : ('not-running' as const) };
    }),
  );
  const postgres = { name: 'postgres', result: cluster.postgres ? await stopPostgres(cluster.postgres) : ('not-running' as const) };
  return [postgres, ...services];
}
