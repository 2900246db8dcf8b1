import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../config/config';
import { writeStackState, type StackState } from '../../stack/state';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-config-'));
}

const stack: StackState = {
  version: 1,
  temporal: { external: false, address: '127.0.0.1:17233', namespace: 'default', uiUrl: 'http://127.0.0.1:18233' },
  s3: { external: false, endpoint: 'http://127.0.0.1:17070', region: 'us-east-1', bucket: 'stack-bucket', accessKeyId: 'dev-key', secretAccessKey: 'dev-secret' },
};

test('with nothing configured and no stack, defaults apply', () => {
  const cwd = tempDir();
  const c = loadConfig({}, cwd);
  expect(c.temporal).toMatchObject({ address: 'localhost:7233', namespace: 'default', source: 'default', tls: false });
  expect(c.s3).toMatchObject({ bucket: 'mj-batch', region: 'us-east-1', source: 'default', endpoint: undefined, forcePathStyle: false });
  expect(c.stackDir).toBe(path.join(cwd, '.mj-batch'));
});

test('a running local stack supplies the endpoints and its development credentials', () => {
  const cwd = tempDir();
  writeStackState(path.join(cwd, '.mj-batch'), stack);
  const c = loadConfig({}, cwd);
  expect(c.temporal).toMatchObject({ address: '127.0.0.1:17233', source: 'stack' });
  expect(c.s3).toMatchObject({
    endpoint: 'http://127.0.0.1:17070', bucket: 'stack-bucket', accessKeyId: 'dev-key', secretAccessKey: 'dev-secret',
    forcePathStyle: true, source: 'stack',
  });
});

test('environment variables win over the stack, and an external S3 never gets the stack credentials', () => {
  const cwd = tempDir();
  writeStackState(path.join(cwd, '.mj-batch'), stack);
  const c = loadConfig({ TEMPORAL_ADDRESS: 'temporal.example:7233', TEMPORAL_NAMESPACE: 'prod', S3_ENDPOINT: 'https://r2.example', S3_BUCKET: 'real' }, cwd);
  expect(c.temporal).toMatchObject({ address: 'temporal.example:7233', namespace: 'prod', source: 'env' });
  expect(c.s3).toMatchObject({ endpoint: 'https://r2.example', bucket: 'real', source: 'env' });
  expect(c.s3.accessKeyId).toBeUndefined();
  expect(c.s3.secretAccessKey).toBeUndefined();
});

test('empty variables count as unset', () => {
  const cwd = tempDir();
  writeStackState(path.join(cwd, '.mj-batch'), stack);
  const c = loadConfig({ TEMPORAL_ADDRESS: '', S3_ENDPOINT: '' }, cwd);
  expect(c.temporal.address).toBe('127.0.0.1:17233');
  expect(c.s3.endpoint).toBe('http://127.0.0.1:17070');
});

test('an API key turns TLS on unless TEMPORAL_TLS says otherwise', () => {
  const cwd = tempDir();
  expect(loadConfig({ TEMPORAL_API_KEY: 'k' }, cwd).temporal.tls).toBe(true);
  expect(loadConfig({ TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' }, cwd).temporal.tls).toBe(false);
});

test('MJ_BATCH_STACK_DIR moves the stack folder', () => {
  const cwd = tempDir();
  const elsewhere = tempDir();
  writeStackState(elsewhere, stack);
  expect(loadConfig({ MJ_BATCH_STACK_DIR: elsewhere }, cwd).temporal.address).toBe('127.0.0.1:17233');
});
