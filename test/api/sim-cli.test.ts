import { spawn } from 'node:child_process';
import { CLI, runCli } from '../integration/cli';

test('`mj-batch sim --json` serves with the flags given, and stops cleanly on SIGTERM', async () => {
  const child = spawn(process.execPath, [
    CLI,
    '--log-file',
    '-',
    '--log-level',
    'silent',
    'sim',
    '--port',
    '0',
    '--speed',
    '40',
    '--profile',
    'gateway',
    '--api-key',
    'sk-cli',
    '--banned-words',
    'gore,blood',
    '--fault-stall',
    '0.25',
    '--fault-lost-answer',
    '0.1',
    '--gateway-notify',
    '--gateway-server-address',
    'http://127.0.0.1:9',
    '--gateway-error-style',
    'new',
    '--gateway-quota',
    '3',
    '--json',
  ]);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('close', r));
  for (let i = 0; i < 100 && !out.includes('}'); i++) await new Promise((r) => setTimeout(r, 50));
  const info = JSON.parse(out);
  expect(info).toMatchObject({ simulatorApiKey: 'sk-cli', profile: 'gateway', speed: 40 });
  const faults = await (await fetch(`${info.simulatorUrl}/_sim/faults`)).json();
  expect(faults).toMatchObject({ bannedWords: ['gore', 'blood'], stall: 0.25, http5xx: 0, lostUpstreamAnswer: 0.1 });
  const gateway = await (await fetch(`${info.simulatorUrl}/_sim/gateway`)).json();
  expect(gateway).toMatchObject({
    notifyForwarding: true,
    serverAddress: 'http://127.0.0.1:9',
    errorStyle: 'new',
    quota: 3,
    tokenConcurrency: 0,
  });
  const denied = await fetch(`${info.simulatorUrl}/mj/task/1/fetch`, { headers: { authorization: 'Bearer sk-sim' } });
  expect(denied.status).toBe(401);
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
});

test('bad flag values are refused with a message naming the flag', async () => {
  const run = await runCli(['sim', '--port', '0', '--fault-5xx', '2']);
  expect(run.code).not.toBe(0);
  expect(run.stderr).toContain('--fault-5xx');
  expect(run.stderr).toContain('share from 0 to 1');
});
