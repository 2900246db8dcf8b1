// A row's version: what decides what it pays for and stores, as one short hash. A re-run compares it with the stored
// result's to tell an unchanged row (skipped) from an edited one (run again, reusing what it can).
import { createHash } from 'node:crypto';
import { normalisePrefix } from '../contracts/bucket-layout';
import type { RowRef } from '../contracts/rows';
import { rowFolder } from './output';
import { formatPlan, type FollowUpPlan } from './plan';
import type { ManifestRow } from './row';

/** The fields a version is made of, however the row was read (CSV or JSON, any column order). */
export interface VersionFields {
  kind: string;
  prompt: string;
  images: readonly string[];
  mode?: string;
  plan: FollowUpPlan;
  /** The row's folder under the output prefix. */
  folder: string;
  /** A media-only row's existing task or image. */
  taskId?: string;
  imageUrl?: string;
}

export interface RowVersions {
  /** Every field: a new one means the row must run again. */
  version: string;
  /** The first job alone (kind, prompt, images, mode): the same one means its grid can be built on. */
  firstJobVersion: string;
}

const hash = (parts: unknown[]) => createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);

/** The first job's identity: a changed one needs a new grid. */
export function firstJobVersion(r: Omit<VersionFields, 'plan' | 'folder'>): string {
  return hash(['first-job', r.kind, r.prompt, [...r.images], r.mode ?? '', r.taskId ?? '', r.imageUrl ?? '']);
}

/** The row's version: its first job, its follow-up plan (as the manifest syntax spells it) and its folder. */
export function rowVersion(r: VersionFields): string {
  return hash(['row', firstJobVersion(r), formatPlan(r.plan), normalisePrefix(r.folder)]);
}

export function versionsOf(r: VersionFields): RowVersions {
  return { version: rowVersion(r), firstJobVersion: firstJobVersion(r) };
}

/** A manifest row's versions. */
export function manifestRowVersions(row: ManifestRow): RowVersions {
  return versionsOf({ ...row, folder: rowFolder(row) });
}

/**
 * The versions of a row as the workflows carry it (`RowRef`, also what a result record stores), its folder taken
 * from its prefix under `outputPrefix`: how results stored before versions existed are judged by their content.
 */
export function rowRefVersions(outputPrefix: string, row: Omit<RowRef, 'version'>): RowVersions {
  const base = normalisePrefix(outputPrefix);
  const prefix = normalisePrefix(row.prefix);
  const folder = base && prefix.startsWith(`${base}/`) ? prefix.slice(base.length + 1) : prefix;
  return versionsOf({ ...row, folder });
}
