import * as fs from 'node:fs';
import { cpus } from 'node:os';
import * as path from 'node:path';
import type { S3Settings } from '../storage/s3-client';
import { defaultStackDir } from '../stack/paths';
import { readStackState } from '../stack/state';
import { ConfigError, parseSetting, SETTINGS, settingOf, type SettingName, type SettingValue } from './settings';
import { DEFAULT_BUCKET } from '../contracts/bucket-layout';
import { CodecKeyError, parseCodecKeys, type CodecKeys } from '../codec/keys';
import { defaultMaxCachedWorkflows, heapLimitMiB } from './workflow-cache';

export { ConfigError };

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
  /** MJ_BATCH_CODEC_KEY and MJ_BATCH_CODEC_OLD_KEYS: unset, payloads are not encrypted. Never logged (it shows only ids). */
  codec?: CodecKeys;
}

/** Where each setting came from, so `config` output and error messages can say it. */
export type Source = 'env' | 'file' | 'stack' | 'default';

export interface MjApiSettings {
  /** The Midjourney-proxy or gateway root; the local simulator when nothing else is configured. */
  baseUrl?: string;
  /** Never logged, never passed into workflows. */
  apiKey?: string;
  /** MJ_ACCOUNT: the account's name for shared slots (see `accountOf`). */
  account?: string;
  auth: 'bearer' | 'mj-api-secret';
  /** How the speed mode appears in URLs: `auto` (default: `/fast/mj/...`, `/mj-fast/mj/...` where that has no route), or one of them, or not at all. */
  modePrefix: 'auto' | 'mj-dash' | 'plain' | 'none';
}

/** Every setting's name: the keys of the settings table. */
export type ConfigKey = SettingName;
const NAMES: readonly ConfigKey[] = SETTINGS.map((s) => s.name);
/** Settings `loadConfig` resolves: all of them, from the table. */
export const RESOLVED_KEYS: readonly ConfigKey[] = NAMES;
/** Settings loadConfig used to copy from the file into process.env for other readers: none now, as every reader takes loadConfig's result. */
export const PASSED_ON_KEYS: readonly ConfigKey[] = [];
/** Read before any command loads its configuration (or by `stack`, which loads none): only the environment sets them. */
export const ENV_ONLY_KEYS: readonly ConfigKey[] = SETTINGS.filter((s) => s.envOnly).map((s) => s.name);
/** The keys a config file may hold. */
export const FILE_KEYS: readonly string[] = SETTINGS.filter((s) => !s.envOnly).map((s) => s.name);

export const CONFIG_FILE_NAME = 'mj-batch.config.json';

export interface WorkerSettings {
  /** MJ_CALLBACKS: off means polling only, no callback receiver. */
  callbacks: boolean;
  callbackListen: { host: string; port: number };
  callbackPublicUrl?: string;
  callbackSecret?: string;
  mediaConcurrency: number;
  activityConcurrency: number;
  imageHosts: string[];
  /** Unset: only when the API is local, decided by downloadPolicyFrom, since callers may point `mj` at a simulator after loading. */
  imageAllowPrivate?: boolean;
  imageMaxBytes: number;
  /** MJ_BATCH_MAX_CACHED_WORKFLOWS, else defaultMaxCachedWorkflows (config/workflow-cache.ts). */
  maxCachedWorkflows: number;
  /** MJ_BATCH_MEMORY_SAMPLE_MS: log memory and cache size at this interval; unset: off. */
  memorySampleMs?: number;
  /** MJ_BATCH_METRICS_LISTEN: where /metrics is served (the port defaults to 9464); unset: no metrics. */
  metricsListen?: { host: string; port: number };
}

export interface AccountSettings {
  /** The default of `--account-slots`: MJ_ACCOUNT_SLOTS, else MJ_SLOTS, else 3. */
  slots: number;
  /** The account's job slots (MJ_SLOTS, else 3): what `--concurrency` counts on when there is no shared limit. */
  apiSlots: number;
  /** The default of `--queue-ahead`. */
  queueAhead: number;
  /** The default of `--max-queue-ahead`. */
  maxQueueAhead: number;
}

export interface EffectiveConfig {
  temporal: TemporalSettings & { source: Source };
  s3: S3Settings & { source: Source };
  mj: MjApiSettings & { source: Source };
  taskQueue: string;
  stackDir: string;
  worker: WorkerSettings;
  account: AccountSettings;
  /** TEMPORAL_UI_URL without trailing slashes (the local stack's is looked up where the link is made). */
  temporalUiUrl?: string;
  /** Where the worker and demo write structured logs (`-`: stderr). */
  logFile: string;
  /** The config file read, if any (absolute). */
  configFile?: string;
  /** MJ_ACCOUNTS_FILE (absolute), read by `loadAccounts` (config/accounts.ts); unset: one account from the MJ_* settings. */
  accountsFile?: string;
  /** Where each setting's value came from. */
  sources: Partial<Record<ConfigKey, Source>>;
  /** Each setting's effective typed value (undefined: unset, with no fixed default), as `mj-batch config` shows it. */
  values: { [K in ConfigKey]?: SettingValue<K> };
}

/** `host:port`, `:port` (loopback), `host` (Prometheus' usual 9464) or `[::1]:port`, as the server listens on it. */
function metricsListenOf(value: string | undefined): WorkerSettings['metricsListen'] {
  if (value === undefined) return undefined;
  const [host, port] = value.split(/:(?=\d+$)/);
  return { host: host!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: Number(port ?? 9464) };
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

/** The codec's keys; bad key material is a ConfigError that names the variable, never the key. */
function codecKeysOf(current: string | undefined, old: string[] | undefined): CodecKeys | undefined {
  try {
    return parseCodecKeys({ current, old });
  } catch (err) {
    throw err instanceof CodecKeyError ? new ConfigError(err.message) : err;
  }
}

/**
 * The configuration every command uses: environment variables first, then the config file, then the running local
 * stack (`mj-batch stack up` records its endpoints in <stackDir>/stack.json), then defaults. Every value set is
 * checked against the settings table: a bad one is a ConfigError naming the setting, what it accepts and where it was set.
 */
export function loadConfig(rawEnv: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): EffectiveConfig {
  const env = nonEmpty(rawEnv);
  const file = readConfigFile(env, cwd);
  const sources: EffectiveConfig['sources'] = {};
  const values: Record<string, unknown> = {};
  const set: EffectiveConfig['values'] = {};
  for (const { name, envOnly } of SETTINGS) {
    const raw = env[name] ?? (envOnly ? undefined : file?.values[name]);
    if (raw === undefined) continue;
    sources[name] = env[name] !== undefined ? 'env' : 'file';
    (set as Record<string, unknown>)[name] = parseSetting(
      name,
      raw,
      sources[name] === 'env' ? 'the environment' : `config file ${file!.path}`,
    );
  }
  /** The setting's value, else the stack's, else the fallback or the table's default, noting which it was. */
  function get<K extends ConfigKey>(key: K, fromStack?: SettingValue<K>, fallback?: SettingValue<K>): SettingValue<K> | undefined {
    let value = set[key] as SettingValue<K> | undefined;
    if (value === undefined) {
      sources[key] = fromStack !== undefined ? 'stack' : 'default';
      const fixed = settingOf(key)!.default;
      value = fromStack ?? fallback ?? (fixed === undefined ? undefined : parseSetting(key, fixed, 'the defaults'));
    }
    values[key] = value;
    return value;
  }
  /** A file's path (PEM files, the accounts file): relative to the config file when it names it, else to the working directory. */
  function pemPath(key: 'TEMPORAL_TLS_CERT' | 'TEMPORAL_TLS_KEY' | 'TEMPORAL_TLS_CA' | 'MJ_ACCOUNTS_FILE'): string | undefined {
    const value = get(key);
    return (values[key] = value && path.resolve(sources[key] === 'file' ? path.dirname(file!.path) : cwd, value)) as string | undefined;
  }

  const stackDir = defaultStackDir(env, cwd);
  get('MJ_BATCH_STACK_DIR');
  values.MJ_BATCH_STACK_DIR = stackDir;
  const stack = readStackState(stackDir);

  const apiKey = get('TEMPORAL_API_KEY');
  const [tlsCert, tlsKey, tlsCa, tlsServerName] = [
    pemPath('TEMPORAL_TLS_CERT'),
    pemPath('TEMPORAL_TLS_KEY'),
    pemPath('TEMPORAL_TLS_CA'),
    get('TEMPORAL_TLS_SERVER_NAME'),
  ];
  if (Boolean(tlsCert) !== Boolean(tlsKey)) {
    throw new ConfigError(
      `TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: ${tlsCert ? 'TEMPORAL_TLS_KEY' : 'TEMPORAL_TLS_CERT'} is not set`,
    );
  }
  const tlsSettings = Boolean(tlsCert || tlsCa || tlsServerName);
  const tls = (values.TEMPORAL_TLS = get('TEMPORAL_TLS') ?? Boolean(apiKey || tlsSettings));
  if (!tls && tlsSettings)
    throw new ConfigError('TEMPORAL_TLS turns TLS off, but TEMPORAL_TLS_CERT, TEMPORAL_TLS_CA or TEMPORAL_TLS_SERVER_NAME is set');
  const temporal: EffectiveConfig['temporal'] = {
    address: get('TEMPORAL_ADDRESS', stack?.temporal.address)!,
    namespace: get('TEMPORAL_NAMESPACE', stack?.temporal.namespace)!,
    apiKey,
    tls,
    tlsCert,
    tlsKey,
    tlsCa,
    tlsServerName,
    codec: codecKeysOf(get('MJ_BATCH_CODEC_KEY'), get('MJ_BATCH_CODEC_OLD_KEYS')),
    source: sources.TEMPORAL_ADDRESS!,
  };

  const endpoint = get('S3_ENDPOINT', stack?.s3.endpoint);
  // An S3 endpoint set in the environment or the file never gets the local stack's credentials.
  const stackS3 = sources.S3_ENDPOINT === 'stack' ? stack?.s3 : undefined;
  const regionKey = set.S3_REGION === undefined && set.AWS_REGION !== undefined ? 'AWS_REGION' : 'S3_REGION';
  const region = (values.S3_REGION = get(regionKey, stack?.s3.region, 'us-east-1')!);
  const s3: EffectiveConfig['s3'] = {
    endpoint,
    region,
    bucket: get('S3_BUCKET', stack?.s3.bucket, DEFAULT_BUCKET)!,
    accessKeyId: get('AWS_ACCESS_KEY_ID', stackS3?.accessKeyId),
    secretAccessKey: get('AWS_SECRET_ACCESS_KEY', stackS3?.secretAccessKey),
    forcePathStyle: (values.S3_FORCE_PATH_STYLE = get('S3_FORCE_PATH_STYLE') ?? Boolean(endpoint)),
    source: sources.S3_ENDPOINT!,
  };

  const sim = stack?.simulator && !stack.simulator.external ? stack.simulator : undefined;
  const baseUrl = get('MJ_BASE_URL', stack?.simulator?.url);
  const mj: EffectiveConfig['mj'] = {
    baseUrl,
    apiKey: get('MJ_API_KEY', sources.MJ_BASE_URL === 'stack' ? sim?.apiKey : undefined),
    account: get('MJ_ACCOUNT'),
    auth: get('MJ_AUTH_HEADER')!,
    modePrefix: get('MJ_MODE_PREFIX')!,
    source: sources.MJ_BASE_URL!,
  };

  const apiSlots = get('MJ_SLOTS')!;
  const account: AccountSettings = {
    apiSlots,
    slots: get('MJ_ACCOUNT_SLOTS', undefined, apiSlots)!,
    queueAhead: get('MJ_QUEUE_AHEAD')!,
    maxQueueAhead: get('MJ_MAX_QUEUE_AHEAD')!,
  };

  const [host, port] = get('MJ_CALLBACK_LISTEN')!.split(/:(?=\d+$)/);
  const activityConcurrency = get('MJ_BATCH_ACTIVITY_CONCURRENCY')!;
  const worker: WorkerSettings = {
    callbacks: get('MJ_CALLBACKS')!,
    callbackListen: { host: host || '127.0.0.1', port: Number(port ?? 0) },
    callbackPublicUrl: get('MJ_CALLBACK_PUBLIC_URL'),
    callbackSecret: get('MJ_CALLBACK_SECRET'),
    // Media work is CPU-bound (sharp): about one image per core.
    mediaConcurrency: get('MJ_BATCH_MEDIA_CONCURRENCY', undefined, Math.max(1, cpus().length))!,
    activityConcurrency,
    imageHosts: get('MJ_IMAGE_HOSTS') ?? [],
    imageAllowPrivate: get('MJ_IMAGE_ALLOW_PRIVATE'),
    imageMaxBytes: get('MJ_IMAGE_MAX_BYTES')!,
    maxCachedWorkflows: get('MJ_BATCH_MAX_CACHED_WORKFLOWS', undefined, defaultMaxCachedWorkflows(heapLimitMiB(), activityConcurrency))!,
    memorySampleMs: get('MJ_BATCH_MEMORY_SAMPLE_MS'),
    metricsListen: metricsListenOf(get('MJ_BATCH_METRICS_LISTEN')),
  };

  const config: EffectiveConfig = {
    temporal,
    s3,
    mj,
    taskQueue: get('MJ_BATCH_TASK_QUEUE')!,
    stackDir,
    worker,
    account,
    temporalUiUrl: get('TEMPORAL_UI_URL')?.replace(/\/+$/, ''),
    logFile: get('MJ_BATCH_LOG_FILE', undefined, path.join(stackDir, 'logs', 'mj-batch.log'))!,
    configFile: file?.path,
    accountsFile: pemPath('MJ_ACCOUNTS_FILE'),
    sources,
    values: values as EffectiveConfig['values'],
  };
  // The rest (AWS_REGION when S3_REGION wins, MJ_BATCH_CONFIG, the binaries' paths) are read as they are set.
  for (const name of NAMES) if (!(name in values)) get(name);
  return config;
}
