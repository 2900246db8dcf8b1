import * as fs from 'node:fs';
import * as path from 'node:path';
import type { S3Settings } from '../storage/s3-client';
import { defaultStackDir } from '../stack/paths';
import { readStackState } from '../stack/state';

export interface TemporalSettings {
  address: string;
  namespace: string;
  /** Temporal Cloud API key; never logged, never passed into workflows. */
  apiKey?: string;
  tls: boolean;
  /** mTLS client certificate and private key: absolute paths of PEM files, both or neither. */
  tlsCert?: string;
  tlsKey?: string;
  /** PEM file of the CA that signed the server's certificate, when the system does not trust it. */
  tlsCa?: string;
  /** The name the server's certificate is checked against, when it differs from the address's host. */
  tlsServerName?: string;
}

/** Where each setting came from, so `config` output and error messages can say it. */
export type Source = 'env' | 'file' | 'stack' | 'default';

export interface MjApiSettings {
  /** The Midjourney-proxy or gateway root; the local simulator when nothing else is configured. */
  baseUrl?: string;
  /** Never logged, never passed into workflows. */
  apiKey?: string;
  auth: 'bearer' | 'mj-api-secret';
  /** How the speed mode appears in URLs: `auto` (default: `/fast/mj/...`, `/mj-fast/mj/...` where that has no route), or one of them, or not at all. */
  modePrefix: 'auto' | 'mj-dash' | 'plain' | 'none';
}

/** Settings `loadConfig` resolves. */
export const RESOLVED_KEYS = [
  'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_API_KEY', 'TEMPORAL_TLS',
  'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_CA', 'TEMPORAL_TLS_SERVER_NAME',
  'S3_ENDPOINT', 'S3_BUCKET', 'S3_REGION', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'S3_FORCE_PATH_STYLE',
  'MJ_BASE_URL', 'MJ_API_KEY', 'MJ_AUTH_HEADER', 'MJ_MODE_PREFIX', 'MJ_BATCH_TASK_QUEUE',
] as const;
/** Settings the worker and the batch commands read from process.env once a command has loaded its configuration. */
export const PASSED_ON_KEYS = [
  'MJ_ACCOUNT', 'MJ_CALLBACKS', 'MJ_CALLBACK_LISTEN', 'MJ_CALLBACK_PUBLIC_URL', 'MJ_CALLBACK_SECRET',
  'MJ_IMAGE_HOSTS', 'MJ_IMAGE_ALLOW_PRIVATE', 'MJ_IMAGE_MAX_BYTES', 'MJ_BATCH_MEDIA_CONCURRENCY', 'MJ_BATCH_ACTIVITY_CONCURRENCY',
  'TEMPORAL_UI_URL',
] as const;
/** Read before any command loads its configuration (or by `stack`, which loads none): only the environment sets them. */
export const ENV_ONLY_KEYS = ['MJ_BATCH_CONFIG', 'MJ_BATCH_STACK_DIR', 'MJ_BATCH_LOG_FILE', 'MJ_BATCH_CACHE_DIR', 'MJ_SLOTS', 'MJ_ACCOUNT_SLOTS', 'MJ_QUEUE_AHEAD'] as const;
/** The keys a config file may hold. */
export const FILE_KEYS: readonly string[] = [...RESOLVED_KEYS, ...PASSED_ON_KEYS];
export type ConfigKey = (typeof RESOLVED_KEYS)[number] | (typeof PASSED_ON_KEYS)[number] | (typeof ENV_ONLY_KEYS)[number];

export const CONFIG_FILE_NAME = 'mj-batch.config.json';

/** A configuration that cannot be used; the CLI exits with code 2. */
export class ConfigError extends Error {
  readonly exitCode = 2;
}

export interface EffectiveConfig {
  temporal: TemporalSettings & { source: Source };
  s3: S3Settings & { source: Source };
  mj: MjApiSettings & { source: Source };
  taskQueue: string;
  stackDir: string;
  /** The config file read, if any (absolute). */
  configFile?: string;
  /** Where each variable's value came from: every resolved setting, and every other variable that is set. */
  sources: Partial<Record<ConfigKey, Source>>;
}

export const DEFAULT_TASK_QUEUE = 'mj-batch';
export const DEFAULT_BUCKET = 'mj-batch';

function flag(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  return /^(1|true|yes|on)$/i.test(value);
}

/** An empty variable (`TEMPORAL_ADDRESS=`) means unset, as shells and CI systems use it. */
function nonEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}

export interface ConfigFile {
  path: string;
  values: Record<string, string>;
}

/** `$MJ_BATCH_CONFIG`, else `./mj-batch.config.json` if it exists: a JSON object of the environment variables' names. */
export function readConfigFile(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ConfigFile | undefined {
  const named = env.MJ_BATCH_CONFIG || undefined;
  const file = path.resolve(cwd, named ?? CONFIG_FILE_NAME);
  const fail = (problem: string) => new ConfigError(`config file ${file}: ${problem}`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !named) return undefined;
    throw fail(code === 'ENOENT' ? 'no such file (named by MJ_BATCH_CONFIG)' : (err as Error).message);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw fail(`invalid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw fail('must be a JSON object of settings, like {"TEMPORAL_ADDRESS": "temporal.example:7233"}');
  }
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if ((ENV_ONLY_KEYS as readonly string[]).includes(key)) throw fail(`${key} can only be set in the environment`);
    if (!FILE_KEYS.includes(key)) {
      const near = FILE_KEYS.find((k) => editDistance(k, key.toUpperCase()) <= 2);
      throw fail(`unknown setting "${key}"${near ? ` (did you mean ${near}?)` : ''}`);
    }
    if (!['string', 'number', 'boolean'].includes(typeof value)) throw fail(`${key} must be a string, number or boolean`);
    if (value !== '') values[key] = String(value);
  }
  return { path: file, values };
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/**
 * The configuration every command uses: environment variables first, then the config file, then the running local
 * stack (`mj-batch stack up` records its endpoints in <stackDir>/stack.json), then defaults. Loading it from
 * process.env also copies the file's PASSED_ON_KEYS into process.env (never over a set variable), where the worker
 * and `run` read them.
 */
export function loadConfig(rawEnv: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): EffectiveConfig {
  const env = nonEmpty(rawEnv);
  const file = readConfigFile(env, cwd);
  const fromFile = file?.values ?? {};
  const sources: EffectiveConfig['sources'] = {};
  const vars: Record<string, string> = {};
  for (const key of [...FILE_KEYS, ...ENV_ONLY_KEYS] as ConfigKey[]) {
    const value = env[key] ?? fromFile[key];
    if (value === undefined) continue;
    vars[key] = value;
    sources[key] = env[key] !== undefined ? 'env' : 'file';
    if (rawEnv === process.env && sources[key] === 'file' && (PASSED_ON_KEYS as readonly string[]).includes(key)) process.env[key] = value;
  }
  /** The variable's value, else the stack's, else the default, noting which it was. */
  function get(key: ConfigKey, fromStack?: string, fallback?: string): string | undefined {
    if (vars[key] !== undefined) return vars[key];
    sources[key] = fromStack !== undefined ? 'stack' : 'default';
    return fromStack ?? fallback;
  }
  /** A PEM file's path: relative to the config file when it names it, else to the working directory. */
  function pemPath(key: ConfigKey): string | undefined {
    const value = get(key);
    return value && path.resolve(sources[key] === 'file' ? path.dirname(file!.path) : cwd, value);
  }

  const stackDir = defaultStackDir(env, cwd);
  get('MJ_BATCH_STACK_DIR', undefined, stackDir);
  const stack = readStackState(stackDir);

  const apiKey = get('TEMPORAL_API_KEY');
  const [tlsCert, tlsKey, tlsCa, tlsServerName] = [pemPath('TEMPORAL_TLS_CERT'), pemPath('TEMPORAL_TLS_KEY'), pemPath('TEMPORAL_TLS_CA'), get('TEMPORAL_TLS_SERVER_NAME')];
  if (Boolean(tlsCert) !== Boolean(tlsKey)) {
    throw new ConfigError(`TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: ${tlsCert ? 'TEMPORAL_TLS_KEY' : 'TEMPORAL_TLS_CERT'} is not set`);
  }
  const tlsSettings = Boolean(tlsCert || tlsCa || tlsServerName);
  const tls = flag(get('TEMPORAL_TLS')) ?? Boolean(apiKey || tlsSettings);
  if (!tls && tlsSettings) throw new ConfigError('TEMPORAL_TLS turns TLS off, but TEMPORAL_TLS_CERT, TEMPORAL_TLS_CA or TEMPORAL_TLS_SERVER_NAME is set');
  const temporal: EffectiveConfig['temporal'] = {
    address: get('TEMPORAL_ADDRESS', stack?.temporal.address, 'localhost:7233')!,
    namespace: get('TEMPORAL_NAMESPACE', stack?.temporal.namespace, 'default')!,
    apiKey, tls, tlsCert, tlsKey, tlsCa, tlsServerName,
    source: sources.TEMPORAL_ADDRESS!,
  };

  const endpoint = get('S3_ENDPOINT', stack?.s3.endpoint);
  // An S3 endpoint set in the environment or the file never gets the local stack's credentials.
  const stackS3 = sources.S3_ENDPOINT === 'stack' ? stack?.s3 : undefined;
  const regionKey = vars.S3_REGION === undefined && vars.AWS_REGION !== undefined ? 'AWS_REGION' : 'S3_REGION';
  const s3: EffectiveConfig['s3'] = {
    endpoint,
    region: get(regionKey, stack?.s3.region, 'us-east-1')!,
    bucket: get('S3_BUCKET', stack?.s3.bucket, DEFAULT_BUCKET)!,
    accessKeyId: get('AWS_ACCESS_KEY_ID', stackS3?.accessKeyId),
    secretAccessKey: get('AWS_SECRET_ACCESS_KEY', stackS3?.secretAccessKey),
    forcePathStyle: flag(get('S3_FORCE_PATH_STYLE')) ?? Boolean(endpoint),
    source: sources.S3_ENDPOINT!,
  };

  const sim = stack?.simulator && !stack.simulator.external ? stack.simulator : undefined;
  const baseUrl = get('MJ_BASE_URL', stack?.simulator?.url);
  const auth = get('MJ_AUTH_HEADER', undefined, 'bearer');
  const modePrefix = get('MJ_MODE_PREFIX', undefined, 'auto');
  const mj: EffectiveConfig['mj'] = {
    baseUrl,
    apiKey: get('MJ_API_KEY', sources.MJ_BASE_URL === 'stack' ? sim?.apiKey : undefined),
    auth: auth === 'mj-api-secret' ? 'mj-api-secret' : 'bearer',
    modePrefix: modePrefix === 'plain' || modePrefix === 'none' || modePrefix === 'mj-dash' ? modePrefix : 'auto',
    source: sources.MJ_BASE_URL!,
  };

  return {
    temporal, s3, mj, taskQueue: get('MJ_BATCH_TASK_QUEUE', undefined, DEFAULT_TASK_QUEUE)!, stackDir, configFile: file?.path, sources,
  };
}
