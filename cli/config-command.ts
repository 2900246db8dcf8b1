import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { CONFIG_FILE_NAME, ConfigError, loadConfig, type EffectiveConfig } from '../config/config';
import { SETTINGS, settingOf } from '../config/settings';
import { connectionOptions } from '../config/temporal';
import { stackLayout } from '../stack/paths';
import { printJson, printLines } from './output';
import { CONFIG_EXIT } from './exit-codes';

/** Enough of a long secret to tell keys apart; nothing of a short one. */
export function maskSecret(value: string): string {
  return value.length >= 16 ? `${value.slice(0, 4)}…(${value.length} chars)` : '****';
}

/** A setting's value as `config` shows it: secrets masked, access key ids shortened, URL passwords hidden, lists joined. */
export function shown(key: string, value: string | boolean | number | string[] | undefined): string | boolean | number | null {
  if (Array.isArray(value)) value = value.join(',');
  if (typeof value !== 'string') return value ?? null;
  if (settingOf(key)?.secret) return maskSecret(value);
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

/** Every setting of the table: its effective value (masked) and where it came from. */
export function describeConfig(c: EffectiveConfig) {
  const stackFile = stackLayout(c.stackDir).stateFile;
  const settings = Object.fromEntries(
    SETTINGS.map(({ name }) => {
      // S3_REGION shows the region in use, which AWS_REGION may have set.
      const source = name === 'S3_REGION' ? (c.sources.S3_REGION ?? c.sources.AWS_REGION) : c.sources[name];
      return [name, { value: shown(name, c.values[name]), source: source ?? 'default' }];
    }),
  );
  return { configFile: c.configFile ?? null, stackFile: fs.existsSync(stackFile) ? stackFile : null, settings };
}

/** Exit codes: 0 the configuration is usable, 2 it is not (an invalid config file, a bad value, a TLS file that cannot be read, ...). */
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
        process.exitCode = CONFIG_EXIT.unusable;
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
        const groups = [...new Set(SETTINGS.map((s) => s.group))];
        const rows = groups.map(
          (group) =>
            [
              group,
              SETTINGS.filter((s) => s.group === group).map(({ name }) => [
                name,
                String(described.settings[name].value ?? '-'),
                described.settings[name].source,
              ]),
            ] as const,
        );
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
        process.exitCode = CONFIG_EXIT.unusable;
      }
    });
}
