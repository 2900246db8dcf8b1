import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { freePort, isRunning } from '../../stack/processes';
import { readStackState } from '../../stack/state';
import { smokeWorkflow } from '../fixtures/smoke/workflows';
import { runCli } from './cli';
import { unique } from './helpers';

// A second, private stack on free ports, so killing its servers never disturbs the shared one the other tests use.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-stack-'));
const env = { MJ_BATCH_STACK_DIR: dir, TEMPORAL_ADDRESS: '', S3_ENDPOINT: '', MJ_BASE_URL: '' };
let ports: string[];

beforeAll(async () => {
  ports = [
    '--temporal-port',
    String(await freePort()),
    '--ui-port',
    String(await freePort()),
    '--s3-port',
    String(await freePort()),
    '--sim-port',
    String(await freePort()),
    '--sim-speed',
    '25',
  ];
});

afterAll(async () => {
  await runCli(['stack', 'down', '--dir', dir], { env });
  fs.rmSync(dir, { recursive: true, force: true });
});

async function withClient<T>(address: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address });
  try {
    return await fn(new Client({ connection }));
  } finally {
    await connection.close();
  }
}

test('stack up --json, up again, kill the dev server, up brings back the same state, down stops by pid', async () => {
  const up = await runCli(['stack', 'up', '--dir', dir, '--json', ...ports], { env });
  expect(up.code).toBe(0);
  const endpoints = JSON.parse(up.stdout);
  expect(endpoints).toMatchObject({
    temporalNamespace: 'default',
    s3Region: 'us-east-1',
    s3Bucket: 'mj-batch',
    s3AccessKeyId: expect.any(String),
    s3SecretAccessKey: expect.any(String),
    simulatorApiKey: 'sk-sim',
    services: { temporal: 'started', s3: 'started', simulator: 'started' },
  });
  expect(endpoints.simulatorUrl).toBe(`http://127.0.0.1:${ports[7]}`);
  const health = await (await fetch(`${endpoints.simulatorUrl}/_sim/health`)).json();
  expect(health).toMatchObject({ ok: true, speed: 25, profile: 'plus' });
  expect(endpoints.temporalAddress).toBe(`127.0.0.1:${ports[1]}`);
  expect(endpoints.temporalUiUrl).toBe(`http://127.0.0.1:${ports[3]}`);
  expect(endpoints.s3Endpoint).toBe(`http://127.0.0.1:${ports[5]}`);
  // The secret never reaches the process list: versitygw gets it through its environment.
  const s3Pid = readStackState(dir)!.s3.process!.pid;
  expect(fs.readFileSync(`/proc/${s3Pid}/cmdline`, 'utf8')).not.toContain(endpoints.s3SecretAccessKey);

  // A workflow started with no worker stays Running on the server.
  const workflowId = unique('persisted');
  await withClient(endpoints.temporalAddress, (c) =>
    c.workflow.start(smokeWorkflow, { taskQueue: unique('nobody-polls'), workflowId, args: [{ key: 'k', text: 't' }] }),
  );

  const again = await runCli(['stack', 'up', '--dir', dir, '--json'], { env });
  expect(again.code).toBe(0);
  expect(JSON.parse(again.stdout).services).toEqual({ temporal: 'already-running', s3: 'already-running', simulator: 'already-running' });

  const before = readStackState(dir)!;
  process.kill(before.temporal.process!.pid, 'SIGKILL');
  const down = await runCli(['stack', 'status', '--dir', dir, '--json'], { env });
  expect(down.code).toBe(1);
  expect(JSON.parse(down.stdout).services.find((s: { name: string }) => s.name === 'temporal')).toMatchObject({
    state: 'stopped',
    healthy: false,
  });

  const restarted = await runCli(['stack', 'up', '--dir', dir, '--json'], { env });
  expect(restarted.code).toBe(0);
  expect(JSON.parse(restarted.stdout)).toMatchObject({
    temporalAddress: endpoints.temporalAddress,
    services: { temporal: 'started', s3: 'already-running', simulator: 'already-running' },
  });
  const listed = await withClient(endpoints.temporalAddress, async (c) => {
    const found: string[] = [];
    for await (const wf of c.workflow.list({ query: `WorkflowId = '${workflowId}'` })) found.push(`${wf.workflowId}:${wf.status.name}`);
    return found;
  });
  expect(listed).toEqual([`${workflowId}:RUNNING`]);

  const status = await runCli(['stack', 'status', '--dir', dir, '--json'], { env });
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout).healthy).toBe(true);

  const after = readStackState(dir)!;
  const stopped = await runCli(['stack', 'down', '--dir', dir, '--json'], { env });
  expect(stopped.code).toBe(0);
  expect(JSON.parse(stopped.stdout).services).toEqual([
    { name: 'temporal', result: 'stopped' },
    { name: 's3', result: 'stopped' },
    { name: 'simulator', result: 'stopped' },
  ]);
  expect(isRunning(after.temporal.process!)).toBe(false);
  expect(isRunning(after.s3.process!)).toBe(false);
  expect(isRunning(after.simulator!.process!)).toBe(false);
});

test('a port taken by another program is a clear error, not a half-started stack', async () => {
  const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-busy-'));
  const net = await import('node:net');
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const busy = (server.address() as { port: number }).port;
  try {
    const run = await runCli(
      [
        'stack',
        'up',
        '--dir',
        otherDir,
        '--temporal-port',
        String(busy),
        '--ui-port',
        String(await freePort()),
        '--s3-port',
        String(await freePort()),
        '--sim-port',
        String(await freePort()),
      ],
      { env: { ...env, MJ_BATCH_STACK_DIR: otherDir } },
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`port ${busy} (Temporal frontend) is already in use`);
    expect(run.stderr).toContain('--temporal-port');
  } finally {
    server.close();
    await runCli(['stack', 'down', '--dir', otherDir], { env });
    fs.rmSync(otherDir, { recursive: true, force: true });
  }
});

test('usage errors exit non-zero and name the problem', async () => {
  const run = await runCli(['stack', 'up', '--dir', dir, '--retention-days', '3'], { env });
  expect(run.code).not.toBe(0);
  expect(run.stderr).toContain('at least 7');
});
