// `mj-batch sim --moderated-words`: the simulator's `moderatedWords` fault from the command line. A job whose prompt
// holds one is accepted, then fails as the C# proxy's banned-word check fails it when it is about to run.
import { spawn } from 'node:child_process';
import { MjClient } from '../../mj-client';
import { PROXY_BANNED_REASON } from '../../simulator/engine';
import { CLI } from '../integration/cli';

test('`mj-batch sim --moderated-words a,b` accepts such prompts, then fails their jobs with 可能包含敏感词', async () => {
  const child = spawn(
    process.execPath,
    [CLI, '--log-file', '-', '--log-level', 'silent', 'sim', '--port', '0', '--speed', '200'].concat([
      '--moderated-words',
      ' gore , lava ',
      '--json',
    ]),
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('close', r));
  for (let i = 0; i < 100 && !out.includes('}'); i++) await new Promise((r) => setTimeout(r, 50));
  const info = JSON.parse(out);
  const client = new MjClient({ baseUrl: info.simulatorUrl, apiKey: info.simulatorApiKey });
  try {
    const faults = await (await fetch(`${info.simulatorUrl}/_sim/faults`)).json();
    expect(faults).toMatchObject({ moderatedWords: ['gore', 'lava'], bannedWords: [] });
    const accepted = await client.submitImagine({ prompt: 'a lava lamp on a desk' });
    expect(accepted.code).toBe(1);
    let task = await client.fetchTask(accepted.taskId);
    for (let i = 0; i < 200 && task.status !== 'FAILURE' && task.status !== 'SUCCESS'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      task = await client.fetchTask(accepted.taskId);
    }
    expect(task).toMatchObject({ status: 'FAILURE', failReason: PROXY_BANNED_REASON });
  } finally {
    await client.close();
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
});
