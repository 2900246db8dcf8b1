import * as fs from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { validateManifest } from '../../manifest/validate';
import { createS3Client } from '../../storage/s3-client';
import { runCli } from './cli';
import { stackConfig, unique } from './helpers';

test('a manifest in S3 is read from its s3:// URI, by the library and by `mj-batch validate`', async () => {
  const config = stackConfig();
  const s3 = createS3Client(config.s3);
  const key = `${unique('manifests')}/products.json`;
  await s3.send(new PutObjectCommand({ Bucket: config.s3.bucket, Key: key, Body: fs.readFileSync('examples/products.json') }));
  const uri = `s3://${config.s3.bucket}/${key}`;
  const result = await validateManifest(uri, s3);
  expect(result).toMatchObject({ format: 'json', issues: [] });
  expect(result.rows.map((r) => r.key)).toEqual(['mug-speckled', 'mug-blue', 'mug-glass']);
  const run = await runCli(['validate', uri, '--json']);
  expect(run.code).toBe(0);
  expect(JSON.parse(run.stdout)).toMatchObject({ valid: true, rows: 3 });
  const missing = await runCli(['validate', `s3://${config.s3.bucket}/${key}.missing`]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('no such object');
  s3.destroy();
});
