import { isBookkeepingKey } from '../contracts/bucket-layout';
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ResultLine } from '../report/results';
import { mapLimit } from '../report/map-limit';
import { getObjectOrNull, listKeys } from '../storage/objects';

/** The simulator's ledger entry for one accepted job (GET /_sim/jobs). */
export interface LedgerEntry {
  id: string;
  action: string;
  customId: string | null;
  prompt: string;
  state: string | null;
  parentId: string | null;
  charged: boolean;
  status: string;
}

/**
 * Paid jobs beyond the first for one piece of work: the same row (`state`) asking for the same thing twice, i.e. the
 * same new job (action and prompt) or the same button on the same parent. A MODAL job not yet confirmed is not paid,
 * nor is one that ended FAILURE: Midjourney bills no failed job and new-api refunds a failed task's quota
 * (controller/midjourney.go), so asking again after a failure is a retry, not a second payment.
 */
export function duplicatePaidJobs(jobs: LedgerEntry[]): { count: number; examples: string[] } {
  const seen = new Map<string, string[]>();
  for (const j of jobs) {
    if (!j.charged || j.status === 'FAILURE') continue;
    const work = j.parentId ? `${j.state} ${j.parentId} ${j.customId}` : `${j.state} ${j.action} ${j.prompt}`;
    seen.set(work, [...(seen.get(work) ?? []), j.id]);
  }
  const dups = [...seen.entries()].filter(([, ids]) => ids.length > 1);
  return {
    count: dups.reduce((n, [, ids]) => n + ids.length - 1, 0),
    examples: dups.slice(0, 5).map(([work, ids]) => `row ${work.split(' ')[0]}: jobs ${ids.join(', ')}`),
  };
}

export interface RowAccount {
  /** Manifest rows with no line in the report, or with a status that is not an outcome (MISSING, CANCELLED, unclassified). */
  lost: string[];
  byStatus: Record<string, number>;
  byFailureClass: Record<string, number>;
}

/** Every manifest row must end SUCCESS, or FAILED / UNKNOWN_SUBMIT with a failure class the report names. */
export function accountForRows(manifestKeys: string[], report: ResultLine[]): RowAccount {
  const byKey = new Map(report.map((l) => [l.key, l]));
  const lost: string[] = [];
  const byStatus: Record<string, number> = {};
  const byFailureClass: Record<string, number> = {};
  for (const key of manifestKeys) {
    const line = byKey.get(key);
    const status = line?.status ?? 'NOT_IN_REPORT';
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    if (line?.failureClass) byFailureClass[line.failureClass] = (byFailureClass[line.failureClass] ?? 0) + 1;
    const outcome =
      status === 'SUCCESS' || status === 'SKIPPED' || ((status === 'FAILED' || status === 'UNKNOWN_SUBMIT') && !!line?.failureClass);
    if (!outcome) lost.push(key);
  }
  return { lost, byStatus, byFailureClass };
}

interface Sidecar {
  original: { key: string; sha256: string };
  thumbnails: { key: string; sha256: string }[];
}

export interface ShaAudit {
  sidecars: number;
  objectsChecked: number;
  /** Objects whose bytes hash to something else than their sidecar says (or that the sidecar names but are missing). */
  mismatches: string[];
  /** Images stored under the prefix that no sidecar describes (an upload cut short before its sidecar). */
  imagesWithoutSidecar: string[];
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Re-reads every stored image and thumbnail under the prefix and checks it against its sidecar's sha256. */
export async function auditStoredImages(s3: S3Client, bucket: string, prefix: string): Promise<ShaAudit> {
  const keys = await listKeys(s3, bucket, `${prefix}/`);
  const sidecarKeys = keys.filter((k) => k.endsWith('.json') && !isBookkeepingKey(prefix, k));
  const described = new Set<string>();
  const mismatches: string[] = [];
  let objectsChecked = 0;
  await mapLimit(sidecarKeys, 8, async (key) => {
    const body = await getObjectOrNull(s3, bucket, key);
    const sidecar = body ? (JSON.parse(body.toString('utf8')) as Sidecar) : null;
    if (!sidecar?.original) return;
    for (const item of [sidecar.original, ...sidecar.thumbnails]) {
      described.add(item.key);
      const bytes = await getObjectOrNull(s3, bucket, item.key);
      objectsChecked++;
      if (!bytes) mismatches.push(`${item.key}: named by ${key} but missing`);
      else if (sha256(bytes) !== item.sha256)
        mismatches.push(`${item.key}: sha256 ${sha256(bytes).slice(0, 12)}… but ${key} says ${item.sha256.slice(0, 12)}…`);
    }
  });
  const imagesWithoutSidecar = keys.filter((k) => /\.(png|jpe?g|webp|avif)$/.test(k) && !described.has(k));
  return { sidecars: sidecarKeys.length, objectsChecked, mismatches, imagesWithoutSidecar };
}
