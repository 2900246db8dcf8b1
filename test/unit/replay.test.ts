import * as fs from 'node:fs';
import * as path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { prebuiltWorkflowBundle } from '../../worker/workflow-bundle';

// Histories recorded from the real dev server by `npm run record-histories`; replay needs no server.
const HISTORIES = path.resolve(__dirname, '..', 'fixtures', 'histories');

beforeAll(() => Runtime.install({ logger: new DefaultLogger('WARN') }));

function loadHistory(name: string) {
  return historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES, name), 'utf8')));
}

// One set per recording (the top level is the first): each holds the paths workflows took under the code of its day.
const recorded = fs
  .readdirSync(HISTORIES, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.json'))
  .sort();

test('every set of recorded histories is replayed', () => {
  expect(recorded.filter((f) => f.includes(path.sep)).length).toBeGreaterThanOrEqual(8);
});

const SMOKE = path.resolve(__dirname, '..', 'fixtures', 'smoke', 'workflows.ts');
const isSmoke = (file: string) => path.basename(file) === 'smoke-workflow.json';

// The product's histories replay against the bundle `npm run build` made, the one workers load.
test.each(recorded.filter((f) => !isSmoke(f)))(
  'recorded history %s replays against the built workflow bundle',
  async (file) => {
    await expect(Worker.runReplayHistory({ workflowBundle: prebuiltWorkflowBundle() }, loadHistory(file))).resolves.toBeUndefined();
  },
  60_000,
);

test.each(recorded.filter(isSmoke))(
  'recorded smoke history %s replays against the smoke fixture',
  async (file) => {
    await expect(Worker.runReplayHistory({ workflowsPath: SMOKE }, loadHistory(file))).resolves.toBeUndefined();
  },
  60_000,
);

test('a reordered workflow fails replay with a determinism violation', async () => {
  const changed = path.resolve(__dirname, '..', 'fixtures', 'changed-workflows', 'index.ts');
  await expect(Worker.runReplayHistory({ workflowsPath: changed }, loadHistory('smoke-workflow.json'))).rejects.toBeInstanceOf(
    DeterminismViolationError,
  );
}, 60_000);
