// The API clients of the accounts, one per account, built the same way by the worker (its activities) and the CLI (a
// cancel at the API): each account's base URL and key, its own auth header and mode prefix over the single-account ones.
import type { Accounts } from '../config/accounts';
import type { EffectiveConfig } from '../config/config';
import { MjClient } from '../mj-client/client';

/** Clients by the account's name; `default` (the first account's) serves calls that name no account. */
export interface MjClients {
  default: MjClient;
  byName: ReadonlyMap<string, MjClient>;
}

export function createAccountClients(accounts: Accounts, config: Pick<EffectiveConfig, 'mj'>): MjClients & { close(): Promise<void> } {
  const byName = new Map(
    accounts.accounts.map(({ spec, apiKey }) => [
      spec.name,
      new MjClient({
        baseUrl: spec.baseUrl,
        apiKey,
        auth: spec.authHeader ?? config.mj.auth,
        modePrefix: spec.modePrefix ?? config.mj.modePrefix,
      }),
    ]),
  );
  return {
    default: byName.get(accounts.accounts[0]!.spec.name)!,
    byName,
    async close() {
      await Promise.all([...byName.values()].map((c) => c.close()));
    },
  };
}
