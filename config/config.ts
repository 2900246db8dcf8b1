import type { S3Settings } from '../storage/s3-client';
import { defaultStackDir } from '../stack/paths';
import { readStackState } from '../stack/state';

export interface TemporalSettings {
  address: string;
  namespace: string;
  /** Temporal Cloud API key; never logged, never passed into workflows. */
  apiKey?: string;
  tls: boolean;
}

/** Where each setting came from, so `config` output and error messages can say it. */
export type Source = 'env' | 'stack' | 'default';

export interface MjApiSettings {
  /** The Midjourney-proxy or gateway root; the local simulator when nothing else is configured. */
  baseUrl?: string;
  /** Never logged, never passed into workflows. */
  apiKey?: string;
  auth: 'bearer' | 'mj-api-secret';
  /** How the speed mode appears in URLs: `/mj-fast/mj/...` (default), `/fast/mj/...`, or not at all. */
  modePrefix: 'mj-dash' | 'plain' | 'none';
}

export interface EffectiveConfig {
  temporal: TemporalSettings & { source: Source };
  s3: S3Settings & { source: Source };
  mj: MjApiSettings & { source: Source };
  taskQueue: string;
  stackDir: string;
}

export const DEFAULT_TASK_QUEUE = 'mj-batch';
export const DEFAULT_BUCKET = 'mj-batch';

function flag(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  return /^(1|true|yes|on)$/i.test(value);
}

/**
 * The configuration every command uses: explicit environment variables first, then the running local
 * stack (`mj-batch stack up` records its endpoints in <stackDir>/stack.json), then defaults.
 */
export function loadConfig(rawEnv: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): EffectiveConfig {
  // An empty variable (`TEMPORAL_ADDRESS=`) means unset, as shells and CI systems use it.
  const env = Object.fromEntries(Object.entries(rawEnv).filter(([, v]) => v !== undefined && v !== '')) as NodeJS.ProcessEnv;
  const stackDir = defaultStackDir(env, cwd);
  const stack = readStackState(stackDir);

  const temporalFromEnv = Boolean(env.TEMPORAL_ADDRESS);
  const temporal: EffectiveConfig['temporal'] = {
    address: env.TEMPORAL_ADDRESS ?? stack?.temporal.address ?? 'localhost:7233',
    namespace: env.TEMPORAL_NAMESPACE ?? stack?.temporal.namespace ?? 'default',
    apiKey: env.TEMPORAL_API_KEY,
    tls: flag(env.TEMPORAL_TLS) ?? Boolean(env.TEMPORAL_API_KEY),
    source: temporalFromEnv ? 'env' : stack ? 'stack' : 'default',
  };

  const s3FromEnv = Boolean(env.S3_ENDPOINT);
  const useStackS3 = !s3FromEnv && stack !== undefined;
  const s3: EffectiveConfig['s3'] = {
    endpoint: env.S3_ENDPOINT ?? stack?.s3.endpoint,
    region: env.S3_REGION ?? env.AWS_REGION ?? stack?.s3.region ?? 'us-east-1',
    bucket: env.S3_BUCKET ?? stack?.s3.bucket ?? DEFAULT_BUCKET,
    accessKeyId: env.AWS_ACCESS_KEY_ID ?? (useStackS3 ? stack?.s3.accessKeyId : undefined),
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? (useStackS3 ? stack?.s3.secretAccessKey : undefined),
    forcePathStyle: flag(env.S3_FORCE_PATH_STYLE) ?? Boolean(env.S3_ENDPOINT ?? stack?.s3.endpoint),
    source: s3FromEnv ? 'env' : stack ? 'stack' : 'default',
  };

  const useStackSim = !env.MJ_BASE_URL && stack?.simulator !== undefined && !stack.simulator.external;
  const mj: EffectiveConfig['mj'] = {
    baseUrl: env.MJ_BASE_URL ?? stack?.simulator?.url,
    apiKey: env.MJ_API_KEY ?? (useStackSim ? stack?.simulator?.apiKey : undefined),
    auth: env.MJ_AUTH_HEADER === 'mj-api-secret' ? 'mj-api-secret' : 'bearer',
    modePrefix: env.MJ_MODE_PREFIX === 'plain' || env.MJ_MODE_PREFIX === 'none' ? env.MJ_MODE_PREFIX : 'mj-dash',
    source: env.MJ_BASE_URL ? 'env' : stack?.simulator ? 'stack' : 'default',
  };

  return { temporal, s3, mj, taskQueue: env.MJ_BATCH_TASK_QUEUE ?? DEFAULT_TASK_QUEUE, stackDir };
}
