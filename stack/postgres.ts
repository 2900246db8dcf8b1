import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isExecutable } from './binaries';
import { delay, isRunning, startDetached, waitUntil, type ProcessRecord } from './processes';
import { POSTGRES_PASSWORD, POSTGRES_USER } from './cluster-config';

/**
 * PostgreSQL for `stack up --cluster`: Debian's server binaries, a database cluster of our own in the stack's folder,
 * on loopback and a port of its own, run as the current user. PostgreSQL refuses to run as root, so under root
 * (CI, containers) it runs as the `postgres` account Debian's package creates, through `setpriv` (which execs, so
 * the recorded pid is the postmaster's).
 */

const DEBIAN_BIN_ROOT = '/usr/lib/postgresql';
const INSTALL = 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql';
const MANUAL = `sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends postgresql'`;
const RUN_AS_WHEN_ROOT = 'postgres';

export interface PostgresBin {
  dir: string;
  initdb: string;
  postgres: string;
  pgIsReady: string;
}

/** The newest Debian PostgreSQL with a server (`/usr/lib/postgresql/<major>/bin`), or POSTGRES_BIN_DIR's. */
export function findPostgres(env: NodeJS.ProcessEnv = process.env): PostgresBin | undefined {
  const candidates = env.POSTGRES_BIN_DIR
    ? [env.POSTGRES_BIN_DIR]
    : (fs.existsSync(DEBIAN_BIN_ROOT) ? fs.readdirSync(DEBIAN_BIN_ROOT) : [])
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => path.join(DEBIAN_BIN_ROOT, v, 'bin'));
  for (const dir of candidates) {
    const bin = { dir, initdb: path.join(dir, 'initdb'), postgres: path.join(dir, 'postgres'), pgIsReady: path.join(dir, 'pg_isready') };
    if ([bin.initdb, bin.postgres, bin.pgIsReady].every(isExecutable)) return bin;
  }
  return undefined;
}

/** Finds PostgreSQL, or installs Debian's `postgresql` with apt-get as root or through passwordless sudo. */
export function ensurePostgresInstalled(env: NodeJS.ProcessEnv, log: (line: string) => void): PostgresBin {
  const found = findPostgres(env);
  if (found) return found;
  if (env.POSTGRES_BIN_DIR) throw new Error(`POSTGRES_BIN_DIR=${env.POSTGRES_BIN_DIR} has no initdb, postgres and pg_isready`);
  // Only sudo that needs no password: a prompt would hang a background `stack up`.
  const root = process.getuid?.() === 0;
  const sudo = !root && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if (!root && !sudo) throw new Error(`PostgreSQL is missing and installing it needs root. Run:\n  ${MANUAL}\nthen the command again.`);
  log(`PostgreSQL is missing; installing Debian's postgresql with apt-get${sudo ? ' (sudo -n)' : ''}...`);
  const command = sudo ? ['sudo', '-n', 'sh', '-c', INSTALL] : ['sh', '-c', INSTALL];
  const run = spawnSync(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`installing postgresql failed (${run.error?.message ?? run.stderr.trim()}); run:\n  ${MANUAL}`);
  const installed = findPostgres(env);
  if (!installed) throw new Error(`apt-get installed postgresql but no server binaries are under ${DEBIAN_BIN_ROOT}/*/bin`);
  return installed;
}

interface RunAs {
  /** Prefix for every PostgreSQL command: empty, or setpriv to the postgres account. */
  prefix: string[];
  uid?: number;
  gid?: number;
}

function runAs(): RunAs {
  if (process.getuid?.() !== 0) return { prefix: [] };
  const ids = spawnSync('id', [RUN_AS_WHEN_ROOT], { encoding: 'utf8' });
  const uid = /uid=(\d+)/.exec(ids.stdout)?.[1];
  const gid = /gid=(\d+)/.exec(ids.stdout)?.[1];
  if (ids.status !== 0 || !uid || !gid) {
    throw new Error(`running as root, PostgreSQL needs an unprivileged account to run as, and there is no \`${RUN_AS_WHEN_ROOT}\` user`);
  }
  return {
    prefix: ['setpriv', `--reuid=${RUN_AS_WHEN_ROOT}`, `--regid=${RUN_AS_WHEN_ROOT}`, '--init-groups', '--'],
    uid: Number(uid),
    gid: Number(gid),
  };
}

/**
 * Where the database cluster lives: `preferred` (in the stack folder), unless running as root and the postgres
 * account cannot reach it (a stack folder under a private directory, such as a `mktemp -d` clone): then a folder of
 * the postgres account's own, `<its home>/mj-batch/<hash of preferred>`, one per stack folder.
 */
export function postgresDataDir(preferred: string): string {
  if (process.getuid?.() !== 0) return preferred;
  let probe = preferred;
  while (!fs.existsSync(probe) && path.dirname(probe) !== probe) probe = path.dirname(probe);
  const as = runAs();
  if (spawnSync(...commandAs(as, 'test', ['-x', probe]), { stdio: 'ignore' }).status === 0) return preferred;
  const home =
    spawnSync('getent', ['passwd', RUN_AS_WHEN_ROOT], { encoding: 'utf8' }).stdout.split(':')[5]?.trim() || '/var/lib/postgresql';
  const dir = path.join(home, 'mj-batch', createHash('sha256').update(preferred).digest('hex').slice(0, 12));
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  fs.chownSync(path.dirname(dir), as.uid!, as.gid!);
  return dir;
}

/** The command line that runs `command` as `as`'s account. */
function commandAs(as: RunAs, command: string, args: string[]): [string, string[]] {
  return as.prefix.length > 0 ? [as.prefix[0]!, [...as.prefix.slice(1), command, ...args]] : [command, args];
}

/** Runs a command to its end; resolves with its exit code and the tail of its output. */
export function runToEnd(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/**
 * Creates the database cluster once (the data folder has PG_VERSION afterwards); `temporal` is its superuser.
 * True when it made a new one.
 */
export async function initPostgres(
  bin: PostgresBin,
  dataDir: string,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<boolean> {
  if (fs.existsSync(path.join(dataDir, 'PG_VERSION'))) return false;
  const as = runAs();
  // A half-made folder from an interrupted initdb would make initdb refuse: start it again from nothing.
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pwFile = path.join(path.dirname(dataDir), '.pgpass-init');
  fs.writeFileSync(pwFile, `${POSTGRES_PASSWORD}\n`, { mode: 0o600 });
  if (as.uid !== undefined) {
    fs.chownSync(dataDir, as.uid, as.gid!);
    fs.chownSync(pwFile, as.uid, as.gid!);
    // Every folder above the data must be searchable by that account; a 0700 home or temp folder is not.
    if (spawnSync(...commandAs(as, 'test', ['-w', dataDir]), { stdio: 'ignore' }).status !== 0) {
      fs.rmSync(pwFile, { force: true });
      throw new Error(
        `running as root, PostgreSQL runs as the \`${RUN_AS_WHEN_ROOT}\` account, which cannot reach ${dataDir}: ` +
          `make every folder above it searchable (chmod o+x) or pick a stack folder it can reach with --dir`,
      );
    }
  }
  log(`initialising PostgreSQL in ${dataDir}`);
  try {
    const args = ['-D', dataDir, '-U', POSTGRES_USER, `--pwfile=${pwFile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C'];
    const run = await runToEnd(...commandAs(as, bin.initdb, args), env);
    if (run.code !== 0) throw new Error(`initdb failed with exit code ${run.code}:\n${run.output}`);
    return true;
  } finally {
    fs.rmSync(pwFile, { force: true });
  }
}

/** Starts the postmaster on 127.0.0.1:`port` only (no Unix socket), logging to `logFile`. */
export async function startPostgres(
  bin: PostgresBin,
  dataDir: string,
  port: number,
  logFile: string,
  env: NodeJS.ProcessEnv,
): Promise<ProcessRecord> {
  const as = runAs();
  const args = [
    '-D',
    dataDir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `port=${port}`,
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=100',
  ];
  const launched = startDetached(...commandAs(as, bin.postgres, args), { env, logFile, cwd: dataDir });
  // What runs after setpriv's exec is the postmaster itself: record that, so the pid check compares its command line.
  const rec: ProcessRecord = { ...launched, command: bin.postgres, args };
  const deadline = Date.now() + 5_000;
  while (!isRunning(rec) && Date.now() < deadline) await delay(20);
  return rec;
}

/** Waits until PostgreSQL accepts connections on 127.0.0.1:`port`. */
export async function waitForPostgres(
  bin: PostgresBin,
  port: number,
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
  signal?: AbortSignal,
): Promise<void> {
  await waitUntil(
    `PostgreSQL on 127.0.0.1:${port}`,
    async () => {
      const run = await runToEnd(bin.pgIsReady, ['-h', '127.0.0.1', '-p', String(port), '-U', POSTGRES_USER, '-t', '2'], env);
      if (run.code !== 0) throw new Error(run.output.trim() || `pg_isready exit code ${run.code}`);
    },
    timeoutMs,
    signal,
  );
}

/**
 * Stops the postmaster with a fast shutdown (SIGINT: clients disconnected, then a clean checkpoint). SIGTERM would
 * wait for every client, and the Temporal services keep theirs open. An immediate shutdown (SIGQUIT) is the fallback.
 */
export async function stopPostgres(rec: ProcessRecord, graceMs = 30_000): Promise<'stopped' | 'not-running'> {
  if (!isRunning(rec)) return 'not-running';
  process.kill(rec.pid, 'SIGINT');
  const deadline = Date.now() + graceMs;
  while (isRunning(rec) && Date.now() < deadline) await delay(100);
  if (isRunning(rec)) process.kill(rec.pid, 'SIGQUIT');
  while (isRunning(rec)) await delay(50);
  return 'stopped';
}
