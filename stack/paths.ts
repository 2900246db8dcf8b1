import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where the local stack keeps its data, pids and logs: git-ignored, inside the working directory by default. */
export function defaultStackDir(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return path.resolve(cwd, env.MJ_BATCH_STACK_DIR ?? '.mj-batch');
}

/** Built binaries live outside any clone, so a fresh clone on the same machine reuses them. */
export function binaryCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MJ_BATCH_CACHE_DIR) return path.resolve(env.MJ_BATCH_CACHE_DIR, 'bin');
  const base = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache');
  return path.join(base, 'mj-batch', 'bin');
}

export interface StackLayout {
  dir: string;
  stateFile: string;
  logsDir: string;
  temporalDb: string;
  s3DataDir: string;
  s3MetaDir: string;
  s3IamDir: string;
  /** `stack up --cluster`: PostgreSQL's data, the Temporal server's config. */
  clusterDir: string;
}

export function stackLayout(dir: string): StackLayout {
  return {
    dir,
    stateFile: path.join(dir, 'stack.json'),
    logsDir: path.join(dir, 'logs'),
    temporalDb: path.join(dir, 'temporal', 'dev.db'),
    s3DataDir: path.join(dir, 's3', 'data'),
    s3MetaDir: path.join(dir, 's3', 'meta'),
    s3IamDir: path.join(dir, 's3', 'iam'),
    clusterDir: path.join(dir, 'cluster'),
  };
}

/** The folder holding mj-batch's package.json, from compiled (dist/) or source (ts) code alike. */
export function packageRoot(from = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bin', 'mj-batch.js'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find the mj-batch package above ${from}`);
  }
}
