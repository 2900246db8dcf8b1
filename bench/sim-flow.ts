/**
 * Times imagine → U2 → HD upscale through the real client against a running simulator (or any gateway):
 *   npx mj-batch sim --speed 50 &   then   node dist/bench/sim-flow.js [--url http://127.0.0.1:7080] [--key sk-sim] [--runs 3]
 * Prints one JSON object, then a table.
 */
import { findButton, isTerminal, MjClient, type MjTask } from '../mj-client';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

async function main(): Promise<void> {
  const url = arg('url', process.env.MJ_BASE_URL ?? 'http://127.0.0.1:7080');
  const key = arg('key', process.env.MJ_API_KEY ?? 'sk-sim');
  const runs = Number(arg('runs', '3'));
  const client = new MjClient({ baseUrl: url, apiKey: key, mode: 'fast' });
  const wait = async (id: string): Promise<MjTask> => {
    for (;;) {
      const task = await client.fetchTask(id);
      if (isTerminal(task)) return task;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const results = [];
  for (let run = 0; run < runs; run++) {
    const t0 = Date.now();
    const grid = await wait((await client.submitImagine({ prompt: `bench flow ${run}` })).taskId);
    const t1 = Date.now();
    const u2 = await wait((await client.submitAction({ taskId: grid.id, customId: findButton(grid, 'U2')!.customId })).taskId);
    const t2 = Date.now();
    const hd = await wait((await client.submitAction({ taskId: u2.id, customId: findButton(u2, 'upscale_subtle')!.customId })).taskId);
    const t3 = Date.now();
    if (hd.status !== 'SUCCESS') throw new Error(`HD upscale ended ${hd.status}: ${hd.failReason}`);
    results.push({ imagineMs: t1 - t0, u2Ms: t2 - t1, hdUpscaleMs: t3 - t2, totalMs: t3 - t0 });
  }
  await client.close();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const summary = { url, runs, medianTotalMs: median(results.map((r) => r.totalMs)), results };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.stdout.write('run  imagine ms  U2 ms  HD upscale ms  total ms\n');
  results.forEach((r, i) =>
    process.stdout.write(
      `${String(i + 1).padStart(3)}  ${String(r.imagineMs).padStart(10)}  ${String(r.u2Ms).padStart(5)}  ${String(r.hdUpscaleMs).padStart(13)}  ${String(r.totalMs).padStart(8)}\n`,
    ),
  );
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
