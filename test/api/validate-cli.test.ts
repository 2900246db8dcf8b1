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

test('a semicolon CSV from Excel (BOM, CRLF): --json names the delimiter; --delimiter reads an ambiguous header', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-validate-'));
  const excel = path.join(dir, 'excel.csv');
  fs.writeFileSync(excel, '\ufeffid;prompt;mode;actions\r\na;"a chair; oak";fast;\r\n');
  const run = await runCli(['validate', excel, '--json', '--slots', '3']);
  expect(run.code).toBe(0);
  const out = JSON.parse(run.stdout);
  expect(out).toMatchObject({ valid: true, format: 'csv', delimiter: ';', records: 1, rows: 1, errors: [] });
  // One fast job cannot take less than one fast job's time, whatever the slots.
  expect(out.forecast).toMatchObject({ slots: 3, slotSeconds: 45, wallClockSeconds: 45, longestChainSeconds: 45 });
  const text = await runCli(['validate', excel]);
  expect(text.code).toBe(0);
  expect(text.stdout).toContain('CSV (semicolon-separated), 1 row(s) read, 1 valid');
  expect(text.stdout).toContain("about 1 min: the longest row's jobs run one after another");

  const ambiguous = path.join(dir, 'ambiguous.csv');
  fs.writeFileSync(ambiguous, 'prompt;id,mode\na chair;r1,fast\n');
  const refused = await runCli(['validate', ambiguous, '--json']);
  expect(refused.code).toBe(1);
  expect(JSON.parse(refused.stdout)).toMatchObject({
    valid: false,
    delimiter: null,
    errors: [{ line: 1, field: '(file)', message: expect.stringContaining('can be read in 2 ways') }],
  });
  const given = await runCli(['validate', ambiguous, '--json', '--delimiter', ';']);
  expect(given.code).toBe(0);
  expect(JSON.parse(given.stdout)).toMatchObject({ valid: true, delimiter: ';', rows: 1 });
  const tab = await runCli(['validate', ambiguous, '--json', '--delimiter', 'tab']);
  expect(tab.code).toBe(1);
  expect(JSON.parse(tab.stdout).errors[0].message).toMatch(/^split at tabs \(the delimiter given\), the header names none/);
  const unknown = await runCli(['validate', ambiguous, '--delimiter', '|']);
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toContain('unknown delimiter "|"; use ",", ";" or "tab"');
  // A comma CSV says so too.
  expect(JSON.parse((await runCli(['validate', 'examples/catalog.csv', '--json'])).stdout).delimiter).toBe(',');
});
