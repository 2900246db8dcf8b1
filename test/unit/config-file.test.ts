import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { describeConfig, maskSecret } from '../../cli/config-command';
import { ConfigError, loadConfig } from '../../config/config';
import { connectionOptions } from '../../config/temporal';
import { writeStackState, type StackState } from '../../stack/state';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-config-file-'));
}

function withFile(values: unknown, name = 'mj-batch.config.json'): string {
  const cwd = tempDir();
  fs.writeFileSync(path.join(cwd, name), typeof values === 'string' ? values : JSON.stringify(values));
  return cwd;
}

const stack: StackState = {
  version: 1,
  temporal: { external: false, address: '127.0.0.1:17233', namespace: 'stack-ns' },
  s3: {
    external: false,
    endpoint: 'http://127.0.0.1:17070',
    region: 'eu-stack-1',
    bucket: 'stack-bucket',
    accessKeyId: 'dev-key',
    secretAccessKey: 'dev-secret',
  },
  simulator: { external: false, url: 'http://127.0.0.1:17080', apiKey: 'sk-sim' },
};

describe('precedence: environment > config file > local stack > defaults', () => {
  test('each setting comes from the first place that sets it, and says so', () => {
    const cwd = withFile({ TEMPORAL_ADDRESS: 'file.example:7233', S3_BUCKET: 'file-bucket', MJ_MODE_PREFIX: 'plain' });
    writeStackState(path.join(cwd, '.mj-batch'), stack);
    const c = loadConfig({ TEMPORAL_ADDRESS: 'env.example:7233' }, cwd);
    expect(c.configFile).toBe(path.join(cwd, 'mj-batch.config.json'));
    expect(c.temporal).toMatchObject({ address: 'env.example:7233', namespace: 'stack-ns', source: 'env' });
    expect(c.s3).toMatchObject({ bucket: 'file-bucket', region: 'eu-stack-1', endpoint: 'http://127.0.0.1:17070', source: 'stack' });
    expect(c.mj).toMatchObject({ modePrefix: 'plain', auth: 'bearer', baseUrl: 'http://127.0.0.1:17080', apiKey: 'sk-sim' });
    expect(c.sources).toMatchObject({
      TEMPORAL_ADDRESS: 'env',
      S3_BUCKET: 'file',
      MJ_MODE_PREFIX: 'file',
      TEMPORAL_NAMESPACE: 'stack',
      S3_REGION: 'stack',
      MJ_AUTH_HEADER: 'default',
    });
  });

  test('the file beats the stack: its endpoints are used, and never with the stack dev credentials or simulator key', () => {
    const cwd = withFile({ TEMPORAL_ADDRESS: 'file.example:7233', S3_ENDPOINT: 'https://r2.example', MJ_BASE_URL: 'https://mj.example' });
    writeStackState(path.join(cwd, '.mj-batch'), stack);
    const c = loadConfig({}, cwd);
    expect(c.temporal).toMatchObject({ address: 'file.example:7233', source: 'file' });
    expect(c.s3).toMatchObject({
      endpoint: 'https://r2.example',
      source: 'file',
      forcePathStyle: true,
      accessKeyId: undefined,
      secretAccessKey: undefined,
    });
    expect(c.mj).toMatchObject({ baseUrl: 'https://mj.example', source: 'file', apiKey: undefined });
  });

  test('without environment, file or stack, defaults apply', () => {
    const c = loadConfig({}, tempDir());
    expect(c.configFile).toBeUndefined();
    expect(c.temporal).toMatchObject({ address: 'localhost:7233', source: 'default', tls: false });
    expect(c.s3).toMatchObject({ bucket: 'mj-batch', source: 'default' });
  });

  test('an empty environment variable does not hide the file; an empty value in the file does not hide the stack', () => {
    const cwd = withFile({ TEMPORAL_ADDRESS: 'file.example:7233', S3_BUCKET: '' });
    writeStackState(path.join(cwd, '.mj-batch'), stack);
    const c = loadConfig({ TEMPORAL_ADDRESS: '' }, cwd);
    expect(c.temporal.address).toBe('file.example:7233');
    expect(c.s3.bucket).toBe('stack-bucket');
  });

  test('S3_REGION beats AWS_REGION; numbers and booleans are taken as text', () => {
    const cwd = withFile({ S3_REGION: 'eu-file-1', S3_FORCE_PATH_STYLE: false, MJ_BATCH_TASK_QUEUE: 7 });
    const c = loadConfig({ AWS_REGION: 'us-env-1' }, cwd);
    expect(c.s3.region).toBe('eu-file-1');
    expect(c.s3.forcePathStyle).toBe(false);
    expect(c.taskQueue).toBe('7');
    expect(loadConfig({ AWS_REGION: 'us-env-1' }, tempDir()).s3.region).toBe('us-env-1');
  });

  test('MJ_BATCH_CONFIG names the file (relative to the working directory) instead of ./mj-batch.config.json', () => {
    const cwd = withFile({ S3_BUCKET: 'default-file' });
    fs.mkdirSync(path.join(cwd, 'conf'));
    fs.writeFileSync(path.join(cwd, 'conf', 'prod.json'), JSON.stringify({ S3_BUCKET: 'named-file' }));
    const c = loadConfig({ MJ_BATCH_CONFIG: 'conf/prod.json' }, cwd);
    expect(c.s3.bucket).toBe('named-file');
    expect(c.configFile).toBe(path.join(cwd, 'conf', 'prod.json'));
  });

  test('worker and run settings come typed from the file, the environment beats it, and process.env is left alone', () => {
    const cwd = withFile({
      MJ_CALLBACK_PUBLIC_URL: 'https://cb.example',
      MJ_IMAGE_HOSTS: 'file.example',
      MJ_CALLBACKS: false,
      MJ_IMAGE_MAX_BYTES: 1000,
      MJ_CALLBACK_LISTEN: '0.0.0.0:7090',
      MJ_ACCOUNT: 'team a',
      TEMPORAL_UI_URL: 'http://ui.example:8233//',
    });
    const before = { ...process.env };
    const c = loadConfig({ MJ_IMAGE_HOSTS: 'a.example, *.b.example', MJ_BATCH_ACTIVITY_CONCURRENCY: '7' }, cwd);
    expect(c.worker).toMatchObject({
      callbacks: false,
      callbackListen: { host: '0.0.0.0', port: 7090 },
      callbackPublicUrl: 'https://cb.example',
      imageHosts: ['a.example', '*.b.example'],
      imageMaxBytes: 1000,
      activityConcurrency: 7,
      imageAllowPrivate: undefined,
    });
    expect(c.mj.account).toBe('team a');
    expect(c.temporalUiUrl).toBe('http://ui.example:8233');
    expect(c.sources).toMatchObject({
      MJ_CALLBACK_PUBLIC_URL: 'file',
      MJ_IMAGE_HOSTS: 'env',
      MJ_BATCH_ACTIVITY_CONCURRENCY: 'env',
      MJ_QUEUE_AHEAD: 'default',
    });
    expect(process.env).toEqual(before);
  });
});

describe('a config file that cannot be used is a clear error', () => {
  function errorOf(fn: () => unknown): ConfigError {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('expected a ConfigError');
  }

  test('an unknown key names the key and the file, and suggests the likely one', () => {
    const cwd = withFile({ TEMPORAL_ADRESS: 'x:7233' });
    const err = errorOf(() => loadConfig({}, cwd));
    expect(err.message).toBe(
      `config file ${path.join(cwd, 'mj-batch.config.json')}: unknown setting "TEMPORAL_ADRESS" (did you mean TEMPORAL_ADDRESS?)`,
    );
    expect(err.exitCode).toBe(2);
    expect(errorOf(() => loadConfig({}, withFile({ colour: 'blue' }))).message).toMatch(/unknown setting "colour"$/);
  });

  test('invalid JSON names the file', () => {
    const cwd = withFile('{"S3_BUCKET": "a",}');
    expect(errorOf(() => loadConfig({}, cwd)).message).toMatch(
      new RegExp(`^config file ${path.join(cwd, 'mj-batch.config.json')}: invalid JSON`),
    );
  });

  test('not an object, a nested value, an environment-only key', () => {
    expect(errorOf(() => loadConfig({}, withFile('["S3_BUCKET"]'))).message).toMatch(/must be a JSON object/);
    expect(errorOf(() => loadConfig({}, withFile({ S3_BUCKET: { name: 'x' } }))).message).toMatch(
      /S3_BUCKET must be a string, number or boolean/,
    );
    expect(errorOf(() => loadConfig({}, withFile({ S3_BUCKET: null }))).message).toMatch(/S3_BUCKET must be a string/);
    expect(errorOf(() => loadConfig({}, withFile({ MJ_BATCH_STACK_DIR: '/x' }))).message).toMatch(
      /MJ_BATCH_STACK_DIR can only be set in the environment/,
    );
  });

  test('a named file that does not exist is an error; a missing ./mj-batch.config.json is not', () => {
    const cwd = tempDir();
    expect(errorOf(() => loadConfig({ MJ_BATCH_CONFIG: 'nope.json' }, cwd)).message).toBe(
      `config file ${path.join(cwd, 'nope.json')}: no such file (named by MJ_BATCH_CONFIG)`,
    );
    expect(loadConfig({}, cwd).configFile).toBeUndefined();
  });
});

describe('Temporal TLS: mTLS files, CA, server name, API key', () => {
  test('the files (relative to the config file) become the connection TLS options with their bytes', () => {
    const cwd = tempDir();
    fs.mkdirSync(path.join(cwd, 'conf', 'certs'), { recursive: true });
    const bytes = { crt: Buffer.from('client cert \x00\x01'), key: Buffer.from('client key \xff'), ca: Buffer.from('the CA') };
    fs.writeFileSync(path.join(cwd, 'conf', 'certs', 'client.pem'), bytes.crt);
    fs.writeFileSync(path.join(cwd, 'conf', 'certs', 'client.key'), bytes.key);
    fs.writeFileSync(path.join(cwd, 'ca.pem'), bytes.ca);
    fs.writeFileSync(
      path.join(cwd, 'conf', 'mj.json'),
      JSON.stringify({
        TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
        TEMPORAL_TLS_CERT: 'certs/client.pem',
        TEMPORAL_TLS_KEY: 'certs/client.key',
      }),
    );
    const c = loadConfig(
      { MJ_BATCH_CONFIG: 'conf/mj.json', TEMPORAL_TLS_CA: 'ca.pem', TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' },
      cwd,
    );
    expect(c.temporal).toMatchObject({
      tls: true,
      tlsCert: path.join(cwd, 'conf', 'certs', 'client.pem'),
      tlsKey: path.join(cwd, 'conf', 'certs', 'client.key'),
      tlsCa: path.join(cwd, 'ca.pem'),
    });
    const opts = connectionOptions(c.temporal);
    expect(opts.address).toBe('ns.acct.tmprl.cloud:7233');
    expect(opts.tls).toEqual({
      serverNameOverride: 'temporal.internal',
      serverRootCACertificate: bytes.ca,
      clientCertPair: { crt: bytes.crt, key: bytes.key },
    });
    expect(opts.apiKey).toBeUndefined();
  });

  test('a TLS file that cannot be read names the variable and the path', () => {
    const cwd = tempDir();
    fs.writeFileSync(path.join(cwd, 'client.pem'), 'crt');
    const c = loadConfig({ TEMPORAL_TLS_CERT: 'client.pem', TEMPORAL_TLS_KEY: 'missing.key' }, cwd);
    expect(() => connectionOptions(c.temporal)).toThrow(
      new ConfigError(`TEMPORAL_TLS_KEY: cannot read ${path.join(cwd, 'missing.key')}: no such file`),
    );
  });

  test('certificate and key go together, and TLS files contradict TEMPORAL_TLS=false', () => {
    const cwd = tempDir();
    expect(() => loadConfig({ TEMPORAL_TLS_CERT: 'c.pem' }, cwd)).toThrow(/TEMPORAL_TLS_KEY is not set/);
    expect(() => loadConfig({ TEMPORAL_TLS_KEY: 'k.pem' }, cwd)).toThrow(/TEMPORAL_TLS_CERT is not set/);
    expect(() => loadConfig({ TEMPORAL_TLS_CA: 'ca.pem', TEMPORAL_TLS: 'false' }, cwd)).toThrow(ConfigError);
  });

  test('an API key alone means TLS with the system CAs; TEMPORAL_TLS=false really turns it off', () => {
    const cwd = tempDir();
    const cloud = connectionOptions(loadConfig({ TEMPORAL_API_KEY: 'key' }, cwd).temporal);
    expect(cloud).toMatchObject({ apiKey: 'key', tls: { serverRootCACertificate: undefined, clientCertPair: undefined } });
    // The SDK turns TLS on for an API key unless tls is exactly false.
    expect(connectionOptions(loadConfig({ TEMPORAL_API_KEY: 'key', TEMPORAL_TLS: 'off' }, cwd).temporal).tls).toBe(false);
    expect(connectionOptions(loadConfig({}, cwd).temporal).tls).toBe(false);
  });
});

describe('mj-batch config masks secrets', () => {
  const secretKeys = ['TEMPORAL_API_KEY', 'AWS_SECRET_ACCESS_KEY', 'MJ_API_KEY', 'MJ_CALLBACK_SECRET'] as const;

  test('no secret appears in the description, from the environment or the file', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[A-Za-z0-9+/_-]{8,60}$/), { minLength: 4, maxLength: 4 }),
        fc.boolean(),
        (secrets, inFile) => {
          const values = Object.fromEntries(secretKeys.map((k, i) => [k, secrets[i]]));
          const cwd = withFile(inFile ? values : {});
          const env = inFile ? {} : values;
          const described = JSON.stringify(describeConfig(loadConfig(env, cwd)));
          for (const secret of secrets) expect(described).not.toContain(secret);
        },
      ),
      { numRuns: 30 },
    );
  });

  test('what is shown: a hint of long secrets, nothing of short ones, the ends of access key ids, no URL passwords', () => {
    const cwd = tempDir();
    const env = {
      MJ_API_KEY: 'sk-live-0123456789abcdefXYZ',
      TEMPORAL_API_KEY: 'short',
      AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      MJ_BASE_URL: 'https://user:p4ssw0rd@mj.example/',
    };
    const { settings } = describeConfig(loadConfig(env, cwd));
    expect(settings.MJ_API_KEY).toEqual({ value: 'sk-l…(27 chars)', source: 'env' });
    expect(settings.TEMPORAL_API_KEY).toEqual({ value: '****', source: 'env' });
    expect(settings.AWS_ACCESS_KEY_ID.value).toBe('AKIA…MPLE');
    expect(settings.AWS_SECRET_ACCESS_KEY.value).toBe('wJal…(40 chars)');
    expect(settings.MJ_BASE_URL.value).toBe('https://user:****@mj.example/');
    expect(maskSecret('sk-sim')).toBe('****');
  });
});
