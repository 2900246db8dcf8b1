import { getHeapStatistics } from 'node:v8';
import { loadConfig, ConfigError } from '../../config/config';
import { defaultMaxCachedWorkflows, sdkDefaultMaxCachedWorkflows } from '../../config/workflow-cache';

describe('the workflow cache size', () => {
  const env = { MJ_BATCH_STACK_DIR: '/nonexistent-mj-batch-stack' };

  it('follows the SDK formula and takes a quarter of it, at least 4 per activity slot, never more than the SDK', () => {
    expect(sdkDefaultMaxCachedWorkflows(4144)).toBe(2310);
    expect(sdkDefaultMaxCachedWorkflows(100)).toBe(10);
    expect(defaultMaxCachedWorkflows(4144, 50)).toBe(577);
    expect(defaultMaxCachedWorkflows(4144, 200)).toBe(800);
    expect(defaultMaxCachedWorkflows(300, 50)).toBe(58);
  });

  it('reads MJ_BATCH_MAX_CACHED_WORKFLOWS and rejects a bad value by name', () => {
    expect(loadConfig({ ...env, MJ_BATCH_MAX_CACHED_WORKFLOWS: '300' }).worker.maxCachedWorkflows).toBe(300);
    expect(() => loadConfig({ ...env, MJ_BATCH_MAX_CACHED_WORKFLOWS: '1' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, MJ_BATCH_MAX_CACHED_WORKFLOWS: 'lots' })).toThrow(
      /MJ_BATCH_MAX_CACHED_WORKFLOWS: "lots" is not a whole number \(accepts a whole number >= 2\)/,
    );
  });

  it('defaults from the heap and the activity concurrency', () => {
    const a = loadConfig({ ...env, MJ_BATCH_ACTIVITY_CONCURRENCY: '10000' }).worker.maxCachedWorkflows;
    expect(a).toBe(sdkDefaultMaxCachedWorkflows(getHeapStatistics().heap_size_limit / 1048576));
  });
});
