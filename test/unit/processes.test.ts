import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, isPortFree, isRunning, startDetached, stopProcess } from '../../stack/processes';

async function waitForLog(file: string, text: string): Promise<void> {
  for (let i = 0; i < 100 && !fs.readFileSync(file, 'utf8').includes(text); i++) await new Promise((r) => setTimeout(r, 50));
}

const logFile = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-proc-')), 'out.log');

test('a detached process is recorded, seen running, and stopped by its pid', async () => {
  const rec = startDetached(process.execPath, ['-e', "console.log('started'); setInterval(() => {}, 1000)"], {
    env: process.env,
    logFile: logFile(),
  });
  await waitForLog(rec.logFile, 'started');
  expect(isRunning(rec)).toBe(true);
  await expect(stopProcess(rec)).resolves.toBe('stopped');
  expect(isRunning(rec)).toBe(false);
  expect(fs.readFileSync(rec.logFile, 'utf8')).toContain('started');
  await expect(stopProcess(rec)).resolves.toBe('not-running');
});

test('a process that ignores SIGTERM is killed after the grace period', async () => {
  const script = "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000)";
  const rec = startDetached(process.execPath, ['-e', script], { env: process.env, logFile: logFile() });
  await waitForLog(rec.logFile, 'ready');
  await expect(stopProcess(rec, 500)).resolves.toBe('stopped');
  expect(isRunning(rec)).toBe(false);
});

test('a pid now used by another program is not ours: never signalled', async () => {
  // This test process's own pid, recorded as if it were a server binary.
  const impostor = { pid: process.pid, command: '/opt/not/temporal', args: [], logFile: '/dev/null', startedAt: '' };
  expect(isRunning(impostor)).toBe(false);
  await expect(stopProcess(impostor)).resolves.toBe('not-running');
});

test('a pid now used by another process of the same program (node running something else) is not ours either', async () => {
  // This jest process runs node too; recorded as the simulator's `node mj-batch.js sim`, it must not be taken for it.
  const impostor = {
    pid: process.pid,
    command: process.execPath,
    args: ['/opt/mj-batch/bin/mj-batch.js', 'sim'],
    logFile: '/dev/null',
    startedAt: '',
  };
  expect(isRunning(impostor)).toBe(false);
  await expect(stopProcess(impostor)).resolves.toBe('not-running');
});

test('port probes tell a listening port from a free one', async () => {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as net.AddressInfo).port;
  await expect(isPortFree(port)).resolves.toBe(false);
  server.close();
  await new Promise((r) => server.once('close', r));
  await expect(isPortFree(port)).resolves.toBe(true);
  await expect(isPortFree(await freePort())).resolves.toBe(true);
});
