// The API accounts of the worker and the CLI: the accounts file read and checked, or one implicit account from the
// single-account settings, each with its key read from the variable the file names. Keys stay in `ResolvedAccount`:
// what goes into inputs, history, logs or output is `describeAccounts`, the specs alone.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { z } from 'zod';
import {
  ACCOUNT_MODES,
  DEFAULT_ACCOUNT_TIMEZONE,
  isValidTimeZone,
  parseHours,
  type AccountMode,
  type AccountSpec,
} from '../contracts/accounts';
import { ConfigError, type EffectiveConfig } from './config';

/** An account with its key. The key never serializes: JSON and `inspect` show `(secret)`. */
export class ResolvedAccount {
  constructor(
    readonly spec: AccountSpec,
    readonly apiKey: string,
  ) {}

  toJSON() {
    return { spec: this.spec, apiKey: '(secret)' };
  }

  [inspect.custom]() {
    return `ResolvedAccount ${inspect(this.toJSON())}`;
  }
}

export interface Accounts {
  /** The accounts file read (absolute); unset: the one implicit account. */
  file?: string;
  /** In the file's order, defaults filled in. */
  accounts: ResolvedAccount[];
}

export interface LoadAccountsOptions {
  config: Pick<EffectiveConfig, 'mj' | 'account' | 'accountsFile'>;
  /** `--accounts FILE`: wins over MJ_ACCOUNTS_FILE; relative to `cwd`. */
  file?: string;
  /** The implicit account's name: `accountOf(config.mj)` (client/account-slots.ts), so its slots workflow keeps its id. */
  implicitName: string;
  /** Where the keys are read (default: process.env). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** The accounts file in use (absolute): `--accounts`, else MJ_ACCOUNTS_FILE; undefined for the implicit account. */
export function accountsFileOf(opts: Pick<LoadAccountsOptions, 'config' | 'file' | 'cwd'>): string | undefined {
  return opts.file !== undefined ? path.resolve(opts.cwd ?? process.cwd(), opts.file) : opts.config.accountsFile;
}

/**
 * The accounts to use, each with its key. A file that cannot be read or checked, or a key variable that is unset or
 * empty, is a ConfigError (exit 2) naming the file, the account and the field; no message ever holds a key.
 */
export function loadAccounts(opts: LoadAccountsOptions): Accounts {
  const file = accountsFileOf(opts);
  if (file === undefined) return { accounts: [implicitAccount(opts.config, opts.implicitName)] };
  return { file, accounts: resolveKeys(file, loadAccountSpecs(opts)!, opts.env ?? process.env) };
}

/**
 * The accounts file's specs, checked like `loadAccounts` does but needing no key (for a CLI that only submits
 * batches: keys are the worker's); undefined without a file.
 */
export function loadAccountSpecs(opts: Pick<LoadAccountsOptions, 'config' | 'file' | 'cwd'>): AccountSpec[] | undefined {
  const file = accountsFileOf(opts);
  return file === undefined ? undefined : readAccountsFile(file, opts.config, opts.file !== undefined ? '--accounts' : 'MJ_ACCOUNTS_FILE');
}

/** The specs alone, for inputs, history, logs and output: never a key. */
export function describeAccounts(accounts: readonly ResolvedAccount[]): AccountSpec[] {
  return accounts.map((a) => ({ ...a.spec, ...(a.spec.modes ? { modes: [...a.spec.modes] } : {}) }));
}

/** Today's single-account settings as one account. */
function implicitAccount(config: LoadAccountsOptions['config'], name: string): ResolvedAccount {
  const { baseUrl, apiKey } = config.mj;
  if (!baseUrl || !apiKey) {
    throw new ConfigError(
      'no Midjourney API configured: set MJ_BASE_URL and MJ_API_KEY, or an accounts file (MJ_ACCOUNTS_FILE), or run `mj-batch stack up` for the local simulator',
    );
  }
  const spec: AccountSpec = {
    name,
    baseUrl,
    apiKeyEnv: 'MJ_API_KEY',
    slots: config.account.apiSlots,
    queueAhead: config.account.queueAhead,
    modes: [...ACCOUNT_MODES],
    authHeader: config.mj.auth,
    modePrefix: config.mj.modePrefix,
    timezone: DEFAULT_ACCOUNT_TIMEZONE,
    weight: 1,
  };
  return new ResolvedAccount(spec, apiKey);
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FIELDS = [
  'name',
  'baseUrl',
  'apiKeyEnv',
  'slots',
  'queueAhead',
  'modes',
  'authHeader',
  'modePrefix',
  'dailyJobs',
  'hours',
  'timezone',
  'minGapMs',
  'jitterMs',
  'weight',
] as const satisfies readonly (keyof AccountSpec)[];

/** "is required" when the field is missing, else `problem`. */
const says = (problem: string | ((input: unknown) => string)) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is required' : typeof problem === 'string' ? problem : problem(issue.input);

const whole = (min: number, max?: number) => {
  const range = max === undefined ? `a whole number >= ${min}` : `a whole number from ${min} to ${max}`;
  return z
    .number({ error: says(`must be ${range}`) })
    .refine((n) => Number.isInteger(n) && n >= min && (max === undefined || n <= max), { error: `must be ${range}` });
};

const httpUrl = (value: string) => {
  try {
    return /^https?:$/.test(new URL(value).protocol);
  } catch {
    return false;
  }
};

// Values that may hold a credential (a URL's password, a key pasted where a variable's name belongs) are never quoted.
const ACCOUNT = z.strictObject({
  name: z
    .string({ error: says('must be a string') })
    .regex(NAME, { error: (i) => `${JSON.stringify(i.input)} must be 1 to 64 letters, digits, ".", "_" or "-"` }),
  baseUrl: z.string({ error: says('must be a string') }).refine(httpUrl, { error: 'must be an http:// or https:// URL' }),
  apiKeyEnv: z.string({ error: says('must be a string') }).regex(VARIABLE, {
    error: 'must be the name of an environment variable (letters, digits, "_"; the key itself never goes in the file)',
  }),
  slots: whole(1, 100),
  queueAhead: whole(0, 100).optional(),
  modes: z
    .array(z.enum(['fast', 'relax', 'turbo'] satisfies AccountMode[], { error: 'may hold only "fast", "relax" and "turbo"' }), {
      error: says('must be a list of modes, e.g. ["fast", "relax"]'),
    })
    .min(1, { error: 'must name at least one mode' })
    .refine((modes) => new Set(modes).size === modes.length, { error: 'names a mode twice' })
    .optional(),
  authHeader: z.enum(['bearer', 'mj-api-secret'], { error: 'must be "bearer" or "mj-api-secret"' }).optional(),
  modePrefix: z.enum(['auto', 'mj-dash', 'plain', 'none'], { error: 'must be "auto", "mj-dash", "plain" or "none"' }).optional(),
  dailyJobs: whole(1).optional(),
  hours: z
    .string({ error: 'must be a string like "08:00-23:30"' })
    .superRefine((hours, ctx) => {
      try {
        parseHours(hours);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .optional(),
  timezone: z
    .string({ error: 'must be a string like "Europe/Berlin"' })
    .refine(isValidTimeZone, {
      error: (i) => `${JSON.stringify(i.input)} is not a time zone (an IANA name like "Europe/Berlin", or "UTC")`,
    })
    .optional(),
  minGapMs: whole(0).optional(),
  jitterMs: whole(0).optional(),
  weight: z
    .number({ error: 'must be a number > 0' })
    .refine((n) => n > 0, { error: 'must be a number > 0' })
    .optional(),
});

/** Reads and checks the file: every problem of every account in one ConfigError. */
function readAccountsFile(file: string, config: LoadAccountsOptions['config'], namedBy: string): AccountSpec[] {
  const fail = (problem: string) => new ConfigError(`accounts file ${file}: ${problem}`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? `no such file (named by ${namedBy})` : (err as Error).message);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    // V8 quotes the text around the error: cut it, so a key pasted into the file is not echoed.
    throw fail(`invalid JSON: ${(err as Error).message.replace(/,\s*".*$/s, '')}`);
  }
  if (!Array.isArray(parsed))
    throw fail('must be a JSON array of accounts, like [{"name": "main", "baseUrl": ..., "apiKeyEnv": ..., "slots": 3}]');
  if (parsed.length === 0) throw fail('lists no accounts');

  const problems: string[] = [];
  const specs: AccountSpec[] = [];
  parsed.forEach((raw, i) => {
    const rawName = (raw as { name?: unknown } | null)?.name;
    const who = `accounts[${i}]${typeof rawName === 'string' && NAME.test(rawName) ? ` ("${rawName}")` : ''}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return void problems.push(`${who}: must be a JSON object`);
    const result = ACCOUNT.safeParse(raw);
    if (!result.success) {
      for (const issue of result.error.issues) problems.push(describeIssue(who, issue));
      return;
    }
    const earlier = specs.findIndex((s) => s.name === result.data.name);
    if (earlier >= 0) problems.push(`${who}, name: accounts[${earlier}] already has this name (names are unique)`);
    const twice = specs.findIndex((s) => sameUrl(s.baseUrl, result.data.baseUrl) && s.apiKeyEnv === result.data.apiKeyEnv);
    if (twice >= 0)
      problems.push(
        `${who}: the same baseUrl and apiKeyEnv as accounts[${twice}] ("${specs[twice].name}"): one account listed twice would run more jobs at once than it has slots`,
      );
    specs.push(withDefaults(result.data, config));
  });
  if (problems.length === 1) throw fail(problems[0]);
  if (problems.length > 1) throw fail(`${problems.length} problems:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return specs;
}

function describeIssue(who: string, issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const keyLike = issue.keys.some((k) => /key|token|secret/i.test(k) && k !== 'apiKeyEnv');
    return `${who}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (${
      keyLike
        ? 'keys never go in the file: put the key in an environment variable and name it in apiKeyEnv'
        : `fields: ${FIELDS.join(', ')}`
    })`;
  }
  const field = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
  // parseHours's messages name the field already.
  return issue.message.startsWith(`${String(issue.path[0])} `) ? `${who}: ${issue.message}` : `${who}, ${field}: ${issue.message}`;
}

function withDefaults(spec: AccountSpec, config: LoadAccountsOptions['config']): AccountSpec {
  return {
    ...spec,
    queueAhead: spec.queueAhead ?? 0,
    modes: spec.modes ?? [...ACCOUNT_MODES],
    authHeader: spec.authHeader ?? config.mj.auth,
    modePrefix: spec.modePrefix ?? config.mj.modePrefix,
    timezone: spec.timezone ?? DEFAULT_ACCOUNT_TIMEZONE,
    weight: spec.weight ?? 1,
  };
}

function sameUrl(a: string, b: string): boolean {
  const norm = (u: string) => new URL(u).href.replace(/\/+$/, '');
  return norm(a) === norm(b);
}

/** Each account's key from its variable; an unset or empty one is an error naming the variable. */
function resolveKeys(file: string, specs: AccountSpec[], env: NodeJS.ProcessEnv): ResolvedAccount[] {
  const missing = specs.filter((s) => !env[s.apiKeyEnv]?.trim());
  if (missing.length > 0) {
    throw new ConfigError(
      `accounts file ${file}: no key for ${missing.map((s) => `"${s.name}" (${s.apiKeyEnv})`).join(', ')}: ` +
        `set ${missing.length > 1 ? 'those variables' : 'that variable'} in the environment of the worker and the CLI`,
    );
  }
  const accounts = specs.map((s) => new ResolvedAccount(s, env[s.apiKeyEnv]!.trim()));
  accounts.forEach((a, i) => {
    const twin = accounts.findIndex((b, j) => j < i && b.apiKey === a.apiKey && sameUrl(b.spec.baseUrl, a.spec.baseUrl));
    if (twin >= 0)
      throw new ConfigError(
        `accounts file ${file}: "${a.spec.name}" (${a.spec.apiKeyEnv}) and "${accounts[twin].spec.name}" (${accounts[twin].spec.apiKeyEnv}) ` +
          'hold the same key for the same baseUrl: one account listed twice would run more jobs at once than it has slots',
      );
  });
  return accounts;
}
