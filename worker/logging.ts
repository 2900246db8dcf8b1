import * as fs from 'node:fs';
import * as path from 'node:path';
import pino, { type Logger } from 'pino';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

export interface LoggingOptions {
  /** JSON lines go here; `-` means stderr. */
  file: string;
  level?: pino.LevelWithSilent;
}

/** Structured logs (pino JSON lines) to a file or stderr; stdout stays for results. */
export function createLogger(opts: LoggingOptions): Logger {
  const level = opts.level ?? 'info';
  if (opts.file === '-') return pino({ level }, pino.destination(2));
  fs.mkdirSync(path.dirname(opts.file), { recursive: true });
  return pino({ level }, pino.destination({ dest: opts.file, sync: false, mkdir: true }));
}

const PINO_LEVEL: Record<LogLevel, pino.Level> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

let installed = false;

/** Sends the Temporal SDK's own logs (worker state, workflow bundling, ...) to our logger. Once per process. */
export function routeTemporalLogs(logger: Logger): void {
  if (installed) return;
  installed = true;
  Runtime.install({
    logger: new DefaultLogger('INFO', (entry) => {
      logger[PINO_LEVEL[entry.level]]({ ...entry.meta, component: 'temporal' }, entry.message);
    }),
  });
}
