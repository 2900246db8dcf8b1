import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cachedBinaryPath, MissingToolError, resolveBinary, TEMPORAL_CLI, VERSITYGW } from '../../stack/binaries';

const made: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-bin-'));
  made.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

function fakeExecutable(file: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  return file;
}

test('an explicit path variable wins', async () => {
  const bin = fakeExecutable(path.join(tempDir(), 'my-temporal'));
  await expect(resolveBinary(TEMPORAL_CLI, { env: { TEMPORAL_CLI_PATH: bin, PATH: '' } })).resolves.toBe(bin);
});

test('an explicit path that is not executable is an error naming the variable', async () => {
  await expect(resolveBinary(TEMPORAL_CLI, { env: { TEMPORAL_CLI_PATH: '/nonexistent/temporal', PATH: '' } })).rejects.toThrow(
    'TEMPORAL_CLI_PATH=/nonexistent/temporal is not an executable file',
  );
});

test('a binary on PATH is used before the cache', async () => {
  const pathDir = tempDir();
  const onPath = fakeExecutable(path.join(pathDir, 'versitygw'));
  const cache = tempDir();
  fakeExecutable(cachedBinaryPath(VERSITYGW, { MJ_BATCH_CACHE_DIR: cache }));
  await expect(resolveBinary(VERSITYGW, { env: { PATH: pathDir, MJ_BATCH_CACHE_DIR: cache } })).resolves.toBe(onPath);
});

test('the cached build is found per version, outside the clone', async () => {
  const cache = tempDir();
  const cached = fakeExecutable(cachedBinaryPath(TEMPORAL_CLI, { MJ_BATCH_CACHE_DIR: cache }));
  expect(cached).toBe(path.join(cache, 'bin', 'temporal-v1.5.1', 'temporal'));
  await expect(resolveBinary(TEMPORAL_CLI, { env: { PATH: '', MJ_BATCH_CACHE_DIR: cache } })).resolves.toBe(cached);
});

test('the default cache is ~/.cache/mj-batch/bin, or under XDG_CACHE_HOME', () => {
  expect(cachedBinaryPath(TEMPORAL_CLI, { HOME: os.homedir() })).toBe(
    path.join(os.homedir(), '.cache', 'mj-batch', 'bin', 'temporal-v1.5.1', 'temporal'),
  );
  expect(cachedBinaryPath(VERSITYGW, { XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/mj-batch/bin/versitygw-v1.7.0/versitygw');
});

test('with no binary and no Go, the error names every way out', async () => {
  const env = { PATH: tempDir(), MJ_BATCH_CACHE_DIR: tempDir() };
  const err = await resolveBinary(TEMPORAL_CLI, { env, goLocations: [] }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MissingToolError);
  const message = (err as Error).message;
  expect(message).toContain('install Go');
  expect(message).toContain('put a `temporal` binary on PATH');
  expect(message).toContain('TEMPORAL_ADDRESS');
});

test('the missing-tool message for the S3 server points at S3_ENDPOINT', () => {
  const message = new MissingToolError(VERSITYGW).message;
  expect(message).toContain('versitygw');
  expect(message).toContain('S3_ENDPOINT');
  expect(message).toContain('go.dev/dl');
});

/** A stand-in for `go` that records its arguments and "installs" a binary into $GOBIN, or fails on request. */
function fakeGo(dir: string, behaviour: 'ok' | 'fail'): string {
  const script =
    behaviour === 'ok'
      ? '#!/bin/sh\necho "$@" > "$GOBIN/../go-args.txt"\nname=$(basename "${3%@*}")\nprintf "#!/bin/sh\\necho built\\n" > "$GOBIN/$name"\nchmod +x "$GOBIN/$name"\n'
      : '#!/bin/sh\necho "go: module lookup disabled by GOPROXY=off" >&2\nexit 1\n';
  const goDir = path.join(dir, `go-${behaviour}`);
  fs.mkdirSync(goDir, { recursive: true });
  fs.writeFileSync(path.join(goDir, 'go'), script, { mode: 0o755 });
  return goDir;
}

test('with Go available and no binary, `go install pkg@version` builds into a fresh cache folder', async () => {
  const work = tempDir();
  const goDir = fakeGo(work, 'ok');
  const cache = path.join(work, 'does', 'not', 'exist', 'yet');
  const lines: string[] = [];
  const built = await resolveBinary(TEMPORAL_CLI, {
    env: { PATH: `${goDir}:/usr/bin:/bin`, MJ_BATCH_CACHE_DIR: cache },
    goLocations: [],
    log: (l) => lines.push(l),
  });
  expect(built).toBe(cachedBinaryPath(TEMPORAL_CLI, { MJ_BATCH_CACHE_DIR: cache }));
  expect(fs.statSync(built).mode & 0o111).not.toBe(0);
  const args = fs.readFileSync(path.join(cache, 'bin', 'go-args.txt'), 'utf8').trim();
  expect(args).toBe(
    'install -ldflags=-X github.com/temporalio/cli/temporalcli.Version=1.5.1 github.com/temporalio/cli/cmd/temporal@v1.5.1',
  );
  expect(lines.join('\n')).toMatch(/building Temporal CLI \(dev server\) v1\.5\.1/);
  // No build folders are left behind next to the cached binary.
  expect(fs.readdirSync(path.join(cache, 'bin')).filter((f) => f.startsWith('.'))).toEqual([]);
});

test("a failed build reports go's own output and leaves no half-written binary", async () => {
  const work = tempDir();
  const goDir = fakeGo(work, 'fail');
  const cache = path.join(work, 'cache');
  await expect(
    resolveBinary(VERSITYGW, { env: { PATH: `${goDir}:/usr/bin:/bin`, MJ_BATCH_CACHE_DIR: cache }, goLocations: [] }),
  ).rejects.toThrow(
    /go install github.com\/versity\/versitygw\/cmd\/versitygw@v1.7.0` failed with exit code 1:\ngo: module lookup disabled/,
  );
  expect(fs.existsSync(cachedBinaryPath(VERSITYGW, { MJ_BATCH_CACHE_DIR: cache }))).toBe(false);
});
