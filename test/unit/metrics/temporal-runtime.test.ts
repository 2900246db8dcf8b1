// The Temporal runtime's exporter, on a real native runtime (no server needed: it binds when the runtime is made).
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { exposeRuntimeMetrics } from '../../../metrics/temporal-runtime';

afterEach(async () => {
  await Runtime._instance?.shutdown();
});

const exporterOf = (runtime: Runtime | undefined) => runtime?.options.runtimeOptions.metricsExporter;

test('a runtime installed only for logging is remade with the exporter, keeping its logger; close() drops it for later runtimes', async () => {
  const logger = new DefaultLogger('ERROR');
  const options = { logger };
  Runtime.install(options);
  const metrics = await exposeRuntimeMetrics();
  expect(metrics).toBeDefined();
  const runtime = Runtime._instance!;
  const exporter = exporterOf(runtime);
  expect(exporter).toMatchObject({ type: 'prometheus', socketAddr: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
  expect(runtime.logger).toBe(logger);
  // The native exporter answers on its own loopback port.
  const res = await fetch(`http://${(exporter as { socketAddr: string }).socketAddr}/metrics`);
  expect(res.status).toBe(200);
  await expect(metrics!.text()).resolves.toEqual(expect.any(String));
  metrics!.close();
  expect(Runtime.defaultOptions).toBe(options);
});

test('with no runtime yet, one is installed with the exporter; a second call reads the same exporter', async () => {
  expect(Runtime._instance).toBeUndefined();
  const first = await exposeRuntimeMetrics();
  const address = (exporterOf(Runtime._instance) as { socketAddr: string }).socketAddr;
  const second = await exposeRuntimeMetrics();
  expect((exporterOf(Runtime._instance) as { socketAddr: string }).socketAddr).toBe(address);
  second!.close();
  first!.close();
  expect(Runtime.defaultOptions.telemetryOptions?.metrics).toBeUndefined();
});
