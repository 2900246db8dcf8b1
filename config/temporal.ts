import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { TemporalSettings } from './config';

function connectionOptions(settings: TemporalSettings) {
  return {
    address: settings.address,
    tls: settings.tls ? {} : undefined,
    apiKey: settings.apiKey,
  };
}

/** A client for starting, querying and listing workflows. Close it with `client.connection.close()`. */
export async function connectClient(settings: TemporalSettings): Promise<Client> {
  const connection = await Connection.connect({ ...connectionOptions(settings), connectTimeout: '10s' });
  return new Client({ connection, namespace: settings.namespace });
}

/** The connection a Worker polls through. */
export function connectWorker(settings: TemporalSettings): Promise<NativeConnection> {
  return NativeConnection.connect(connectionOptions(settings));
}
