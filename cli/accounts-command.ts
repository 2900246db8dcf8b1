// `mj-batch accounts [--json] [--accounts FILE]`: each API account's state on this task queue, from whichever source
// knows it: the pool when it runs, else the accounts file (every account idle), else the single account's slots.
import { Command } from 'commander';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { accountPoolState } from '../client/account-pool';
import { accountOf, accountSlotsStatus, type AccountSlotsStatus } from '../client/account-slots';
import { accountSlotsWorkflowId } from '../contracts/account-slots';
import type { AccountSpec } from '../contracts/accounts';
import { accountsFileOf, loadAccountSpecs } from '../config/accounts';
import { loadConfig, type EffectiveConfig } from '../config/config';
import { connectClient } from '../config/temporal';
import { accountsLines, reportFromFile, reportFromPool, reportFromSlots, type AccountsReport } from './accounts-view';
import { printJson, printLines } from './output';

export function accountsCommand(): Command {
  return new Command('accounts')
    .description(
      "each API account's state on this task queue: active, parked and why, outside its hours or capped; slots in use, jobs today, refusals (times in UTC)",
    )
    .option('--accounts <file>', 'the accounts file (default: $MJ_ACCOUNTS_FILE): its accounts show as idle until a batch starts the pool')
    .option('--json', 'print one JSON object')
    .action(async (flags: { accounts?: string; json?: boolean }) => {
      const config = loadConfig();
      // A bad file stops the command (exit 2) before anything is asked of Temporal; no key is needed to read it.
      const specs = loadAccountSpecs({ config, file: flags.accounts });
      const file = accountsFileOf({ config, file: flags.accounts });
      const client = await connectClient(config.temporal);
      try {
        const report = await readAccounts(client, config, file && specs ? { file, specs } : undefined);
        if (flags.json) printJson(report);
        else printLines(accountsLines(report));
      } finally {
        await client.connection.close();
      }
    });
}

async function readAccounts(
  client: Client,
  config: EffectiveConfig,
  accountsFile?: { file: string; specs: AccountSpec[] },
): Promise<AccountsReport> {
  const pool = await accountPoolState(client, config.taskQueue);
  if (pool) return reportFromPool(config.taskQueue, pool);
  if (accountsFile) return reportFromFile(config.taskQueue, accountsFile.file, accountsFile.specs);
  const account = accountOf(config.mj);
  const slots = await runningSlots(client, accountSlotsWorkflowId(config.taskQueue, account));
  return reportFromSlots(config.taskQueue, slots ?? { account, slots: config.account.slots, queueAhead: config.account.queueAhead });
}

/** The single account's slots, if its workflow runs (a terminated one would answer with the state it ended in). */
async function runningSlots(client: Client, workflowId: string): Promise<AccountSlotsStatus | undefined> {
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    return d.status.name === 'RUNNING' ? await accountSlotsStatus(client, workflowId) : undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
