// The one table of mj-batch's settings: `loadConfig` reads and checks them from it, `mj-batch config` prints from it.
import { DEFAULT_BUCKET } from '../contracts/bucket-layout';
import { DEFAULT_TASK_QUEUE } from '../contracts/naming';

export type SettingType =
  | { kind: 'string' }
  | { kind: 'url' }
  | { kind: 'boolean' }
  | { kind: 'path' }
  | { kind: 'list' }
  | { kind: 'host:port' }
  | { kind: 'integer'; min: number; max?: number }
  | { kind: 'enum'; values: readonly string[] };

export type Group = 'Temporal' | 'S3' | 'Midjourney' | 'Worker' | 'Local';

export interface Setting<N extends string = string, T extends SettingType = SettingType> {
  name: N;
  group: Group;
  type: T;
  /** The value used when nothing sets it, as it would be written; parsed like any other. */
  default?: string;
  /** How the default is worked out when it is not a fixed value. */
  derived?: string;
  secret: boolean;
  /** Read before the config file is (or without one): only the environment sets it. */
  envOnly: boolean;
  description: string;
}

const str = { kind: 'string' } as const;
const url = { kind: 'url' } as const;
const bool = { kind: 'boolean' } as const;
const file = { kind: 'path' } as const;
const list = { kind: 'list' } as const;
const hostPort = { kind: 'host:port' } as const;
const int = (min: number) => ({ kind: 'integer', min }) as const;
const oneOf = <V extends string>(...values: V[]) => ({ kind: 'enum', values }) as const;

type Extra = Partial<Pick<Setting, 'default' | 'derived' | 'secret' | 'envOnly'>>;
function setting<N extends string, T extends SettingType>(
  name: N,
  group: Group,
  type: T,
  description: string,
  extra: Extra = {},
): Setting<N, T> {
  return { name, group, type, description, secret: false, envOnly: false, ...extra };
}

/** Every setting once, in the order `mj-batch config` prints them. The names are user contracts: never rename one. */
export const SETTINGS = [
  setting('TEMPORAL_ADDRESS', 'Temporal', hostPort, 'Temporal frontend host:port', {
    default: 'localhost:7233',
    derived: 'the local stack, else localhost:7233',
  }),
  setting('TEMPORAL_NAMESPACE', 'Temporal', str, 'namespace', { default: 'default' }),
  setting('TEMPORAL_API_KEY', 'Temporal', str, 'Temporal Cloud API key (turns TLS on)', { secret: true }),
  setting('TEMPORAL_TLS', 'Temporal', bool, 'force TLS on or off', { derived: 'on with an API key or any TEMPORAL_TLS_*' }),
  setting('TEMPORAL_TLS_CERT', 'Temporal', file, 'mTLS client certificate (PEM; with TEMPORAL_TLS_KEY)'),
  setting('TEMPORAL_TLS_KEY', 'Temporal', file, 'mTLS private key (PEM; with TEMPORAL_TLS_CERT)'),
  setting('TEMPORAL_TLS_CA', 'Temporal', file, 'PEM file of the CA that signed the server certificate', { derived: "the system's CAs" }),
  setting('TEMPORAL_TLS_SERVER_NAME', 'Temporal', str, 'the name the server certificate is checked against (SNI)', {
    derived: "the address's host",
  }),
  setting('MJ_BATCH_TASK_QUEUE', 'Temporal', str, 'task queue the worker polls', { default: DEFAULT_TASK_QUEUE }),
  setting('TEMPORAL_UI_URL', 'Temporal', url, 'the Web UI, for links printed by run, watch, status, demo', {
    derived: "the local stack's",
  }),
  // Payload encryption (codec/): keys only ever from the environment, so a config file never holds one.
  setting('MJ_BATCH_CODEC_KEY', 'Temporal', str, 'AES-256-GCM key for every payload: base64 of 32 bytes, as id:base64 or bare', {
    secret: true,
    envOnly: true,
    derived: 'none: payloads are not encrypted',
  }),
  setting('MJ_BATCH_CODEC_OLD_KEYS', 'Temporal', list, 'older codec keys, for decryption only (same forms, comma-separated)', {
    secret: true,
    envOnly: true,
  }),
  setting('MJ_BATCH_CODEC_AUTH', 'Temporal', str, 'the Authorization header codec-server requires', {
    secret: true,
    envOnly: true,
    derived: 'none: no header needed',
  }),
  setting('S3_ENDPOINT', 'S3', url, 'S3-compatible endpoint (unset for AWS S3)', { derived: 'the local stack' }),
  setting('S3_BUCKET', 'S3', str, 'bucket', { default: DEFAULT_BUCKET }),
  setting('S3_REGION', 'S3', str, 'region', { default: 'us-east-1', derived: 'AWS_REGION, else the local stack, else us-east-1' }),
  setting('AWS_REGION', 'S3', str, 'region, when S3_REGION is not set'),
  setting('AWS_ACCESS_KEY_ID', 'S3', str, 'S3 access key id (else the SDK default chain)', { derived: "the local stack's dev keys" }),
  setting('AWS_SECRET_ACCESS_KEY', 'S3', str, 'S3 secret key (else the SDK default chain)', {
    secret: true,
    derived: "the local stack's dev keys",
  }),
  setting('S3_FORCE_PATH_STYLE', 'S3', bool, 'path-style URLs', { derived: 'on when an endpoint is set' }),
  setting('MJ_BASE_URL', 'Midjourney', url, 'Midjourney-proxy or gateway root', { derived: 'the local simulator' }),
  setting('MJ_API_KEY', 'Midjourney', str, 'its key', { secret: true, derived: "the simulator's" }),
  setting('MJ_AUTH_HEADER', 'Midjourney', oneOf('bearer', 'mj-api-secret'), 'how the key is sent', { default: 'bearer' }),
  setting('MJ_MODE_PREFIX', 'Midjourney', oneOf('auto', 'mj-dash', 'plain', 'none'), "how a row's mode appears in URLs", {
    default: 'auto',
  }),
  setting('MJ_ACCOUNT', 'Midjourney', str, "the account's name for shared slots", { derived: 'a hash of MJ_BASE_URL and MJ_API_KEY' }),
  setting('MJ_ACCOUNTS_FILE', 'Midjourney', file, 'the accounts file: a JSON array of API accounts (README: "Several accounts")', {
    derived: 'none: one account from the MJ_* settings',
  }),
  setting('MJ_SLOTS', 'Midjourney', int(1), 'the account job slots: default --account-slots (and so --concurrency) of run', {
    default: '3',
    envOnly: true,
  }),
  setting('MJ_ACCOUNT_SLOTS', 'Midjourney', int(0), 'default --account-slots of run (0: no shared limit)', {
    derived: 'MJ_SLOTS',
    envOnly: true,
  }),
  setting('MJ_QUEUE_AHEAD', 'Midjourney', int(0), 'default --queue-ahead of run', { default: '2', envOnly: true }),
  setting(
    'MJ_MAX_QUEUE_AHEAD',
    'Midjourney',
    int(0),
    'default --max-queue-ahead of run: the most queue-ahead a slow refill may ask for (at or below --queue-ahead: fixed)',
    { default: '8', envOnly: true },
  ),
  setting('MJ_CALLBACKS', 'Worker', bool, "off turns the worker's callback receiver off (polling only)", { default: 'on' }),
  setting('MJ_CALLBACK_LISTEN', 'Worker', hostPort, 'where the receiver listens', { default: '127.0.0.1:0' }),
  setting('MJ_CALLBACK_PUBLIC_URL', 'Worker', url, "the receiver's URL as the proxy can reach it", { derived: 'the listen address' }),
  setting('MJ_CALLBACK_SECRET', 'Worker', str, "the secret path segment of the receiver's URL", {
    secret: true,
    derived: 'random per worker process',
  }),
  setting('MJ_IMAGE_HOSTS', 'Worker', list, 'image downloads only from these hosts', { derived: 'any public host' }),
  setting('MJ_IMAGE_ALLOW_PRIVATE', 'Worker', bool, 'allow downloads from private/loopback addresses', {
    derived: 'on only when MJ_BASE_URL is local',
  }),
  // 64 MiB: DEFAULT_DOWNLOAD_POLICY.maxBytes (not imported: that would load undici with every command).
  setting('MJ_IMAGE_MAX_BYTES', 'Worker', int(1), 'largest image downloaded', { default: String(64 * 1024 * 1024) }),
  setting('MJ_BATCH_MEDIA_CONCURRENCY', 'Worker', int(1), 'media activities at once per worker', { derived: 'one per core' }),
  setting('MJ_BATCH_ACTIVITY_CONCURRENCY', 'Worker', int(1), 'orchestration activities at once per worker', { default: '50' }),
  setting(
    'MJ_BATCH_MAX_CACHED_WORKFLOWS',
    'Worker',
    int(2),
    'workflows the worker keeps cached (an evicted one replays on its next task)',
    {
      derived: 'a quarter of the SDK default from the V8 heap, at least 4 x MJ_BATCH_ACTIVITY_CONCURRENCY',
    },
  ),
  setting('MJ_BATCH_MEMORY_SAMPLE_MS', 'Worker', int(100), "log the worker's memory and cached workflows every so many ms (diagnostic)", {
    derived: 'off',
  }),
  setting('MJ_BATCH_METRICS_LISTEN', 'Worker', hostPort, 'serve Prometheus metrics at http://<host:port>/metrics (docs/metrics.md)', {
    derived: 'off',
  }),
  setting('MJ_BATCH_CONFIG', 'Local', file, 'the config file', { derived: './mj-batch.config.json if it exists', envOnly: true }),
  setting('MJ_BATCH_STACK_DIR', 'Local', file, "the local stack's folder", { derived: './.mj-batch', envOnly: true }),
  setting('MJ_BATCH_LOG_FILE', 'Local', file, 'structured JSON logs of worker and demo (- for stderr)', {
    derived: '<stack dir>/logs/mj-batch.log',
    envOnly: true,
  }),
  setting('MJ_BATCH_CACHE_DIR', 'Local', file, 'where built binaries are cached (<dir>/bin)', {
    derived: '~/.cache/mj-batch',
    envOnly: true,
  }),
  // Read by stack/binaries.ts when `stack up` looks for the servers.
  setting('TEMPORAL_CLI_PATH', 'Local', file, 'the temporal CLI binary', { derived: 'PATH, else built into the cache', envOnly: true }),
  setting('VERSITYGW_PATH', 'Local', file, 'the versitygw binary', { derived: 'PATH, else built into the cache', envOnly: true }),
] as const;

export type AnySetting = (typeof SETTINGS)[number];
export type SettingName = AnySetting['name'];
type TypeOf<N extends SettingName> = Extract<AnySetting, { name: N }>['type'];
/** What a setting parses to: whole numbers, booleans, one of the enum's values, a list of strings, else the text. */
export type SettingValue<N extends SettingName> =
  TypeOf<N> extends { kind: 'integer' }
    ? number
    : TypeOf<N> extends { kind: 'boolean' }
      ? boolean
      : TypeOf<N> extends { kind: 'list' }
        ? string[]
        : TypeOf<N> extends { kind: 'enum'; values: readonly (infer V)[] }
          ? V
          : string;

const BY_NAME: ReadonlyMap<string, AnySetting> = new Map(SETTINGS.map((s) => [s.name, s]));

export function settingOf(name: string): Setting | undefined {
  return BY_NAME.get(name);
}

/** A value that cannot be used; the CLI exits with code 2. */
export class ConfigError extends Error {
  /** The CLI exits with this (cli/exit-codes.ts CONFIG_EXIT.unusable). */
  readonly exitCode = 2;
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]@]*)(?::(\d{1,5}))?$/;

/** What a type accepts, in the words of the error message. */
export function accepts(type: SettingType): string {
  switch (type.kind) {
    case 'integer':
      return `a whole number >= ${type.min}${type.max !== undefined ? ` and <= ${type.max}` : ''}`;
    case 'boolean':
      return '1/0, true/false, yes/no or on/off';
    case 'enum':
      return type.values.join(', ');
    case 'url':
      return 'an http:// or https:// URL';
    case 'host:port':
      return 'host:port (a port from 0 to 65535; the port may be left out)';
    case 'list':
      return 'a comma-separated list without spaces inside items';
    default:
      return 'any text';
  }
}

/** Why `raw` is not a value of `type`, or undefined when it is one. */
function problem(type: SettingType, raw: string): string | undefined {
  switch (type.kind) {
    case 'integer': {
      const n = Number(raw);
      if (!/^\s*[+-]?\d+\s*$/.test(raw)) return 'is not a whole number';
      return n < type.min || (type.max !== undefined && n > type.max) ? 'is out of range' : undefined;
    }
    case 'boolean':
      return TRUE.includes(raw.toLowerCase()) || FALSE.includes(raw.toLowerCase()) ? undefined : 'is not a yes/no value';
    case 'enum':
      return type.values.includes(raw) ? undefined : 'is not one of the choices';
    case 'url':
      try {
        return /^https?:$/.test(new URL(raw).protocol) ? undefined : 'is not an http(s) URL';
      } catch {
        return 'is not a URL';
      }
    case 'host:port': {
      const m = HOST_PORT.exec(raw);
      return m && (m[2] === undefined || Number(m[2]) <= 65535) ? undefined : 'is not host:port';
    }
    case 'list':
      return raw.split(',').some((item) => /\S\s+\S/.test(item.trim())) ? 'is not a comma-separated list' : undefined;
    default:
      return undefined;
  }
}

/**
 * The typed value of a setting, or a ConfigError naming the setting, the value (never a secret's), what it accepts
 * and where it was set (`from`: "the environment" or "config file <path>").
 */
export function parseSetting<N extends SettingName>(name: N, raw: string, from: string): SettingValue<N> {
  return parseValue(BY_NAME.get(name)!, raw, from) as SettingValue<N>;
}

/** parseSetting for any entry shaped like the table's. */
export function parseValue(s: Setting, raw: string, from: string): string | number | boolean | string[] {
  const why = problem(s.type, raw);
  if (why)
    throw new ConfigError(`${s.name}: ${s.secret ? '(secret)' : JSON.stringify(raw)} ${why} (accepts ${accepts(s.type)}), in ${from}`);
  switch (s.type.kind) {
    case 'integer':
      return Number(raw);
    case 'boolean':
      return TRUE.includes(raw.toLowerCase());
    case 'list':
      return raw
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean);
    default:
      return raw;
  }
}
