import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { CONFIG_FILE_NAME, ConfigError, loadConfig, type ConfigKey, type EffectiveConfig } from '../config/config';
import { connectionOptions } from '../config/temporal';
import { stackLayout } from '../stack/paths';
import { printJson, printLines } from './output';

const GROUPS: Record<string, ConfigKey[]> = {
  Temporal: [
    'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_API_KEY', 'TEMPORAL_TLS', 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY',
    'TEMPORAL_TLS_CA', 'TEMPORAL_TLS_SERVER_NAME', 'MJ_BATCH_TASK_QUEUE', 'TEMPORAL_UI_URL',
  ],
  S3: ['S3_ENDPOINT', 'S3_BUCKET', 'S3_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'S3_FORCE_PATH_STYLE'],
  Midjourney: ['MJ_BASE_URL', 'MJ_API_KEY', 'MJ_AUTH_HEADER', 'MJ_MODE_PREFIX', 'MJ_ACCOUNT', 'MJ_SLOTS', 'MJ_ACCOUNT_SLOTS', 'MJ_QUEUE_AHEAD'],
  Worker: [
    'MJ_CALLBACKS', 'MJ_CALLBACK_LISTEN', 'MJ_CALLBACK_PUBLIC_URL', 'MJ_CALLBACK_SECRET', 'MJ_IMAGE_HOSTS', 'MJ_IMAGE_ALLOW_PRIVATE',
    'MJ_IMAGE_MAX_BYTES', 'MJ_BATCH_MEDIA_CONCURRENCY', 'MJ_BATCH_ACTIVITY_CONCURRENCY',
  ],
  Local: ['MJ_BATCH_STACK_DIR', 'MJ_BATCH_LOG_FILE', 'MJ_BATCH_CACHE_DIR'],
};

const SECRETS: ReadonlySet<string> = new Set(['TEMPORAL_API_KEY', 'AWS_SECRET_ACCESS_KEY', 'MJ_API_KEY', 'MJ_CALLBACK_SECRET']);

/** Enough of a long secret to tell keys apart; nothing of a short one. */
export function maskSecret(value: string): string {
  return value.length >= 16 ? `${value.slice(0, 4)}…(${value.length} chars)` : '****';
}

/** A setting's value as `config` shows it: secrets masked, access key ids shortened, URL passwords hidden. */
export function shown(key: string, value: string | boolean | undefined): string | boolean | null {
  if (typeof value !== 'string') return value ?? null;
  if (SECRETS.has(key)) return maskSecret(value);
  if (key === 'AWS_ACCESS_KEY_ID') return value.length >= 16 ? `${value.slice(0, 4)}…${value.slice(-4)}` : '****';
  try {
    const url = new URL(value);
    if (url.password) {
      url.password = '****';
      return url.toString();
    }
  } catch {
    // not a URL
  }
  return value;
}

/** Every setting's effective value (masked) and where it came from. */
export function describeConfig(c: EffectiveConfig, env: NodeJS.ProcessEnv = process.env) {
  const resolved: Partial<Record<ConfigKey, string | boolean | undefined>> = {
    TEMPORAL_ADDRESS: c.temporal.address, TEMPORAL_NAMESPACE: c.temporal.namespace, TEMPORAL_API_KEY: c.temporal.apiKey,
    TEMPORAL_TLS: c.temporal.tls, TEMPORAL_TLS_CERT: c.temporal.tlsCert, TEMPORAL_TLS_KEY: c.temporal.tlsKey,
    TEMPORAL_TLS_CA: c.temporal.tlsCa, TEMPORAL_TLS_SERVER_NAME: c.temporal.tlsServerName, MJ_BATCH_TASK_QUEUE: c.taskQueue,
    S3_ENDPOINT: c.s3.endpoint, S3_BUCKET: c.s3.bucket, S3_REGION: c.s3.region, AWS_ACCESS_KEY_ID: c.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: c.s3.secretAccessKey, S3_FORCE_PATH_STYLE: c.s3.forcePathStyle,
    MJ_BASE_URL: c.mj.baseUrl, MJ_API_KEY: c.mj.apiKey, MJ_AUTH_HEADER: c.mj.auth, MJ_MODE_PREFIX: c.mj.modePrefix,
    MJ_BATCH_STACK_DIR: c.stackDir,
  };
  const stackFile = stackLayout(c.stackDir).stateFile;
  const settings = Object.fromEntries(Object.values(GROUPS).flat().map((key) => {
    const value = key in resolved ? resolved[key] : env[key] || undefined;
    const source = key === 'S3_REGION' ? c.sources.S3_REGION ?? c.sources.AWS_REGION : c.sources[key];
    return [key, { value: shown(key, value), source: source ?? 'default' }];
  }));
  return { configFile: c.configFile ?? null, stackFile: fs.existsSync(stackFile) ? stackFile : null, settings };
}

/** Exit codes: 0 the configuration is usable, 2 it is not (an invalid config file, a TLS file that cannot be read, ...). */
export function configCommand(): Command {
  return new Command('config')
    .description('print the effective configuration: every setting, where it came from (env, file, stack, default), secrets masked')
    .option('--json', 'print one JSON object')
    .action((flags: { json?: boolean }) => {
      let config: EffectiveConfig;
      try {
        config = loadConfig();
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        if (flags.json) printJson({ error: err.message });
        else process.stderr.write(`mj-batch: ${err.message}\n`);
        process.exitCode = 2;
        return;
      }
      let error: string | undefined;
      try {
        connectionOptions(config.temporal); // reads the TLS files
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        error = err.message;
      }
      const described = describeConfig(config);
      if (flags.json) printJson({ ...described, ...(error ? { error } : {}) });
      else {
        const rows = Object.entries(GROUPS).map(([group, keys]) => [group, keys.map((k) => [k, String(described.settings[k].value ?? '-'), described.settings[k].source])] as const);
        const width = (i: number) => Math.max(...rows.flatMap(([, r]) => r.map((cells) => cells[i].length)));
        const [w0, w1] = [width(0), width(1)];
        printLines([
          `config file  ${described.configFile ?? `none (no MJ_BATCH_CONFIG, no ${path.join(process.cwd(), CONFIG_FILE_NAME)})`}`,
          `stack        ${described.stackFile ?? `none (no ${stackLayout(config.stackDir).stateFile})`}`,
          ...rows.flatMap(([group, r]) => ['', group, ...r.map(([k, v, s]) => `  ${k.padEnd(w0)}  ${v.padEnd(w1)}  ${s}`)]),
        ]);
      }
      if (error) {
        if (!flags.json) process.stderr.write(`mj-batch: ${error}\n`);
        process.exitCode = 2;
      }
    });
}
