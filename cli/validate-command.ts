import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../config/config';
import { forecast } from '../manifest/forecast';
import { delimiterName, parseDelimiter, type CsvDelimiter } from '../manifest/parse';
import { parseS3Uri, ManifestSourceError } from '../manifest/source';
import { validateManifest } from '../manifest/validate';
import type { Mode } from '../mj-client/routing';
import type { ManifestRow } from '../manifest/row';
import { createS3Client } from '../storage/s3-client';
import { wholeNumber } from '../client/options';
import { printJson, printLines } from './output';
import { VALIDATE_EXIT } from './exit-codes';
import { poolForecast } from '../manifest/pool-forecast';
import {
  deadlineOption,
  implicitAccount,
  loadPlanAccounts,
  planTimes,
  poolJson,
  poolLines,
  startOption,
  timezoneOption,
  type PlanFlags,
} from './pool-plan';

/** `--delimiter`'s parser, shared with `run`: `,` `;` `tab` (or `\t`). */
export function delimiterOption(): Option {
  return new Option(
    '--delimiter <d>',
    `the CSV delimiter: "," ";" or "tab" (default: the one that splits the header line into the manifest's columns)`,
  ).argParser((v: string) => {
    try {
      return parseDelimiter(v);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  });
}

interface ValidateFlags extends PlanFlags {
  slots: number;
  mode: Mode;
  json?: boolean;
  delimiter?: CsvDelimiter;
  accounts?: string;
}

/** Exit codes: 0 valid, 1 the manifest has errors, 2 it could not be read. */
export function validateCommand(): Command {
  return new Command('validate')
    .description('check every row of a manifest (nothing is submitted) and forecast its paid jobs and duration')
    .argument('<manifest>', 'a CSV, JSON or JSONL file, or an s3://bucket/key URI')
    .option('--slots <n>', 'concurrent jobs the account runs, for the duration forecast', wholeNumber(1), 3)
    .addOption(new Option('--mode <mode>', 'speed mode of rows that name none').choices(['fast', 'relax', 'turbo']).default('fast'))
    .addOption(delimiterOption())
    .option('--accounts <file>', 'an accounts file (JSON): forecast over the pool of accounts')
    .addOption(deadlineOption('with --accounts (or --slots alone): whether the pool finishes by then'))
    .addOption(timezoneOption())
    .addOption(startOption())
    .option('--json', 'print one JSON object')
    .action(async (manifest: string, flags: ValidateFlags) => {
      const s3 = parseS3Uri(manifest) ? createS3Client(loadConfig().s3) : undefined;
      let result;
      try {
        result = await validateManifest(manifest, s3, flags.delimiter);
      } catch (err) {
        if (!(err instanceof ManifestSourceError)) throw err;
        if (flags.json) printJson({ manifest, valid: false, readable: false, error: err.message });
        else process.stderr.write(`mj-batch: cannot read the manifest: ${err.message}\n`);
        process.exitCode = VALIDATE_EXIT.unreadable;
        return;
      } finally {
        s3?.destroy();
      }
      const valid = result.issues.length === 0;
      const plan = forecast(result.rows, flags.slots, flags.mode);
      // The pool forecast: with an accounts file, or a deadline to check against the --slots account alone.
      const pool = flags.accounts !== undefined || flags.deadline !== undefined ? planPool(result.rows, flags) : undefined;
      if (flags.json) {
        printJson({
          manifest,
          valid,
          format: result.format,
          // The CSV delimiter read with (given or chosen from the header); null for JSON, JSONL and a header none fits.
          delimiter: result.delimiter ?? null,
          sha256: result.sha256,
          records: result.recordCount,
          rows: result.rows.length,
          errors: result.issues,
          forecast: plan,
          ...(pool ? { pool: poolJson(pool.plan, pool.timeZone) } : {}),
        });
      } else {
        const lines = result.issues.map((i) => `  line ${i.line}, ${i.field}: ${i.message}`);
        printLines([
          ...(valid ? [] : [`${manifest}: ${result.issues.length} error(s); nothing will be submitted until they are fixed`, ...lines, '']),
          `${manifest}: ${result.format.toUpperCase()}${result.delimiter ? ` (${delimiterName(result.delimiter)}-separated)` : ''}, ${result.recordCount} row(s) read, ${result.rows.length} valid`,
          `  paid jobs   ${plan.paidJobs.total} (${
            Object.entries(plan.paidJobs.byKind)
              .map(([k, n]) => `${n} ${k}`)
              .join(', ') || 'none'
          }; ${plan.paidJobs.followUps} follow-ups)`,
          `  by mode     ${
            Object.entries(plan.paidJobs.byMode)
              .map(([m, n]) => `${m} ${n}`)
              .join(', ') || '-'
          }`,
          plan.boundBy === 'longestChain'
            ? `  duration    about ${formatDuration(plan.wallClockSeconds)}: the longest row's jobs run one after another (${plan.slots} slot(s))`
            : `  duration    about ${formatDuration(plan.wallClockSeconds)} with ${plan.slots} slot(s) kept busy`,
          ...(pool ? poolLines(pool.plan, pool.timeZone) : []),
        ]);
      }
      if (!valid) process.exitCode = VALIDATE_EXIT.invalidRows;
    });
}

function planPool(rows: ManifestRow[], flags: ValidateFlags) {
  const { timeZone, startMs, deadlineMs } = planTimes(flags, Date.now());
  const config = loadConfig();
  const accounts = loadPlanAccounts(flags.accounts, config) ?? [implicitAccount(config, flags.slots)];
  return { timeZone, plan: poolForecast({ rows, accounts, startMs, deadlineMs, defaultMode: flags.mode }) };
}

function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.round((seconds % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min` : `${seconds} s`;
}
