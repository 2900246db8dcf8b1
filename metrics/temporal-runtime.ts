// The Temporal runtime's own metrics (the `temporal_` prefix: task slots, poll and schedule-to-start latencies,
// sticky cache, ...). The SDK exports them in Prometheus text only from its native core, on an address fixed when
// the process's Runtime is made: here a loopback port of its own, whose text /metrics appends to mj-batch's.
import { Runtime } from '@temporalio/worker';
import { freePort } from '../stack/processes';

export interface RuntimeMetrics {
  /** The runtime's Prometheus text, or '' when it cannot be had now (the runtime is between workers). */
  text(): Promise<string>;
  /** Later runtimes of this process are made without the exporter again. */
  close(): void;
}

const SCRAPE_TIMEOUT_MS = 2000;

function scraperOf(address: string, close: () => void): RuntimeMetrics {
  return {
    async text() {
      try {
        const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
        return res.ok ? await res.text() : '';
      } catch {
        return '';
      }
    },
    close,
  };
}

/** The SDK marks it protected: a runtime with no connection or worker yet, which can be remade at no cost. */
const isIdle = (runtime: Runtime) => (runtime as unknown as { isIdle(): boolean }).isIdle();

/**
 * Makes the process's Temporal runtime export Prometheus metrics on 127.0.0.1 and returns how to read them. Call it
 * before the worker connects. A runtime installed earlier only for logging (`routeTemporalLogs`, a test's setup) is
 * remade with the same options plus the exporter; one already in use cannot be, and yields undefined (mj-batch's own
 * metrics are still served).
 */
export async function exposeRuntimeMetrics(log?: (line: string) => void): Promise<RuntimeMetrics | undefined> {
  const current = Runtime._instance;
  const exporter = current?.options.runtimeOptions.metricsExporter;
  if (exporter?.type === 'prometheus') return scraperOf(exporter.socketAddr, () => undefined);
  if (current) {
    if (!isIdle(current)) {
      log?.('Temporal runtime metrics are not served: the runtime was in use before metrics were set up');
      return undefined;
    }
    await current.shutdown();
  }
  const previous = Runtime.defaultOptions;
  const address = `127.0.0.1:${await freePort()}`;
  Runtime.install({ ...previous, telemetryOptions: { ...previous.telemetryOptions, metrics: { prometheus: { bindAddress: address } } } });
  // Runtime.install remembers its options for when the runtime is remade after going idle (between workers).
  const installed = Runtime.defaultOptions;
  return scraperOf(address, () => {
    if (Runtime.defaultOptions === installed) Runtime.defaultOptions = previous;
  });
}
