import { spawn } from 'node:child_process';
import { CLI, REPO_ROOT, runCli } from './cli';
import { unique } from './helpers';

test('`mj-batch worker` runs an example manifest for `mj-batch run --wait`, then stops cleanly on SIGTERM', async () => {
  const env = { ...process.env, MJ_BATCH_TASK_QUEUE: unique('worker-cli'), MJ_BATCH_LOG_FILE: '-' };
  const worker = spawn(process.execPath, [CLI, 'worker'], { cwd: REPO_ROOT, env });
  let stderr = '';
  worker.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 60_000;
    while (!/worker polling/.test(stderr)) {
      if (Date.now() > deadline) throw new Error(`the worker did not start:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const run = await runCli(
      ['run', 'examples/mixed.jsonl', '--wait', '--json', '--output', unique('out/worker-cli'), '--batch-id', unique('worker-cli')],
      { env },
    );
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ rows: 6, succeeded: 6, failed: 0 });
  } finally {
    worker.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  // Secrets stay out of the worker's own output too.
  expect(stderr).not.toContain('mjbatch-dev-secret-local-only');
}, 180_000);
