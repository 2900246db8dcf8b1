import * as fs from 'node:fs';
import * as path from 'node:path';

// The house rules for imports, read from the source: which folder may load which at runtime. Type-only imports
// are erased by the compiler, so they never load code and never make a cycle.
const ROOT = path.resolve(__dirname, '..', '..', '..');
const PRODUCT = [
  'contracts',
  'codec',
  'manifest',
  'media',
  'mj-client',
  'storage',
  'report',
  'config',
  'stack',
  'simulator',
  'metrics',
  'activities',
  'workflows',
  'worker',
  'client',
  'cli',
];
const TOOLS = ['bench', 'scripts'];

interface Import {
  file: string;
  target: string;
  typeOnly: boolean;
}

function sourceFiles(folder: string): string[] {
  const dir = path.join(ROOT, folder);
  return (fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[])
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

/** Every static import and re-export of a relative module, resolved to a path under the root (without extension). */
function importsOf(file: string): Import[] {
  const text = fs.readFileSync(file, 'utf8');
  const found: Import[] = [];
  const re = /^(import|export)\s+(type\s+)?([^;]*?)\s+from\s+'([^']+)';/gms;
  for (const m of text.matchAll(re)) {
    const spec = m[4];
    if (!spec.startsWith('.')) continue;
    const names = m[3];
    const typeOnly =
      Boolean(m[2]) ||
      (/^\{[^}]*\}$/s.test(names.trim()) &&
        names
          .replace(/[{}\s]/g, '')
          .split(',')
          .filter(Boolean)
          .every((n) => n.startsWith('type')));
    found.push({
      file: path.relative(ROOT, file),
      target: path.relative(ROOT, path.resolve(path.dirname(file), spec)).replace(/\/index$/, ''),
      typeOnly,
    });
  }
  return found;
}

const folderOf = (p: string) => p.split(path.sep)[0];
const all = [...PRODUCT, ...TOOLS].flatMap(sourceFiles).flatMap(importsOf);
const runtime = all.filter((i) => !i.typeOnly);

test('the scan sees the code base (a broken pattern would pass every rule below)', () => {
  expect(all.length).toBeGreaterThan(300);
  expect(runtime.some((i) => i.file === path.join('workflows', 'batch.ts') && i.target === path.join('contracts', 'handlers'))).toBe(true);
});

test('workflow code loads only the contracts and itself at runtime', () => {
  const outside = runtime.filter((i) => folderOf(i.file) === 'workflows' && !['workflows', 'contracts'].includes(folderOf(i.target)));
  expect(outside).toEqual([]);
});

test('the contracts load nothing of the layers below at runtime', () => {
  expect(runtime.filter((i) => folderOf(i.file) === 'contracts' && folderOf(i.target) !== 'contracts')).toEqual([]);
});

test('no layer below the worker imports workflows/ or worker/', () => {
  const lower = PRODUCT.slice(0, PRODUCT.indexOf('activities') + 1).concat('client');
  const bad = all.filter((i) => lower.includes(folderOf(i.file)) && ['workflows', 'worker'].includes(folderOf(i.target)));
  expect(bad).toEqual([]);
});

test('only the CLI imports cli/: the benchmarks and scripts use the client library', () => {
  expect(all.filter((i) => folderOf(i.file) !== 'cli' && folderOf(i.target) === 'cli')).toEqual([]);
});

test('the product folders have no import cycle', () => {
  const edges = new Map<string, Set<string>>();
  for (const i of runtime) {
    const [from, to] = [folderOf(i.file), folderOf(i.target)];
    if (from === to || !PRODUCT.includes(from) || !PRODUCT.includes(to)) continue;
    if (!edges.has(from)) edges.set(from, new Set());
    edges.get(from)!.add(to);
  }
  const cycles: string[] = [];
  const visit = (node: string, trail: string[]) => {
    if (trail.includes(node)) return void cycles.push([...trail.slice(trail.indexOf(node)), node].join(' -> '));
    for (const next of edges.get(node) ?? []) visit(next, [...trail, node]);
  };
  for (const folder of PRODUCT) visit(folder, []);
  expect([...new Set(cycles)]).toEqual([]);
});
