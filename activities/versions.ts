// Row versions: what a row's stored result says about the version that ran, and keeping the images of a version
// that a later one replaces.
import { createHash } from 'node:crypto';
import { CopyObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { imageBaseKey, rowFolderKey, supersededKey } from '../contracts/bucket-layout';
import type { StoredImage, StoredThumbnail } from '../contracts/media';
import type { ItemResult, RowRef, SupersededVersion } from '../contracts/rows';
import { rowRefVersions } from '../manifest/version';
import { storageError } from '../media/store';
import { roleFileName } from '../media/store-image';
import { loadRowRecord, type RowRecord } from '../report/row-results';
import { getObjectOrNull, s3StatusOf } from '../storage/objects';
import { toFailure } from './failures';

/** The row's versions now, and what its stored result says about the version that ran before. */
export interface RowState {
  version: string;
  firstJobVersion: string;
  previous?: {
    batchId: string;
    version: string;
    firstJobVersion: string;
    /** The row's folder when it ran. */
    prefix: string;
    result: ItemResult;
  };
}

/**
 * The row's state from its stored record (null: none). A result stored before versions existed has no version: it
 * is computed from the row the record kept, so an old result is judged by its content.
 */
export function rowStateOf(outputPrefix: string, row: RowRef, record: RowRecord | null): RowState {
  const now = rowRefVersions(outputPrefix, row);
  const state: RowState = { version: row.version ?? now.version, firstJobVersion: now.firstJobVersion };
  if (!record) return state;
  const then = rowRefVersions(outputPrefix, record.row);
  state.previous = {
    batchId: record.batchId,
    version: record.result.version ?? record.row.version ?? then.version,
    firstJobVersion: then.firstJobVersion,
    prefix: record.row.prefix,
    result: record.result,
  };
  return state;
}

export interface PreserveImagesInput {
  outputPrefix: string;
  row: Pick<RowRef, 'key' | 'prefix'>;
  /** Images to keep, at their current keys, by the version they belong to. */
  keep: SupersededVersion[];
  /** What the row is about to store (role and task): another row's image found under the same name is kept too. */
  writes: { role: string; taskId: string }[];
}

/** What store-image writes beside an image; only the fields read here. */
interface Sidecar {
  rowKey?: string;
  role?: string;
  taskId?: string;
  original?: { key: string; sha256: string; bytes: number; width: number; height: number; format: string };
  thumbnails?: StoredThumbnail[];
  [field: string]: unknown;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

export function createVersionActivities({ s3, bucket }: { s3: S3Client; bucket: string }) {
  /** The sha256 of the object at `key` (its metadata, else its bytes), or null when there is none. */
  async function shaAt(key: string): Promise<string | null> {
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      if (head.Metadata?.sha256) return head.Metadata.sha256;
    } catch (err) {
      if (s3StatusOf(err) === 404) return null;
      throw storageError(`HEAD s3://${bucket}/${key}`, err);
    }
    const bytes = await getObjectOrNull(s3, bucket, key);
    return bytes ? sha256(bytes) : null;
  }

  /**
   * Copies `from` to `to` (server-side) when `to` does not hold these bytes yet and `from` still does; false when
   * neither holds them (they were overwritten before they could be kept).
   */
  async function keepObject(from: string, to: string, sha: string): Promise<boolean> {
    if ((await shaAt(to)) === sha) return true;
    if ((await shaAt(from)) !== sha) return false;
    const source = `${bucket}/${from.split('/').map(encodeURIComponent).join('/')}`;
    try {
      await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: source, MetadataDirective: 'COPY' }));
    } catch (err) {
      throw storageError(`COPY s3://${bucket}/${from} to ${to}`, err);
    }
    return true;
  }

  async function readSidecar(key: string): Promise<Sidecar | null> {
    const body = await getObjectOrNull(s3, bucket, key);
    if (!body) return null;
    try {
      return JSON.parse(body.toString('utf8')) as Sidecar;
    } catch {
      return null;
    }
  }

  /**
   * Keeps one image (original, thumbnails, sidecar) under `<its folder>/_versions/<version>/`; the sidecar's keys are
   * rewritten to name the copies, so it describes what lies beside it. Undefined when its original is gone.
   */
  async function keepImage(image: StoredImage, folder: string, version: string): Promise<StoredImage | undefined> {
    const to = (key: string) => supersededKey(folder, version, key);
    if (!(await keepObject(image.key, to(image.key), image.sha256))) return undefined;
    const thumbnails: StoredThumbnail[] = [];
    for (const t of image.thumbnails) if (await keepObject(t.key, to(t.key), t.sha256)) thumbnails.push({ ...t, key: to(t.key) });
    const kept: StoredImage = { ...image, key: to(image.key), thumbnails, sidecarKey: to(image.sidecarKey) };
    const sidecar = await readSidecar(image.sidecarKey);
    if (sidecar?.original?.sha256 === image.sha256) {
      const copy = { ...sidecar, version, original: { ...sidecar.original, key: kept.key }, thumbnails };
      try {
        await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: kept.sidecarKey,
            Body: Buffer.from(`${JSON.stringify(copy, null, 2)}\n`),
            ContentType: 'application/json',
          }),
        );
      } catch (err) {
        throw storageError(`PUT s3://${bucket}/${kept.sidecarKey}`, err);
      }
    } else if (!(await readSidecar(kept.sidecarKey))) {
      // The sidecar was already replaced and never kept: the copy has none.
      kept.sidecarKey = '';
    }
    return kept;
  }

  /** The folder an image was stored in: its sidecar's, which sits at `<folder>/<role file>.json`. */
  const folderOf = (image: StoredImage) => image.sidecarKey.slice(0, Math.max(0, image.sidecarKey.lastIndexOf('/')));

  /** Another row's image stored where this row is about to write (a row whose key changed, in a shared folder). */
  async function foreignImages(input: PreserveImagesInput): Promise<SupersededVersion[]> {
    const found = new Map<string, SupersededVersion>();
    for (const w of input.writes) {
      const sidecarKey = `${imageBaseKey(input.row.prefix, roleFileName(w.role))}.json`;
      const sidecar = await readSidecar(sidecarKey);
      if (!sidecar?.original || !sidecar.rowKey || sidecar.rowKey === input.row.key) continue;
      const record = await loadRowRecord(s3, bucket, input.outputPrefix, sidecar.rowKey).catch(() => null);
      const version = record ? rowStateOf(input.outputPrefix, record.row, record).previous!.version : sidecar.rowKey;
      const entry = found.get(version) ?? { version, rowKey: sidecar.rowKey, images: [] };
      found.set(version, entry);
      entry.images.push({
        role: sidecar.role ?? w.role,
        taskId: sidecar.taskId ?? '',
        ...sidecar.original,
        thumbnails: sidecar.thumbnails ?? [],
        sidecarKey,
        skipped: false,
      });
    }
    return [...found.values()];
  }

  return {
    /** The row's versions and its stored result's (a re-run skips only the same version). */
    async loadRowState(input: { outputPrefix: string; row: RowRef }): Promise<RowState> {
      return rowStateOf(input.outputPrefix, input.row, await loadRowRecord(s3, bucket, input.outputPrefix, input.row.key));
    },

    /**
     * Keeps the images a new version of the row replaces, before it writes its own: each under
     * `<its folder>/_versions/<version>/`. Idempotent: a copy already made is not made again, and bytes already
     * replaced are not copied over a kept copy. Answers where each kept image is; one whose original is gone is left out.
     */
    async preserveImages(input: PreserveImagesInput): Promise<SupersededVersion[]> {
      try {
        // Only a folder that is not the row's own (an `output` template) can hold another row's images.
        const shared = input.row.prefix !== rowFolderKey(input.outputPrefix, input.row.key);
        const entries = [...input.keep, ...(shared ? await foreignImages(input) : [])];
        const kept: SupersededVersion[] = [];
        for (const entry of entries) {
          const images: StoredImage[] = [];
          for (const image of entry.images) {
            const copy = await keepImage(image, folderOf(image) || input.row.prefix, entry.version);
            if (copy) images.push(copy);
          }
          if (images.length > 0) kept.push({ ...entry, images });
        }
        return kept;
      } catch (err) {
        throw toFailure(err);
      }
    },
  };
}
