import * as path from 'node:path';
import { REPO_ROOT, runNode } from './cli';

/**
 * The short chaos run, as `npm run chaos -- --rows 60 --kills 3 --server-restarts 1 --json` runs it: a private stack
 * (its own Temporal dev server and S3 server, so killing them disturbs no other test), worker SIGKILLs, a server
 * restart, a 20 s S3 outage and API faults. The script's own checks decide; this asserts what it printed.
 */
test(
  'a batch survives worker kills, a Temporal restart, an S3 outage and API faults, and a re-run of it: nothing lost, nothing paid twice',
  async () => {
    const script = path.join(REPO_ROOT, 'dist', 'bench', 'chaos.js');
    const run = await runNode(script, ['--rows', '60', '--kills', '3', '--server-restarts', '1', '--json']);
    if (run.code !== 0) process.stderr.write(run.stderr.split('\n').slice(-40).join('\n'));
    const summary = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(summary).toMatchObject({ rows: 60, lost: 0, duplicatePaidJobs: 0, shaMismatches: 0, reportRows: 60, violations: [], ok: true });
    // The chaos really happened: every kill and restart, and faults the simulator counted.
    expect(summary).toMatchObject({ workerKills: 3, temporalRestarts: 1, s3Outages: 1, corruptImageRow: 'FAILED/image' });
    const injected = summary.injected as Record<string, number>;
    expect(injected.http5xx + injected.rate429).toBeGreaterThan(0);
    expect(summary.objectsChecked as number).toBeGreaterThan(100);
    // Then the same manifest again, as a user resumes: it ends, skips what was done and pays nothing for it.
    expect(summary.rerun).toMatchObject({ finished: true, paidForDoneRows: 0, duplicatePaidJobs: 0 });
    expect((summary.rerun as { skipped: number }).skipped).toBeGreaterThan(50);
    expect(run.code).toBe(0);
  },
  15 * 60_000,
);
