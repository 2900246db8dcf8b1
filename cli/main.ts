import { Command, Option } from 'commander';
import { loadConfig } from '../config/config';
import { accountsCommand } from './accounts-command';
import { codecServerCommand } from './codec-server-command';
import { demoCommand } from './demo-command';
import { simCommand } from './sim-command';
import { progress } from './output';
import { configCommand } from './config-command';
import { doctorCommand } from './doctor-command';
import { batchCommands } from './batch-commands';
import { redriveCommand } from './redrive-command';
import { reprocessCommand } from './reprocess-command';
import { reportCommand } from './report-command';
import { runCommand } from './run-command';
import { stackCommand } from './stack-command';
import { validateCommand } from './validate-command';

/** The commands that run a worker in this process. */
const WORKER_COMMANDS = new Set(['worker', 'demo']);

export function buildProgram(): Command {
  const program = new Command('mj-batch')
    .description('Turn a manifest of image prompts into finished, stored images, durably, on Temporal.')
    .option(
      '--log-file <path>',
      'structured JSON logs go here; `-` for stderr (default: <stack dir>/logs/mj-batch.log, or $MJ_BATCH_LOG_FILE)',
    )
    .addOption(
      new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
    )
    .showHelpAfterError()
    .hook('preAction', (cmd, action) => {
      // Only commands that run a worker load the worker SDK (and, through the activities, sharp).
      if (!WORKER_COMMANDS.has(action.name())) return;
      const opts = cmd.opts<{ logFile?: string; logLevel: 'info' }>();
      const file = opts.logFile ?? loadConfig().logFile;
      const { createLogger, routeTemporalLogs } = require('../worker/logging') as typeof import('../worker/logging');
      routeTemporalLogs(createLogger({ file, level: opts.logLevel }));
    });
  program.addCommand(stackCommand());
  program.addCommand(demoCommand());
  program.addCommand(simCommand());
  program.addCommand(validateCommand());
  program.addCommand(configCommand());
  program.addCommand(doctorCommand());
  program.addCommand(runCommand());
  program.addCommand(redriveCommand());
  program.addCommand(reprocessCommand());
  for (const cmd of batchCommands()) program.addCommand(cmd);
  program.addCommand(accountsCommand());
  program.addCommand(reportCommand());
  program.addCommand(codecServerCommand());
  program
    .command('worker')
    .description('run a worker for the configured Temporal server and S3 bucket until interrupted')
    .option('--accounts <file>', 'the accounts file: a JSON array of API accounts (default: $MJ_ACCOUNTS_FILE)')
    .action(async (flags: { accounts?: string }) => {
      const { runWorker } = require('../worker/run-worker') as typeof import('../worker/run-worker');
      await runWorker(loadConfig(), progress, flags.accounts);
    });
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
