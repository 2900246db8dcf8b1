// The worker's metrics, wired: the Temporal runtime's exporter, mj-batch's registry (with the recorder the
// activities use and the slots read from Temporal), and the /metrics endpoint serving both.
import type { TemporalSettings } from '../config/config';
import { connectClient } from '../config/temporal';
import { useRecorder } from './record';
import { createMetricsRegistry } from './registry';
import { startMetricsServer, type MetricsServer } from './server';
import { accountSlotsReader, poolSlotsReader } from './slots';
import { exposeRuntimeMetrics } from './temporal-runtime';

export interface WorkerMetricsOptions {
  /** MJ_BATCH_METRICS_LISTEN */
  listen: { host: string; port: number };
  temporal: TemporalSettings;
  taskQueue: string;
  /** The worker runs an accounts file: the slots come from the task queue's pool, else from the slots workflows. */
  pool: boolean;
  log?: (line: string) => void;
}

export interface WorkerMetrics {
  /** `http://host:port/metrics` */
  url: string;
  close(): Promise<void>;
}

/** Starts serving; call it before the worker's connection is made, so the runtime's metrics can be exported. */
export async function startWorkerMetrics(opts: WorkerMetricsOptions): Promise<WorkerMetrics> {
  const runtime = await exposeRuntimeMetrics(opts.log);
  const client = await connectClient(opts.temporal).catch((err: unknown) => {
    runtime?.close();
    throw err;
  });
  const registry = createMetricsRegistry({ readSlots: (opts.pool ? poolSlotsReader : accountSlotsReader)(client, opts.taskQueue) });
  const sources = [() => registry.text(), ...(runtime ? [() => runtime.text()] : [])];
  let server: MetricsServer;
  try {
    server = await startMetricsServer({ ...opts.listen, sources, contentType: registry.contentType });
  } catch (err) {
    runtime?.close();
    await client.connection.close();
    const { host, port } = opts.listen;
    throw new Error(`MJ_BATCH_METRICS_LISTEN: cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
  useRecorder(registry.recorder);
  return {
    url: server.url,
    async close() {
      useRecorder(undefined);
      await server.close();
      runtime?.close();
      await client.connection.close();
    },
  };
}
