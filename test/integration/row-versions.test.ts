import { createHash } from 'node:crypto';
import { validateManifest } from '../../manifest/validate';
import { manifestRowVersions } from '../../manifest/version';
import { loadRowRecord, type RowRecord } from '../../report/row-results';
import { getObjectOrNull } from '../../storage/objects';
import { runCli } from './cli';
import { unique } from './helpers';
import { jsonl, startPipeline, writeManifest, type Pipeline } from './pipeline-harness';

// A re-run pays exactly for what changed: an id-keyed manifest run, then edited (one prompt, one plan gaining a pick)
// and run again into the same output prefix, checked against the simulator's ledger and the bucket.
let p: Pipeline;

beforeAll(async () => {
  p = await startPipeline({ speed: 50 });
});
afterAll(() => p?.stop());

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('an edited id-keyed manifest run again pays for one new grid (+ its pick) and one U4, nothing else; old images are kept', async () => {
  const tag = unique('rv');
  const ids = { prompt: `${tag}-prompt`, pick: `${tag}-pick`, same: `${tag}-same` };
  const jobsOf = (id: string) => p.ledger().filter((j) => j.state === id);
  const output = unique('out/versions');
  const run = async (manifest: string) => {
    const r = await runCli(['run', manifest, '--wait', '--json', '--output', output, '--account-slots', '0'], { env: p.cliEnv });
    expect(r.stderr).not.toMatch(/Error:/);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const recordOf = async (id: string): Promise<RowRecord> => (await loadRowRecord(p.s3, p.config.s3.bucket, output, id))!;
  const bytesAt = async (key: string) => (await getObjectOrNull(p.s3, p.config.s3.bucket, key))!;

  // First as CSV, folders from a template.
  const csv = [
    'id,prompt,actions,output',
    `${ids.prompt},a walnut desk ${tag},U1,catalog/{id}`,
    `${ids.pick},a linen sofa ${tag},U1,catalog/{id}`,
    `${ids.same},a glass vase ${tag},,catalog/{id}`,
  ].join('\n');
  expect(await run(writeManifest('versions.csv', `${csv}\n`))).toMatchObject({ rows: 3, succeeded: 3, failed: 0 });
  const ledgerBefore = p.ledger().length;
  expect(jobsOf(ids.prompt).map((j) => j.action)).toEqual(['IMAGINE', 'UPSCALE']);
  expect(jobsOf(ids.pick).map((j) => j.action)).toEqual(['IMAGINE', 'UPSCALE']);
  expect(jobsOf(ids.same).map((j) => j.action)).toEqual(['IMAGINE']);
  const before = { prompt: await recordOf(ids.prompt), pick: await recordOf(ids.pick), same: await recordOf(ids.same) };
  const oldPromptBytes = new Map(await Promise.all(before.prompt.result.images.map(async (i) => [i.role, await bytesAt(i.key)] as const)));

  // Edited, and as JSONL this time (the unchanged row is the same version however it is written).
  const editedFile = writeManifest(
    'versions-edited.jsonl',
    jsonl([
      { id: ids.prompt, prompt: `a walnut desk with brass handles ${tag}`, actions: 'U1', output: 'catalog/{id}' },
      { id: ids.pick, prompt: `a linen sofa ${tag}`, actions: 'U1,U4', output: 'catalog/{id}' },
      { id: ids.same, prompt: `a glass vase ${tag}`, actions: '', output: 'catalog/{id}' },
    ]),
  );
  expect(await run(editedFile)).toMatchObject({ rows: 3, succeeded: 3, skipped: 1, failed: 0 });

  // The ledger: one IMAGINE and its U1 for the changed prompt, one U4 on the stored grid, nothing for the rest.
  const paid = p.ledger().slice(ledgerBefore);
  const promptJobs = paid.filter((j) => j.state === ids.prompt);
  expect(promptJobs.map((j) => j.action)).toEqual(['IMAGINE', 'UPSCALE']);
  expect(promptJobs[0]!.prompt).toContain('with brass handles');
  expect(promptJobs[1]!.parentId).toBe(promptJobs[0]!.id);
  const oldPickGrid = before.pick.result.images.find((i) => i.role === 'grid')!;
  const pickJobs = paid.filter((j) => j.state === ids.pick);
  expect(pickJobs).toHaveLength(1);
  expect(pickJobs[0]).toMatchObject({ action: 'UPSCALE', parentId: oldPickGrid.taskId });
  expect(pickJobs[0]!.customId).toMatch(/^MJ::JOB::upsample::4::/);
  expect(paid.filter((j) => j.state === ids.same)).toEqual([]);
  expect(paid.filter((j) => j.state?.startsWith(tag))).toHaveLength(3);

  // The results record the version of the manifest as edited.
  const edited = await validateManifest(editedFile);
  const after = { prompt: await recordOf(ids.prompt), pick: await recordOf(ids.pick), same: await recordOf(ids.same) };
  for (const row of edited.rows) {
    const version = manifestRowVersions(row).version;
    expect([row.key, (await recordOf(row.key)).result.version]).toEqual([row.key, version]);
  }
  expect(after.prompt.result.version).not.toBe(before.prompt.result.version);
  expect(after.pick.result.version).not.toBe(before.pick.result.version);
  expect(after.same).toEqual(before.same); // skipped: its record is untouched

  // The plan gaining U4: grid and U1 carried over as they were, U4 stored beside them.
  const pickImages = after.pick.result.images;
  expect(pickImages.map((i) => i.role)).toEqual(['grid', 'U1', 'U4']);
  expect(pickImages.slice(0, 2)).toEqual(before.pick.result.images);
  expect(pickImages[2]!.taskId).toBe(pickJobs[0]!.id);
  expect(sha256(await bytesAt(pickImages[2]!.key))).toBe(pickImages[2]!.sha256);
  expect(after.pick.result.superseded).toBeUndefined();

  // The changed prompt: its new images in the row's folder, the old ones kept under _versions/<old version>/.
  const folder = `${output}/catalog/${ids.prompt}`;
  const newImages = after.prompt.result.images;
  expect(newImages.map((i) => [i.role, i.key.startsWith(`${folder}/`)])).toEqual([
    ['grid', true],
    ['U1', true],
  ]);
  expect(newImages.map((i) => i.taskId)).toEqual(promptJobs.map((j) => j.id));
  const [superseded] = after.prompt.result.superseded ?? [];
  expect(superseded).toMatchObject({ version: before.prompt.result.version, rowKey: ids.prompt });
  expect(superseded!.images.map((i) => [i.role, i.taskId])).toEqual(before.prompt.result.images.map((i) => [i.role, i.taskId]));
  for (const kept of superseded!.images) {
    const old = before.prompt.result.images.find((i) => i.role === kept.role)!;
    expect(kept.key).toBe(old.key.replace(`${folder}/`, `${folder}/_versions/${before.prompt.result.version}/`));
    // The old bytes, where the new version wrote its own under the old name.
    expect(sha256(await bytesAt(kept.key))).toBe(old.sha256);
    expect((await bytesAt(kept.key)).equals(oldPromptBytes.get(kept.role)!)).toBe(true);
    const now = newImages.find((i) => i.role === kept.role)!;
    expect(now.key).toBe(old.key);
    expect(sha256(await bytesAt(now.key))).toBe(now.sha256);
    expect(now.sha256).not.toBe(old.sha256);
    for (const t of kept.thumbnails) {
      expect(t.key).toContain(`/_versions/${before.prompt.result.version}/thumbs/`);
      expect(sha256(await bytesAt(t.key))).toBe(t.sha256);
    }
    expect(kept.thumbnails).toHaveLength(old.thumbnails.length);
    // The kept sidecar describes the kept copies.
    const sidecar = JSON.parse((await bytesAt(kept.sidecarKey)).toString('utf8'));
    expect(sidecar).toMatchObject({ rowKey: ids.prompt, taskId: old.taskId, version: before.prompt.result.version });
    expect(sidecar.original).toMatchObject({ key: kept.key, sha256: old.sha256 });
    expect(sidecar.thumbnails.map((t: { key: string }) => t.key)).toEqual(kept.thumbnails.map((t) => t.key));
  }

  // Run again as it is: every row is the same version now, nothing is paid for.
  const ledgerNow = p.ledger().length;
  expect(await run(editedFile)).toMatchObject({ rows: 3, skipped: 3, failed: 0 });
  expect(
    p
      .ledger()
      .slice(ledgerNow)
      .filter((j) => j.state?.startsWith(tag)),
  ).toEqual([]);
}, 300_000);

test('a row without an id edited in a folder its output template shares: the old row keeps its images under _versions/', async () => {
  const tag = unique('rv-noid');
  const output = unique('out/versions-noid');
  const run = async (rows: object[]) => {
    const manifest = writeManifest('noid.jsonl', jsonl(rows));
    const r = await runCli(['run', manifest, '--wait', '--json', '--output', output, '--account-slots', '0'], { env: p.cliEnv });
    expect(r.code).toBe(0);
    return (await validateManifest(manifest)).rows[0]!;
  };
  const bytesAt = async (key: string) => (await getObjectOrNull(p.s3, p.config.s3.bucket, key))!;
  const first = await run([{ sku: tag, prompt: `a teak stool ${tag}`, output: 'shared/{sku}' }]);
  const old = (await loadRowRecord(p.s3, p.config.s3.bucket, output, first.key))!;
  const second = await run([{ sku: tag, prompt: `a teak stool, oiled ${tag}`, output: 'shared/{sku}' }]);
  expect(second.key).not.toBe(first.key);
  expect(
    p
      .ledger()
      .filter((j) => j.prompt?.includes(tag))
      .map((j) => j.action),
  ).toEqual(['IMAGINE', 'IMAGINE']);

  const now = (await loadRowRecord(p.s3, p.config.s3.bucket, output, second.key))!;
  const oldGrid = old.result.images[0]!;
  expect(now.result.images[0]!.key).toBe(oldGrid.key); // the same folder and name
  expect(now.result.superseded).toEqual([
    expect.objectContaining({ version: manifestRowVersions(first).version, rowKey: first.key, images: [expect.anything()] }),
  ]);
  const kept = now.result.superseded![0]!.images[0]!;
  expect(kept.key).toBe(`${output}/shared/${tag}/_versions/${manifestRowVersions(first).version}/grid.png`);
  expect(sha256(await bytesAt(kept.key))).toBe(oldGrid.sha256);
  expect(sha256(await bytesAt(oldGrid.key))).toBe(now.result.images[0]!.sha256);
  // The old row's own record is left as it was.
  expect(await loadRowRecord(p.s3, p.config.s3.bucket, output, first.key)).toEqual(old);
}, 300_000);
