import * as path from 'node:path';
import { REPO_ROOT, runNode } from './cli';

/**
 * The short chaos run on a real Temporal cluster, as `npm run chaos -- --cluster --rows 30 --kills 2
 * --server-restarts 2 --s3-outage-seconds 0 --json` runs it: a private `stack up --cluster` (PostgreSQL and four
 * Temporal service processes of its own), two worker processes, worker SIGKILLs, the frontend and then the history
 * service SIGKILLed and started again, and the simulator's API faults. The script's own checks decide.
 */
test(
  'a batch on the cluster survives worker kills, a frontend and a history kill, and API faults: nothing lost, nothing paid twice',
  async () => {
    const script = path.join(REPO_ROOT, 'dist', 'bench', 'chaos.js');
    const args = ['--cluster', '--rows', '30', '--kills', '2', '--server-restarts', '2', '--s3-outage-seconds', '0', '--json'];
    const run = await runNode(script, args);
    if (run.code !== 0) process.stderr.write(run.stderr.split('\n').slice(-40).join('\n'));
    const summary = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(summary).toMatchObject({ cluster: true, workers: 2, rows: 30, lost: 0, duplicatePaidJobs: 0, shaMismatches: 0 });
    expect(summary).toMatchObject({ reportRows: 30, violations: [], ok: true, corruptImageRow: 'FAILED/image' });
    expect(summary).toMatchObject({ workerKills: 2, frontendRestarts: 1, historyRestarts: 1 });
    expect(summary.rerun).toMatchObject({ finished: true, paidForDoneRows: 0, duplicatePaidJobs: 0 });
    expect(run.code).toBe(0);
  },
  15 * 60_000,
);
