import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ProcessRecord } from './processes';
import { stackLayout } from './paths';

/** The file `stack up` writes: the endpoints it serves and the processes it started. */
export interface StackState {
  version: 1;
  temporal: {
    /** True when TEMPORAL_ADDRESS pointed at a server this stack did not start. */
    external: boolean;
    address: string;
    namespace: string;
    uiUrl?: string;
    port?: number;
    uiPort?: number;
    process?: ProcessRecord;
  };
  s3: {
    external: boolean;
    endpoint: string;
    region: string;
    bucket: string;
    port?: number;
    /** Only the local server's development credentials are recorded; credentials of an external S3 never are. */
    accessKeyId?: string;
    secretAccessKey?: string;
    process?: ProcessRecord;
  };
  /** The Midjourney-proxy simulator, or (external) the API that MJ_BASE_URL names. */
  simulator?: {
    external: boolean;
    url: string;
    port?: number;
    speed?: number;
    profile?: string;
    /** Only the simulator's own key is recorded; a real API key never is. */
    apiKey?: string;
    process?: ProcessRecord;
  };
  /** `stack up --cluster`: a Temporal server on PostgreSQL beside the dev server, sharing S3 and the simulator. */
  cluster?: ClusterState;
}

export const CLUSTER_SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type ClusterServiceName = (typeof CLUSTER_SERVICES)[number];

export interface ClusterState {
  /** The frontend: what TEMPORAL_ADDRESS should name to use the cluster. */
  address: string;
  namespace: string;
  /** The frontend's gRPC port; the other services' ports follow from it (stack/cluster-config.ts). */
  port: number;
  postgresPort: number;
  postgres?: ProcessRecord;
  services: Partial<Record<ClusterServiceName, ProcessRecord>>;
}

export function readStackState(dir: string): StackState | undefined {
  const file = stackLayout(dir).stateFile;
  if (!fs.existsSync(file)) return undefined;
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as StackState;
  return parsed.version === 1 ? parsed : undefined;
}

export function writeStackState(dir: string, state: StackState): void {
  const file = stackLayout(dir).stateFile;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}
