import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { binaryCacheDir } from './paths';

/** A server the stack builds from its Go module when it is not already on the machine. */
export interface GoTool {
  name: 'temporal' | 'versitygw' | 'temporal-server' | 'temporal-sql-tool';
  title: string;
  goPackage: string;
  /** The file `go install` writes (the package's last path element), when it differs from `name`. */
  goBinary?: string;
  version: string;
  ldflags?: string;
  /** Environment variable that names an existing binary, checked first. */
  pathEnv: string;
  /** Environment variable that points at an existing service, which makes the binary unnecessary. */
  serviceEnv?: string;
}

export const TEMPORAL_CLI: GoTool = {
  name: 'temporal',
  title: 'Temporal CLI (dev server)',
  goPackage: 'github.com/temporalio/cli/cmd/temporal',
  // v1.5.1 is the newest tag whose go.mod has no `replace` directive, so `go install pkg@version` works.
  version: 'v1.5.1',
  ldflags: '-X github.com/temporalio/cli/temporalcli.Version=1.5.1',
  pathEnv: 'TEMPORAL_CLI_PATH',
  serviceEnv: 'TEMPORAL_ADDRESS',
};

export const VERSITYGW: GoTool = {
  name: 'versitygw',
  title: 'versitygw (S3 server)',
  goPackage: 'github.com/versity/versitygw/cmd/versitygw',
  version: 'v1.7.0',
  pathEnv: 'VERSITYGW_PATH',
  serviceEnv: 'S3_ENDPOINT',
};

// The `stack up --cluster` servers: the real Temporal server and its schema tool, named as Temporal's releases name them.
// v1.29.1's go.mod has no `replace` directive either. The tool carries the schemas inside (`--schema-name`).
export const TEMPORAL_SERVER: GoTool = {
  name: 'temporal-server',
  title: 'Temporal server',
  goPackage: 'go.temporal.io/server/cmd/server',
  goBinary: 'server',
  version: 'v1.29.1',
  pathEnv: 'TEMPORAL_SERVER_PATH',
};

export const TEMPORAL_SQL_TOOL: GoTool = {
  name: 'temporal-sql-tool',
  title: 'Temporal SQL schema tool',
  goPackage: 'go.temporal.io/server/cmd/tools/sql',
  goBinary: 'sql',
  version: 'v1.29.1',
  pathEnv: 'TEMPORAL_SQL_TOOL_PATH',
};

export class MissingToolError extends Error {
  constructor(tool: GoTool) {
    super(
      `${tool.title} is not installed and cannot be built: Go was not found.\n` +
        `Ways out:\n` +
        `  - install Go >= 1.25 (https://go.dev/dl/) and run the command again; it builds ${tool.name} ${tool.version} once into ${binaryCacheDir()}\n` +
        `  - put a \`${tool.name}\` binary on PATH, or set ${tool.pathEnv}=/path/to/${tool.name}` +
        (tool.serviceEnv
          ? `\n  - point ${tool.serviceEnv} at an existing ${tool.name === 'temporal' ? 'Temporal server (e.g. localhost:7233)' : 'S3-compatible server'} instead`
          : ''),
    );
    this.name = 'MissingToolError';
  }
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Receives one line per noteworthy step (a build, its duration). */
  log?: (line: string) => void;
  /** Where to look for Go when it is not on PATH. */
  goLocations?: string[];
}

const WELL_KNOWN_GO = ['/usr/local/go/bin/go', '/usr/lib/go/bin/go'];

/** A file this process may run. */
export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Cached builds are kept per version, so bumping a version rebuilds instead of reusing a stale binary. */
export function cachedBinaryPath(tool: GoTool, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(binaryCacheDir(env), `${tool.name}-${tool.version}`, tool.name);
}

function findGo(env: NodeJS.ProcessEnv, locations = WELL_KNOWN_GO): string | undefined {
  return findOnPath('go', env) ?? locations.find(isExecutable);
}

/** The binary to run for `tool`: an explicit path, one on PATH, the cached build, or a fresh `go install`. */
export async function resolveBinary(tool: GoTool, opts: ResolveOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const explicit = env[tool.pathEnv];
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`${tool.pathEnv}=${explicit} is not an executable file`);
    return explicit;
  }
  const onPath = findOnPath(tool.name, env);
  if (onPath) return onPath;
  const cached = cachedBinaryPath(tool, env);
  if (isExecutable(cached)) return cached;
  return buildWithGo(tool, opts);
}

async function buildWithGo(tool: GoTool, opts: ResolveOptions): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => undefined);
  const go = findGo(env, opts.goLocations);
  if (!go) throw new MissingToolError(tool);
  const target = cachedBinaryPath(tool, env);
  const targetDir = path.dirname(target);
  // Build into a private folder, then rename: a concurrent build or an interrupted one never leaves a half-written binary.
  fs.mkdirSync(path.dirname(targetDir), { recursive: true });
  const tmpBin = fs.mkdtempSync(path.join(path.dirname(targetDir), `.${tool.name}-build-`));
  const args = ['install'];
  if (tool.ldflags) args.push(`-ldflags=${tool.ldflags}`);
  args.push(`${tool.goPackage}@${tool.version}`);
  log(`building ${tool.title} ${tool.version} with \`go install\` (first run only; takes a few minutes)...`);
  const started = Date.now();
  try {
    await runGo(go, args, { ...env, GOBIN: tmpBin, CGO_ENABLED: '0', GOFLAGS: env.GOFLAGS ?? '-trimpath' });
    fs.mkdirSync(targetDir, { recursive: true });
    fs.renameSync(path.join(tmpBin, tool.goBinary ?? tool.name), target);
  } finally {
    fs.rmSync(tmpBin, { recursive: true, force: true });
  }
  log(`built ${tool.name} ${tool.version} in ${((Date.now() - started) / 1000).toFixed(0)} s -> ${target}`);
  return target;
}

function runGo(go: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(go, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`\`go ${args.join(' ')}\` failed with exit code ${code}:\n${output}`));
    });
  });
}
