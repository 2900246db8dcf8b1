import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../integration/cli';

test('a valid manifest: exit 0, and --json gives the rows and the forecast', async () => {
  const run = await runCli(['validate', 'examples/catalog.csv', '--json', '--slots', '3']);
  expect(run.code).toBe(0);
  const out = JSON.parse(run.stdout);
  expect(out).toMatchObject({ manifest: 'examples/catalog.csv', valid: true, format: 'csv', records: 24, rows: 24, errors: [] });
  expect(out.forecast.paidJobs).toEqual({ total: 57, byKind: { imagine: 22, blend: 1, describe: 1 }, byMode: { fast: 57 }, followUps: 33 });
  expect(out.forecast.slots).toBe(3);
  expect(out.sha256).toMatch(/^[0-9a-f]{64}$/);
});

test('a manifest with errors: exit 1, each error with its line and field, in text and JSON', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mj-validate-')), 'bad.csv');
  fs.writeFileSync(file, 'id,prompt,actions\na,ok,U1\nb,,U2\nc,x,U7\n');
  const text = await runCli(['validate', file]);
  expect(text.code).toBe(1);
  expect(text.stdout).toContain('line 3, prompt: is empty');
  expect(text.stdout).toContain('line 4, actions: unknown follow-up "U7"');
  const json = await runCli(['validate', file, '--json']);
  expect(json.code).toBe(1);
  expect(JSON.parse(json.stdout)).toMatchObject({
    valid: false,
    rows: 1,
    errors: [
      { line: 3, field: 'prompt' },
      { line: 4, field: 'actions' },
    ],
  });
});

test('an unreadable manifest: exit 2 with the reason', async () => {
  const run = await runCli(['validate', 'examples/no-such-file.csv', '--json']);
  expect(run.code).toBe(2);
  expect(JSON.parse(run.stdout)).toMatchObject({ valid: false, readable: false, error: 'examples/no-such-file.csv: no such file' });
});
