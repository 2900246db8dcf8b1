import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/config';
import { downloadPolicyFrom } from '../config/media';
import { createDownloadDispatcher } from '../media/download';
import { MjClient } from '../mj-client/client';
import {
  callbacksOf,
  checkImage,
  checkListByCondition,
  checkListTasks,
  checkModeStyle,
  checkReach,
  imageSourceOf,
  isLoopback,
  modeRanCheck,
  problem,
  runPaidJob,
  skipped,
  type Check,
  type PaidJob,
} from './doctor-checks';
import { printJson, printLines, progress } from './output';
import { DOCTOR_EXIT } from './exit-codes';

export interface DoctorReport {
  ok: boolean;
  baseUrl: string | null;
  checks: Check[];
  settings: { MJ_MODE_PREFIX: string; MJ_CALLBACKS: '0' | '1'; MJ_IMAGE_HOSTS: string | null };
  spent: number;
}

const CHECKS = ['reach', 'unknown-task', 'list-by-condition', 'list-tasks', 'mode-style', 'images', 'job', 'callbacks', 'mode-ran'];
/** Exit codes: 0 all good, 1 problems found (or a bad flag), 2 the API cannot be reached. */
/** A relax job may wait in the account's queue for minutes; the worker's own default deadline is 30 min. */
const JOB_DEADLINE_MS = 20 * 60_000;

const spendCount = (value: string): number => {
  if (value !== '0' && value !== '1') throw new InvalidArgumentError('must be 0 or 1 (doctor makes at most one paid job)');
  return Number(value);
};

/** The base URL as it may be shown: no credentials, no query. */
function shownUrl(raw: string): string {
  const url = new URL(raw);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .description(
      'check the configured Midjourney API with free calls (key, answer shapes, task lists, mode URL style, images, callbacks) and print the settings to use',
    )
    .option(
      '--spend <n>',
      'paid jobs doctor may make: 1 adds one cheap real job (an imagine in relax mode) to check mode and callbacks end to end',
      spendCount,
      0,
    )
    .option('--task <id>', 'a finished task of yours whose image to download (free)')
    .option('--json', 'print one JSON object')
    .action(async (flags: { spend: number; task?: string; json?: boolean }) => {
      const config = loadConfig();
      const { baseUrl, apiKey } = config.mj;
      const { report, unreachable } =
        !baseUrl || !apiKey
          ? unconfigured('none is configured')
          : !/^https?:\/\/[^/]/.test(baseUrl)
            ? unconfigured('MJ_BASE_URL is not an http(s) URL')
            : await diagnose(config, baseUrl, apiKey, flags);
      // Whatever a server echoed back, the key never leaves this process (a very short one would garble the words).
      const redact = (text: string) => (apiKey && apiKey.length >= 8 ? text.split(apiKey).join('****') : text);
      if (flags.json) printJson(JSON.parse(redact(JSON.stringify(report))));
      else printLines(humanLines(report).map(redact));
      process.exitCode = unreachable ? DOCTOR_EXIT.unreachable : report.ok ? DOCTOR_EXIT.ok : DOCTOR_EXIT.problems;
    });
}

interface Diagnosis {
  report: DoctorReport;
  unreachable: boolean;
}

function unconfigured(why: string): Diagnosis {
  const checks = CHECKS.map((name, i) =>
    i === 0
      ? problem(name, `cannot reach the API: ${why}`, 'set MJ_BASE_URL and MJ_API_KEY, or run `mj-batch stack up` for the local simulator')
      : skipped(name, 'no API configured'),
  );
  return {
    unreachable: true,
    report: { ok: false, baseUrl: null, checks, settings: { MJ_MODE_PREFIX: 'auto', MJ_CALLBACKS: '1', MJ_IMAGE_HOSTS: null }, spent: 0 },
  };
}

async function diagnose(
  config: ReturnType<typeof loadConfig>,
  baseUrl: string,
  apiKey: string,
  flags: { spend: number; task?: string },
): Promise<Diagnosis> {
  // The callback settings as doctor-checks reads them, from the checked configuration rather than process.env.
  const w = config.worker;
  const env: NodeJS.ProcessEnv = {
    MJ_CALLBACKS: w.callbacks ? '1' : '0',
    MJ_CALLBACK_LISTEN: `${w.callbackListen.host}:${w.callbackListen.port}`,
    MJ_CALLBACK_PUBLIC_URL: w.callbackPublicUrl,
    MJ_CALLBACK_SECRET: w.callbackSecret,
  };
  const client = new MjClient({ baseUrl, apiKey, auth: config.mj.auth, modePrefix: config.mj.modePrefix, timeoutMs: 20_000 });
  const policy = downloadPolicyFrom(config);
  const dispatcher = createDownloadDispatcher(policy);
  const currentHosts = policy.allowHosts.length ? policy.allowHosts.join(',') : null;
  const report = (checks: Check[], settings: Partial<DoctorReport['settings']> = {}, spent = 0, unreachable = false): Diagnosis => ({
    unreachable,
    report: {
      ok: checks.every((c) => c.status !== 'problem'),
      baseUrl: shownUrl(baseUrl),
      checks,
      settings: {
        MJ_MODE_PREFIX: config.mj.modePrefix,
        MJ_CALLBACKS: env.MJ_CALLBACKS === '0' ? '0' : '1',
        MJ_IMAGE_HOSTS: currentHosts,
        ...settings,
      },
      spent,
    },
  });
  try {
    const reached = await checkReach(client);
    if (reached.fatal) {
      const why = reached.fatal === 'unreachable' ? 'the API cannot be reached' : 'the key is refused';
      return report(
        [reached.reach, reached.unknownTask, ...CHECKS.slice(2).map((name) => skipped(name, why))],
        {},
        0,
        reached.fatal === 'unreachable',
      );
    }
    // One call at a time: a gateway's per-token concurrency gate would refuse parallel ones.
    const byCondition = await checkListByCondition(client);
    const listed = await checkListTasks(client);
    const mode = await checkModeStyle(client, config.mj.modePrefix, reached.server);
    let job: PaidJob | undefined;
    if (flags.spend === 1)
      job = await runPaidJob(client, { style: mode.recommended, server: reached.server, env, deadlineMs: JOB_DEADLINE_MS, progress });
    const source = await imageSourceOf(client, flags.task, job, listed.tasks);
    const image = 'url' in source ? await checkImage(source, policy, dispatcher, baseUrl) : { check: source, hosts: policy.allowHosts };
    const callbacks = callbacksOf(job, reached.server, env, isLoopback(new URL(baseUrl).hostname));
    const checks = [
      reached.reach,
      reached.unknownTask,
      byCondition,
      listed.check,
      mode.check,
      image.check,
      job?.check ?? skipped('job', 'needs --spend 1'),
      callbacks.check,
      modeRanCheck(job),
    ];
    return report(
      checks,
      {
        MJ_MODE_PREFIX: mode.recommended,
        MJ_CALLBACKS: callbacks.setting,
        MJ_IMAGE_HOSTS: image.hosts.length ? image.hosts.join(',') : null,
      },
      job?.spent ?? 0,
    );
  } finally {
    await client.close();
    await dispatcher.close();
  }
}

const LABEL = { ok: 'ok', problem: 'problem', skipped: 'not checked' } as const;

function humanLines(r: DoctorReport): string[] {
  const problems = r.checks.filter((c) => c.status === 'problem').length;
  const width = Math.max(...r.checks.map((c) => c.name.length));
  return [
    `mj-batch doctor: ${r.baseUrl ?? 'no Midjourney API configured'}`,
    ...r.checks.flatMap((c) => [
      `  ${LABEL[c.status].padEnd(11)}  ${c.name.padEnd(width)}  ${c.detail}`,
      ...(c.advice ? [`  ${''.padEnd(11)}  ${''.padEnd(width)}  → ${c.advice}`] : []),
    ]),
    '',
    'settings to use:',
    `  MJ_MODE_PREFIX=${r.settings.MJ_MODE_PREFIX}`,
    `  MJ_CALLBACKS=${r.settings.MJ_CALLBACKS}${r.settings.MJ_CALLBACKS === '0' ? '   (or run --no-callbacks)' : ''}`,
    r.settings.MJ_IMAGE_HOSTS
      ? `  MJ_IMAGE_HOSTS=${r.settings.MJ_IMAGE_HOSTS}`
      : '  MJ_IMAGE_HOSTS unset (any public host; no image was downloaded to name one)',
    '',
    `${problems === 0 ? 'no problems found' : `${problems} problem(s) found`}; ${r.spent} paid job(s) made`,
  ];
}
