import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prepareBatch, type BatchRecord } from '../../client/batches';
import { planRedrive } from '../../client/redrive';
import { FakeS3 } from './fake-s3';

// A plain re-run does not send a row refused by moderation again (same version); `redrive --class banned` says to,
// and its batch input carries that intent to the rows.
test('only a redrive that names banned asks the rows to resubmit refused prompts, and it does not carry over', async () => {
  const s3 = new FakeS3();
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mj-banned-')), 'm.csv');
  fs.writeFileSync(file, 'id,prompt\nr1,a red chair\n');
  const { input } = await prepareBatch(file, s3.asClient(), 'b', 'q', { concurrency: 1, submitPolicy: 'at-most-once', callbacks: false });
  expect(input.item.resubmitBanned).toBeUndefined();
  const record: BatchRecord = { batchId: input.batchId, manifest: file, input, startedAt: new Date().toISOString(), taskQueue: 'q' };
  const opts = { concurrency: 1, submitPolicy: 'at-most-once' as const, callbacks: false };

  const banned = await planRedrive(s3.asClient(), 'b', record, { ...opts, classes: ['banned', 'generation'] });
  expect(banned.input.item.resubmitBanned).toBe(true);
  for (const classes of [undefined, ['generation' as const], ['ambiguous' as const]]) {
    const plain = await planRedrive(s3.asClient(), 'b', { ...record, input: banned.input }, { ...opts, classes });
    expect([classes, plain.input.item.resubmitBanned]).toEqual([classes, undefined]);
  }
});
