import { NativeConnection } from '@temporalio/worker';
import type { TemporalSettings } from '../config/config';
import { connectionOptions } from '../config/temporal';

/** The connection a Worker polls through (the client's options: API key, mTLS, CA, server name). */
export function connectWorker(settings: TemporalSettings): Promise<NativeConnection> {
  return NativeConnection.connect(connectionOptions(settings));
}
