import { duplicatePaidJobs } from '../../bench/chaos-checks';
import { runCli } from './cli';
import { unique } from './helpers';
import { jsonl, startPipeline, writeManifest, type Pipeline } from './pipeline-harness';

// A batch through the simulator's new-api gateway profile with the behaviours that cost money on real gateways:
// notify forwarding on (the upstream calls back before the gateway's view catches up), a lost upstream answer,
// mode paths, and the token's quota running out mid-batch and coming back.
let p: Pipeline;

beforeAll(async () => {
  p = await startPipeline({ speed: 50, profile: 'gateway', gateway: { notifyForwarding: true } });
});
afterAll(() => p?.stop());

async function gatewaySettings(update: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${p.sim.url}/_sim/gateway`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(update),
  });
  expect(res.status).toBe(200);
}

test('a key that expires mid-batch holds the batch, polling rows included, and it goes on once the key works again', async () => {
  const tag = unique('key');
  const rows = Array.from({ length: 5 }, (_, i) => ({ id: `${tag}-${i}`, prompt: `${tag} a cork coaster ${i}`, actions: 'U1' }));
  const env = { ...p.cliEnv, MJ_ACCOUNT: unique('acct') };
  const started = await runCli(
    ['run', writeManifest('key.jsonl', jsonl(rows)), '--json', '--output', unique('out/key'), '--account-slots', '2', '--queue-ahead', '0'],
    { env },
  );
  expect(started.code).toBe(0);
  const { batchId } = JSON.parse(started.stdout) as { batchId: string };
  try {
    const deadline = Date.now() + 120_000;
    while (!p.ledger().some((j) => j.state?.startsWith(`${tag}-`))) {
      if (Date.now() > deadline) throw new Error('no job was submitted');
      await new Promise((r) => setTimeout(r, 50));
    }
    // The gateway now refuses the token on every call: submits and polls alike.
    await gatewaySettings({ tokenStatus: 'expired' });
    let held: Record<string, unknown> | undefined;
    while (!held && Date.now() < deadline) {
      const status = JSON.parse((await runCli(['status', batchId, '--json'], { env })).stdout);
      if (status.state === 'held') held = status;
      else await new Promise((r) => setTimeout(r, 300));
    }
    expect(held).toMatchObject({ state: 'held', accountHold: { reason: 'unauthorized' }, counts: { failed: 0 } });
    expect((held!.accountHold as { message: string }).message).toMatch(/该令牌已过期/);
  } finally {
    await gatewaySettings({ tokenStatus: 'enabled' });
  }
  expect((await runCli(['resume', batchId, '--json'], { env })).code).toBe(0);
  const summary = JSON.parse((await runCli(['watch', batchId, '--json'], { env })).stdout);
  expect(summary).toMatchObject({ rows: 5, succeeded: 5, failed: 0, unknownSubmit: 0 });
  expect(duplicatePaidJobs(p.ledger().filter((j) => j.state?.startsWith(`${tag}-`))).examples).toEqual([]);
}, 300_000);

test('a mixed batch through a new-api-style gateway: modes reach the account, follow-ups work with callbacks, quota holds rows instead of failing them, nothing is paid twice', async () => {
  const tag = unique('gw');
  const rows = [
    { id: `${tag}-fast`, prompt: `${tag} a teak stool`, mode: 'fast' },
    { id: `${tag}-relax`, prompt: `${tag} a linen pillow`, mode: 'relax' },
    { id: `${tag}-turbo`, prompt: `${tag} a brass lamp`, mode: 'turbo' },
    { id: `${tag}-pick`, prompt: `${tag} an oak desk`, actions: 'U2' },
    { id: `${tag}-chain`, prompt: `${tag} a wool rug`, actions: 'U1>upscale_subtle' },
    { id: `${tag}-lost`, prompt: `${tag} a glass jar [sim:lost-answer]` },
    ...Array.from({ length: 6 }, (_, i) => ({ id: `${tag}-more${i}`, prompt: `${tag} a ceramic bowl ${i}` })),
  ];
  // Enough quota for a few jobs: the rest of the batch meets quota_not_enough and must wait, not fail.
  await gatewaySettings({ quota: 5 });
  const env = { ...p.cliEnv, MJ_ACCOUNT: unique('acct') };
  const manifest = writeManifest('gateway.jsonl', jsonl(rows));
  const started = await runCli(['run', manifest, '--json', '--output', unique('out/gw'), '--account-slots', '3', '--queue-ahead', '1'], {
    env,
  });
  expect(started.code).toBe(0);
  const { batchId } = JSON.parse(started.stdout) as { batchId: string };

  // The batch says it is held, by which condition, and that no row failed.
  let held: Record<string, unknown> | undefined;
  const deadline = Date.now() + 120_000;
  while (!held && Date.now() < deadline) {
    const status = JSON.parse((await runCli(['status', batchId, '--json'], { env })).stdout);
    if (status.state === 'held') held = status;
    else await new Promise((r) => setTimeout(r, 300));
  }
  expect(held).toMatchObject({ state: 'held', accountHold: { reason: 'quota-exhausted' }, counts: { failed: 0 } });
  expect((await runCli(['status', batchId], { env })).stdout).toMatch(/HELD: .* refuses jobs \(quota-exhausted/);

  // Credit comes back; `resume` makes a held row try at once instead of waiting for the next probe.
  await gatewaySettings({ quota: null });
  expect((await runCli(['resume', batchId, '--json'], { env })).code).toBe(0);
  const watched = await runCli(['watch', batchId, '--json'], { env });
  const summary = JSON.parse(watched.stdout);
  expect(summary).toMatchObject({ rows: 12, succeeded: 11, failed: 0, unknownSubmit: 1 });

  const jobs = p.ledger().filter((j) => j.state?.startsWith(`${tag}-`));
  expect(duplicatePaidJobs(jobs).examples).toEqual([]);
  // The lost answer made one job; the gateway cannot list tasks, so the row says what to check instead of paying again.
  expect(jobs.filter((j) => j.state === `${tag}-lost`)).toHaveLength(1);
  const modeOf = (id: string) => jobs.find((j) => j.state === `${tag}-${id}`)!.mode;
  expect([modeOf('fast'), modeOf('relax'), modeOf('turbo')]).toEqual(['FAST', 'RELAX', 'TURBO']);
  // Both follow-ups were pressed once the gateway showed their parents finished.
  expect(jobs.filter((j) => j.state === `${tag}-pick` && j.action === 'UPSCALE')).toHaveLength(1);
  expect(jobs.filter((j) => j.state === `${tag}-chain`)).toHaveLength(3);

  const report = await runCli(['report', batchId, '--format', 'jsonl'], { env });
  const lines = report.stdout
    .trim()
    .split('\n')
    .map(
      (l) => JSON.parse(l) as { key: string; status: string; failureClass: string; reason: string; modeRequested: string; modeRan: string },
    );
  // The mode asked for is recorded, and the mode it ran in: a gateway's view has none, but the upstream's callback
  // (notify forwarding is on) says so.
  expect(lines.find((l) => l.key === `${tag}-relax`)).toMatchObject({ modeRequested: 'relax', modeRan: 'relax' });
  expect(lines.find((l) => l.key === `${tag}-turbo`)).toMatchObject({ modeRequested: 'turbo', modeRan: 'turbo' });
  const lost = lines.find((l) => l.key === `${tag}-lost`)!;
  expect(lost).toMatchObject({ status: 'UNKNOWN_SUBMIT', failureClass: 'ambiguous' });
  expect(lost.reason).toMatch(/cannot list tasks by state/);
  expect(lines.filter((l) => l.status === 'FAILED')).toEqual([]);
}, 600_000);
