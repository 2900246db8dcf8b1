import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ENV_ONLY_KEYS, FILE_KEYS } from '../../config/config';
import type { SimulatorSettings } from '../../simulator/options';
import { runCli, type CliRun } from '../integration/cli';
import { clientFor, pollUntilDone, simulatorTarget, type Target } from './targets';

// `mj-batch doctor` as a user runs it (the built CLI, its own process) against the simulator in both profiles.

let target: Target | undefined;
afterEach(async () => {
  await target?.close();
  target = undefined;
});

async function simulator(profile: 'plus' | 'gateway', extra: SimulatorSettings = {}): Promise<Target> {
  target = await simulatorTarget(profile, extra);
  return target;
}

/** Every mj-batch variable blanked, so the developer's environment (or a running local stack) cannot leak in. */
function doctor(args: string[], vars: Record<string, string>): Promise<CliRun> {
  const env = { ...Object.fromEntries([...FILE_KEYS, ...ENV_ONLY_KEYS].map((k) => [k, ''])), ...vars };
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-doctor-'));
  return runCli(['--log-file', '-', '--log-level', 'silent', 'doctor', ...args], { cwd, env });
}

const against = (t: Target, extra: Record<string, string> = {}) => ({ MJ_BASE_URL: t.baseUrl, MJ_API_KEY: t.apiKey, ...extra });

interface Report {
  ok: boolean;
  baseUrl: string | null;
  checks: { name: string; status: 'ok' | 'problem' | 'skipped'; detail: string; advice?: string }[];
  settings: { MJ_MODE_PREFIX: string; MJ_CALLBACKS: string; MJ_IMAGE_HOSTS: string | null };
  spent: number;
}

function parsed(run: CliRun): Report & { by: Record<string, Report['checks'][number]> } {
  const report = JSON.parse(run.stdout) as Report;
  return { ...report, by: Object.fromEntries(report.checks.map((c) => [c.name, c])) };
}

const statuses = (r: Report) => Object.fromEntries(r.checks.map((c) => [c.name, c.status]));

test('plus profile: every check ok, exit 0, tasks can be listed, mj-dash recommended, a listed image downloaded, nothing paid', async () => {
  const t = await simulator('plus');
  const mj = clientFor(t);
  const { taskId } = await mj.submitImagine({ prompt: 'a ceramic vase, studio light' });
  await pollUntilDone(mj, t, taskId);
  await mj.close();

  const run = await doctor(['--json'], against(t));
  expect(run.code).toBe(0);
  const r = parsed(run);
  expect(r.ok).toBe(true);
  expect(r.baseUrl).toBe(t.baseUrl);
  expect(statuses(r)).toEqual({
    reach: 'ok',
    'unknown-task': 'ok',
    'list-by-condition': 'ok',
    'list-tasks': 'ok',
    'mode-style': 'ok',
    images: 'ok',
    job: 'skipped',
    callbacks: 'skipped',
    'mode-ran': 'skipped',
  });
  expect(r.by['unknown-task']!.detail).toMatch(/HTTP 204: a midjourney-proxy Plus server/);
  expect(r.by['list-tasks']!.detail).toMatch(/^yes .*adopted/);
  expect(r.by['mode-style']!.detail).toMatch(/\/relax\/mj\/\.\.\.: no route/);
  expect(r.by.images!.detail).toContain(`task ${taskId}`);
  expect(r.by.callbacks!.detail).toBe('needs --spend 1');
  expect(r.settings).toEqual({ MJ_MODE_PREFIX: 'mj-dash', MJ_CALLBACKS: '1', MJ_IMAGE_HOSTS: '127.0.0.1' });
  expect(r.spent).toBe(0);
  expect(t.sim!.engine.ledger()).toHaveLength(1); // only the job made above

  const human = await doctor([], against(t));
  expect(human.code).toBe(0);
  expect(human.stdout).toMatch(/^ {2}ok +list-tasks +yes /m);
  expect(human.stdout).toMatch(/^ {2}not checked +callbacks +needs --spend 1$/m);
  expect(human.stdout).toMatch(/^settings to use:\n {2}MJ_MODE_PREFIX=mj-dash\n {2}MJ_CALLBACKS=1\n {2}MJ_IMAGE_HOSTS=127\.0\.0\.1$/m);
});

test('plus profile with --spend 1: one relax job, callbacks arrive, it ran in relax mode, its image downloads', async () => {
  const t = await simulator('plus');
  const run = await doctor(['--spend', '1', '--json'], against(t));
  expect(run.code).toBe(0);
  const r = parsed(run);
  expect(statuses(r)).toMatchObject({ images: 'ok', job: 'ok', callbacks: 'ok', 'mode-ran': 'ok' });
  expect(r.by.job!.detail).toMatch(/via \/mj-relax\/mj\/submit\/imagine: SUCCESS/);
  expect(r.by['mode-ran']!.detail).toBe('asked relax, ran relax (as the API reports)');
  expect(r.settings).toMatchObject({ MJ_CALLBACKS: '1', MJ_MODE_PREFIX: 'mj-dash' });
  expect(r.spent).toBe(1);
  const ledger = t.sim!.engine.ledger();
  expect(ledger).toHaveLength(1);
  expect(ledger[0]).toMatchObject({ action: 'IMAGINE', mode: 'RELAX', charged: true, status: 'SUCCESS' });
  expect(run.stderr).toContain('a paid job');
});

test('gateway profile with defaults: tasks cannot be listed (UNKNOWN_SUBMIT advice), /relax/mj/... recommended for new-api, nothing paid', async () => {
  const t = await simulator('gateway');
  const run = await doctor(['--json'], against(t));
  expect(run.code).toBe(0);
  const r = parsed(run);
  expect(r.ok).toBe(true);
  expect(r.by['unknown-task']!.detail).toMatch(/HTTP 400 code 4 task_no_found: a new-api-style gateway/);
  expect(r.by['list-tasks']).toMatchObject({
    status: 'ok',
    detail: expect.stringMatching(/^no: /),
    advice: expect.stringContaining('UNKNOWN_SUBMIT'),
  });
  expect(r.by['mode-style']).toMatchObject({
    status: 'ok',
    detail: expect.stringContaining('the gateway cuts the prefix'),
    advice: expect.stringContaining('MJ_MODE_PREFIX=plain'),
  });
  expect(r.by.images!.status).toBe('skipped'); // nothing listed, no --task, no --spend
  expect(r.settings.MJ_MODE_PREFIX).toBe('plain');

  // mj-dash through new-api loses the mode: a problem, with the style to use.
  const dash = parsed(await doctor(['--json'], against(t, { MJ_MODE_PREFIX: 'mj-dash' })));
  expect(dash.ok).toBe(false);
  expect(dash.by['mode-style']).toMatchObject({
    status: 'problem',
    detail: expect.stringContaining('relax and turbo rows would run fast'),
    advice: 'set MJ_MODE_PREFIX=plain',
  });

  // A per-token concurrency gate of 1 (QuantumNous new-api): doctor's calls go one at a time, so none is refused.
  await fetch(`${t.baseUrl}/_sim/gateway`, { method: 'POST', body: JSON.stringify({ tokenConcurrency: 1 }) });
  const gated = await doctor(['--json'], against(t));
  expect(gated.code).toBe(0);
  expect(t.sim!.engine.ledger()).toHaveLength(0);
});

test('a misconfigured gateway (wrong ServerAddress, notify forwarding off): free without --spend; --spend 1 pays one job and names both problems', async () => {
  const t = await simulator('gateway', { gateway: { serverAddress: 'http://127.0.0.1:9', notifyForwarding: false } });
  const free = await doctor(['--json'], against(t));
  expect(free.code).toBe(0);
  expect(parsed(free).spent).toBe(0);
  expect(t.sim!.engine.ledger()).toHaveLength(0);

  const run = await doctor(['--spend', '1', '--json'], against(t));
  expect(run.code).toBe(1);
  const r = parsed(run);
  expect(r.ok).toBe(false);
  expect(r.by.job!.status).toBe('ok');
  expect(r.by.images).toMatchObject({
    status: 'problem',
    detail: expect.stringContaining('127.0.0.1:9/mj/image/'),
    advice: expect.stringContaining('ServerAddress'),
  });
  expect(r.by.images!.advice).toContain('MJ_IMAGE_HOSTS=127.0.0.1');
  expect(r.by.callbacks).toMatchObject({
    status: 'problem',
    detail: expect.stringMatching(/^no callback arrived/),
    advice: expect.stringContaining('MJ_CALLBACKS=0'),
  });
  expect(r.by.callbacks!.advice).toContain('MjNotifyEnabled');
  expect(r.by['mode-ran']!.status).toBe('skipped'); // a gateway does not report the mode
  expect(r.settings).toEqual({ MJ_MODE_PREFIX: 'plain', MJ_CALLBACKS: '0', MJ_IMAGE_HOSTS: '127.0.0.1' });
  expect(r.spent).toBe(1);
  const ledger = t.sim!.engine.ledger();
  expect(ledger).toHaveLength(1);
  expect(ledger[0]).toMatchObject({ action: 'IMAGINE', mode: 'RELAX', charged: true });

  // --task with that job checks its image again for free.
  const again = await doctor(['--task', ledger[0]!.id, '--json'], against(t));
  expect(again.code).toBe(1);
  expect(parsed(again).by.images).toMatchObject({ status: 'problem', detail: expect.stringContaining('(--task)') });
  expect(t.sim!.engine.ledger()).toHaveLength(1);

  const human = await doctor(['--task', ledger[0]!.id], against(t));
  expect(human.stdout).toMatch(/^ {2}problem +images +task \d+ \(--task\): cannot download/m);
  expect(human.stdout).toMatch(/^ +→ the gateway hands out its image relay URLs at http:\/\/127\.0\.0\.1:9/m);
});

test('a gateway forwarding notifyHook, --spend 1: callbacks arrive straight from its upstream, which reports the relax mode the gateway does not', async () => {
  const t = await simulator('gateway', { gateway: { notifyForwarding: true } });
  const run = await doctor(['--spend', '1', '--json'], against(t));
  expect(run.code).toBe(0);
  const r = parsed(run);
  expect(r.by.callbacks).toMatchObject({ status: 'ok', advice: expect.stringContaining('confirms through the API') });
  expect(r.by['mode-ran']!.detail).toBe("asked relax, ran relax (as the upstream's callback reports)");
  expect(r.by.images!.status).toBe('ok');
  expect(r.settings).toEqual({ MJ_MODE_PREFIX: 'plain', MJ_CALLBACKS: '1', MJ_IMAGE_HOSTS: '127.0.0.1' });
  expect(t.sim!.engine.ledger()).toEqual([expect.objectContaining({ mode: 'RELAX', charged: true })]);
});

test('a gateway whose upstream has no /relax/mj/... route: --spend 1 is refused with nothing paid, and says why a mode cannot get through', async () => {
  const t = await simulator('gateway', { gateway: { upstreamAcceptsPlainModePaths: false } });
  const run = await doctor(['--spend', '1', '--json'], against(t));
  expect(run.code).toBe(1);
  const r = parsed(run);
  expect(r.by.job).toMatchObject({
    status: 'problem',
    detail: expect.stringContaining('/relax/mj/submit/imagine failed'),
    advice: expect.stringContaining('MJ_MODE_PREFIX=none'),
  });
  expect(r.by.callbacks!.status).toBe('skipped');
  expect(r.spent).toBe(0);
  expect(t.sim!.engine.ledger()).toHaveLength(0);
});

test('a wrong key: exit 1 with the key problem, the other checks not run, and the key in no output', async () => {
  const t = await simulator('gateway');
  const key = 'sk-wrong-key-0123456789abcdef';
  const run = await doctor(['--json'], against(t, { MJ_API_KEY: key }));
  expect(run.code).toBe(1);
  const r = parsed(run);
  expect(r.by.reach).toMatchObject({
    status: 'problem',
    detail: expect.stringMatching(/^the key is refused \(HTTP 401/),
    advice: expect.stringContaining('MJ_API_KEY'),
  });
  expect(r.checks.slice(1).every((c) => c.status === 'skipped')).toBe(true);
  const human = await doctor([], against(t, { MJ_API_KEY: key }));
  expect(human.code).toBe(1);
  expect(human.stdout).toMatch(/^ {2}problem +reach +the key is refused/m);
  for (const text of [run.stdout, run.stderr, human.stdout, human.stderr]) expect(text).not.toContain(key);
});

test('an unreachable base URL: exit 2, "cannot reach the API"', async () => {
  const closed = await new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
  const run = await doctor(['--json'], { MJ_BASE_URL: `http://127.0.0.1:${closed}`, MJ_API_KEY: 'sk-anything-at-all' });
  expect(run.code).toBe(2);
  const r = parsed(run);
  expect(r.by.reach).toMatchObject({ status: 'problem', detail: expect.stringMatching(/^cannot reach the API: .*ECONNREFUSED/) });
  expect(r.spent).toBe(0);
});

test('--spend other than 0 or 1 is refused before any call', async () => {
  const t = await simulator('plus');
  const run = await doctor(['--spend', '2'], against(t));
  expect(run.code).toBe(1);
  expect(run.stderr).toContain("option '--spend <n>' argument '2' is invalid. must be 0 or 1");
  expect(t.sim!.engine.stats().acceptedPaidJobs).toBe(0);
  const stats = (await (await fetch(`${t.baseUrl}/_sim/stats`)).json()) as { requests: { byEndpoint: Record<string, number> } };
  expect(stats.requests.byEndpoint).toEqual({});
});
