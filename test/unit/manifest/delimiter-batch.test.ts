import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createManifestActivities } from '../../../activities/manifest';
import { createReportActivities } from '../../../activities/report';
import { InvalidManifestError, prepareBatch, type BatchOptions, type BatchRecord } from '../../../client/batches';
import { planRedrive } from '../../../client/redrive';
import { FakeS3 } from '../fake-s3';

// `run --delimiter`: what prepareBatch records in the batch input, and that a redrive and the worker's activities read
// the manifest with the recorded delimiter (and, without one, choose it from the header as validation did).

const OPTS: BatchOptions = { concurrency: 2, submitPolicy: 'at-most-once', callbacks: false };
const BUCKET = 'b';

function file(name: string, text: string): string {
  const p = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mj-delim-')), name);
  fs.writeFileSync(p, text);
  return p;
}

// Ambiguous: split at commas "prompt;id" and "mode", at semicolons "prompt" and "id,mode".
const AMBIGUOUS = '\ufeffprompt;id,mode\r\na chair, oak;r1,fast\r\na lamp;r2,relax\r\n';

test('run --delimiter: validated with it, recorded in the input, and read with it by redrive and the activities', async () => {
  const s3 = new FakeS3();
  const ref = file('ambiguous.csv', AMBIGUOUS);
  await expect(prepareBatch(ref, s3.asClient(), BUCKET, 'q', OPTS)).rejects.toBeInstanceOf(InvalidManifestError);

  const { input, manifest } = await prepareBatch(ref, s3.asClient(), BUCKET, 'q', { ...OPTS, delimiter: ';' });
  expect(manifest.delimiter).toBe(';');
  expect(manifest.rows.map((r) => r.prompt)).toEqual(['a chair, oak', 'a lamp']);
  expect(input.manifest).toEqual({ ref: expect.stringMatching(/^s3:\/\/b\//), sha256: manifest.sha256, delimiter: ';' });

  // A redrive reuses the recorded input: the same rows, the same delimiter in the new input.
  const record: BatchRecord = { batchId: input.batchId, manifest: ref, input, startedAt: new Date().toISOString(), taskQueue: 'q' };
  const redrive = await planRedrive(s3.asClient(), BUCKET, record, { concurrency: 2, submitPolicy: 'at-most-once', callbacks: false });
  expect(redrive.keys).toEqual(manifest.rows.map((r) => r.key));
  expect(redrive.input.manifest).toEqual(input.manifest);

  // The worker's activities, given the input's delimiter, read the same rows; without it they refuse the file
  // (ambiguous), rather than read it another way. A cached parse does not answer for another delimiter.
  const pages = createManifestActivities({ s3: s3.asClient() });
  const page = { ref: input.manifest.ref, sha256: input.manifest.sha256, offset: 0, limit: 10, outputPrefix: input.outputPrefix };
  const read = await pages.readManifestPage({ ...page, delimiter: input.manifest.delimiter });
  expect(read.rows.map((r) => [r.key, r.line, r.prompt])).toEqual(manifest.rows.map((r) => [r.key, r.line, r.prompt]));
  await expect(pages.readManifestPage(page)).rejects.toMatchObject({ type: 'Manifest.invalid' });

  const report = await createReportActivities({ s3: s3.asClient(), bucket: BUCKET }).writeReport({
    batchId: input.batchId,
    manifestRef: input.manifest.ref,
    sha256: input.manifest.sha256,
    outputPrefix: input.outputPrefix,
    delimiter: input.manifest.delimiter,
  });
  expect(report.reportRows).toBe(2);
});

test('without --delimiter the input is as before (no delimiter key), and a semicolon file is read by its header', async () => {
  const s3 = new FakeS3();
  const ref = file('excel.csv', '\ufeffid;prompt;mode\r\na;"a chair; oak";fast\r\n');
  const { input, manifest } = await prepareBatch(ref, s3.asClient(), BUCKET, 'q', OPTS);
  expect(manifest.delimiter).toBe(';');
  expect(Object.keys(input.manifest).sort()).toEqual(['ref', 'sha256']);
  const read = await createManifestActivities({ s3: s3.asClient() }).readManifestPage({
    ref: input.manifest.ref,
    sha256: input.manifest.sha256,
    offset: 0,
    limit: 10,
    outputPrefix: input.outputPrefix,
  });
  expect(read.rows.map((r) => [r.key, r.line, r.prompt, r.mode])).toEqual([['a', 2, 'a chair; oak', 'fast']]);
});
