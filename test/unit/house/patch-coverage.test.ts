import * as fs from 'node:fs';
import * as path from 'node:path';

// Every `patched()` branch is replayed both ways (see CONTRIBUTING.md, "Changing a workflow"): some recorded set
// took the new branch (its histories hold the patch marker) and some set was recorded before the patch existed
// (no history of that workflow type holds it), so old running workflows keep replaying too.
const ROOT = path.resolve(__dirname, '..', '..', '..');
const HISTORIES = path.join(ROOT, 'test', 'fixtures', 'histories');
const WORKFLOW_TYPE_OF_FILE: Record<string, string> = {
  'batch.ts': 'batchWorkflow',
  'item.ts': 'itemWorkflow',
  'account-slots.ts': 'accountSlotsWorkflow',
};

interface Recorded {
  set: string;
  type: string;
  patches: Set<string>;
}

type Event = {
  workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } };
  markerRecordedEventAttributes?: { markerName?: string; details?: Record<string, { payloads?: { data?: string }[] }> };
};

function read(file: string): Recorded {
  const events = (JSON.parse(fs.readFileSync(path.join(HISTORIES, file), 'utf8')) as { events: Event[] }).events;
  const patches = new Set<string>();
  for (const e of events) {
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_patch') continue;
    for (const payload of marker.details?.['patch-data']?.payloads ?? []) {
      patches.add((JSON.parse(Buffer.from(payload.data ?? '', 'base64').toString('utf8')) as { id: string }).id);
    }
  }
  const set = path.dirname(file) === '.' ? '(first)' : path.dirname(file);
  return { set, type: events[0].workflowExecutionStartedEventAttributes?.workflowType?.name ?? '', patches };
}

const histories = (fs.readdirSync(HISTORIES, { recursive: true, encoding: 'utf8' }) as string[])
  .filter((f) => f.endsWith('.json'))
  .map(read);
const patches = Object.entries(WORKFLOW_TYPE_OF_FILE).flatMap(([file, type]) => {
  const source = fs.readFileSync(path.join(ROOT, 'workflows', file), 'utf8');
  return [...new Set([...source.matchAll(/patched\('([^']+)'\)/g)].map((m) => m[1]))].map((id) => ({ id, type }));
});

test('the workflows have patches and the histories hold markers (so the checks below can fail)', () => {
  expect(patches.length).toBeGreaterThanOrEqual(7);
  expect(histories.some((h) => h.patches.size > 0)).toBe(true);
});

test.each(patches.map((p) => [p.id, p.type] as const))('patch %s of %s is replayed on both branches', (id, type) => {
  const ofType = histories.filter((h) => h.type === type);
  const sets = [...new Set(ofType.map((h) => h.set))];
  const newBranch = sets.filter((s) => ofType.some((h) => h.set === s && h.patches.has(id)));
  const oldBranch = sets.filter((s) => !newBranch.includes(s));
  expect({ id, newBranch: newBranch.length > 0, oldBranch: oldBranch.length > 0 }).toEqual({ id, newBranch: true, oldBranch: true });
});
