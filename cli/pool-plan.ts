// What `validate` and `run` share for the pool forecast: the --deadline, --timezone and --start options, the
// accounts to plan with, and how the plan prints.
import { InvalidArgumentError, Option } from 'commander';
import { isValidTimeZone, localTime, type AccountSpec } from '../contracts/accounts';
import { accountOf } from '../client/account-slots';
import { localTimeZone, parseDeadline } from '../manifest/deadline';
import type { PoolForecast } from '../manifest/pool-forecast';
import { loadAccountSpecs } from '../config/accounts';
import type { EffectiveConfig } from '../config/config';

export interface PlanFlags {
  deadline?: string;
  timezone?: string;
  start?: string;
}

/** Checks the form now; the instant depends on --timezone and the start, so it is computed in the action. */
function timeArgument(v: string): string {
  try {
    parseDeadline(v, 0, 'UTC');
    return v;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function deadlineOption(what: string): Option {
  return new Option('--deadline <time>', `${what}: HH:MM (the next such time) or an ISO date-time`).argParser(timeArgument);
}

export function timezoneOption(): Option {
  return new Option(
    '--timezone <zone>',
    "the IANA time zone of --deadline (an HH:MM, or a date-time without an offset) and of the times printed (default: this machine's)",
  ).argParser((v: string) => {
    if (!isValidTimeZone(v)) throw new InvalidArgumentError(`unknown time zone "${v}" (use an IANA name such as Europe/Paris or UTC)`);
    return v;
  });
}

export function startOption(): Option {
  return new Option('--start <time>', 'plan as if the batch started then (HH:MM or an ISO date-time; default now)').argParser(timeArgument);
}

/** The plan's time zone, start and deadline (ms epoch); HH:MM deadlines are the next such time after the start. */
export function planTimes(flags: PlanFlags, nowMs: number): { timeZone: string; startMs: number; deadlineMs?: number } {
  const timeZone = flags.timezone ?? localTimeZone();
  const startMs = flags.start === undefined ? nowMs : parseDeadline(flags.start, nowMs, timeZone);
  const deadlineMs = flags.deadline === undefined ? undefined : parseDeadline(flags.deadline, startMs, timeZone);
  return { timeZone, startMs, deadlineMs };
}

/** Today's single-account settings as the one account of the pool, under the name its slots workflow has. */
export function implicitAccount(config: EffectiveConfig, slots: number): AccountSpec {
  return { name: accountOf(config.mj), baseUrl: config.mj.baseUrl ?? '', apiKeyEnv: 'MJ_API_KEY', slots };
}

/** `pool` in `--json`: the plan without its row-by-row schedule (as long as the manifest), with its time zone. */
export function poolJson(plan: PoolForecast, timeZone: string): Omit<PoolForecast, 'schedule'> & { timezone: string } {
  const { schedule: _schedule, ...rest } = plan;
  return { ...rest, timezone: timeZone };
}

function localText(isoTime: string, timeZone: string): string {
  const t = localTime(timeZone, Date.parse(isoTime));
  const two = (n: number) => String(n).padStart(2, '0');
  return `${t.year}-${two(t.month)}-${two(t.day)} ${two(t.hour)}:${two(t.minute)}:${two(t.second)} ${timeZone}`;
}

/** Exact (the plan is hand-checkable): `1 h 4 min 30 s`. */
export function exactDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const parts = [h ? `${h} h` : '', m ? `${m} min` : '', s || (!h && !m) ? `${s} s` : ''];
  return parts.filter(Boolean).join(' ');
}

export function deadlineLine(plan: PoolForecast, timeZone: string): string | undefined {
  if (plan.deadline === null) return undefined;
  return plan.meetsDeadline
    ? `  deadline    ${localText(plan.deadline, timeZone)}: met, ${exactDuration(plan.marginSeconds ?? 0)} to spare`
    : `  deadline    ${localText(plan.deadline, timeZone)}: missed by ${exactDuration(plan.missBySeconds ?? 0)}`;
}

export function poolLines(plan: PoolForecast, timeZone: string): string[] {
  const byMode = Object.entries(plan.paidJobs.byMode)
    .map(([m, n]) => `${m} ${n}`)
    .join(', ');
  const lines = [
    `  pool        ${plan.accounts.length} account(s), ${plan.paidJobs.total} paid job(s) planned${byMode ? ` (${byMode})` : ''}`,
    ...plan.accounts.map((a) => {
      const pauses = a.pauses.map(
        (p) =>
          `${p.reason === 'hours' ? 'outside its hours' : 'daily cap reached'} ${localText(p.from, timeZone)} to ${localText(p.until, timeZone)}`,
      );
      return `    ${a.name}: ${a.slots} slot(s), ${a.modes.join('/')}; ${a.rows} row(s), ${a.jobs} job(s), busy ${exactDuration(a.busySeconds)}${
        pauses.length ? `; paused: ${pauses.join('; ')}` : ''
      }`;
    }),
    `  start       ${localText(plan.startAt, timeZone)}`,
    `  finish      ${localText(plan.finishAt, timeZone)} (after ${exactDuration(plan.durationSeconds)})`,
  ];
  const deadline = deadlineLine(plan, timeZone);
  if (deadline) lines.push(deadline);
  if (plan.unservable.length > 0) {
    const jobs = plan.unservable.reduce((s, u) => s + u.jobs, 0);
    lines.push(`  not served  ${plan.unservable.length} row(s), ${jobs} paid job(s) no account can run:`);
    lines.push(...plan.unservable.map((u) => `    line ${u.line} (${u.mode}, ${u.jobs} job(s)): ${u.reason}`));
  }
  return lines;
}

/** Why a batch planned as `plan` cannot make its deadline (late, or rows no account runs); undefined when it can. */
export function deadlineShortfall(plan: PoolForecast, timeZone: string): string | undefined {
  if (plan.deadline === null) return undefined;
  const problems: string[] = [];
  if (!plan.meetsDeadline)
    problems.push(
      `its last job would end at ${localText(plan.finishAt, timeZone)}, ${exactDuration(plan.missBySeconds ?? 0)} after the deadline`,
    );
  if (plan.unservable.length > 0)
    problems.push(
      `${plan.unservable.length} row(s) no account can run (${plan.unservable
        .slice(0, 3)
        .map((u) => `line ${u.line}: ${u.reason}`)
        .join('; ')}${plan.unservable.length > 3 ? '; ...' : ''})`,
    );
  return problems.length ? `the batch cannot finish by ${localText(plan.deadline, timeZone)}: ${problems.join(', and ')}` : undefined;
}

/**
 * The accounts file's specs (`--accounts`, else MJ_ACCOUNTS_FILE), checked like the worker checks them but needing
 * no key: a plan pays nothing. Undefined when no file is in use (the caller plans over today's one account).
 */
export function loadPlanAccounts(file: string | undefined, config: EffectiveConfig): AccountSpec[] | undefined {
  return loadAccountSpecs({ config, file });
}
