import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../../../config/config';

const cwd = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-metrics-'));

test.each([
  ['127.0.0.1:9100', { host: '127.0.0.1', port: 9100 }],
  ['0.0.0.0:9464', { host: '0.0.0.0', port: 9464 }],
  [':9200', { host: '127.0.0.1', port: 9200 }],
  ['metrics.internal', { host: 'metrics.internal', port: 9464 }],
  ['[::1]:9300', { host: '::1', port: 9300 }],
  ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
])('MJ_BATCH_METRICS_LISTEN=%s listens on %j', (value, listen) => {
  expect(loadConfig({ MJ_BATCH_METRICS_LISTEN: value }, cwd()).worker.metricsListen).toEqual(listen);
});

test('unset (or empty), there are no metrics; `mj-batch config` shows it as off', () => {
  const c = loadConfig({ MJ_BATCH_METRICS_LISTEN: '' }, cwd());
  expect(c.worker.metricsListen).toBeUndefined();
  expect(c.sources.MJ_BATCH_METRICS_LISTEN).toBe('default');
});

test('the config file may set it; a bad value stops with the setting named', () => {
  const dir = cwd();
  fs.writeFileSync(path.join(dir, 'mj-batch.config.json'), JSON.stringify({ MJ_BATCH_METRICS_LISTEN: '0.0.0.0:9464' }));
  const c = loadConfig({}, dir);
  expect(c.worker.metricsListen).toEqual({ host: '0.0.0.0', port: 9464 });
  expect(c.sources.MJ_BATCH_METRICS_LISTEN).toBe('file');
  expect(() => loadConfig({ MJ_BATCH_METRICS_LISTEN: 'http://x:9464' }, dir)).toThrow(ConfigError);
  expect(() => loadConfig({ MJ_BATCH_METRICS_LISTEN: 'host:99999' }, dir)).toThrow(
    /MJ_BATCH_METRICS_LISTEN: "host:99999" is not host:port/,
  );
});
