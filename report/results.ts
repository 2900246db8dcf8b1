import { stringify } from 'csv-stringify/sync';
import type { RowRecord } from './row-results';
import type { RowRef } from '../contracts/rows';

/** One line of results.csv / results.jsonl: the input columns, then how the row ended and what it stored. */
export interface ResultLine {
  line: number;
  key: string;
  input: Record<string, string>;
  status: string;
  failureClass: string;
  reason: string;
  taskIds: string[];
  images: { role: string; key: string; sha256: string; thumbnails: string[] }[];
  text: string;
  modeRequested: string;
  modeRan: string;
}

export function resultLine(row: RowRef, record: RowRecord | null): ResultLine {
  const input: Record<string, string> = {
    id: row.id ?? '',
    kind: row.kind,
    prompt: row.prompt,
    images: row.images.join('|'),
    mode: row.mode ?? '',
    actions: row.actions,
    taskId: row.taskId ?? '',
    imageUrl: row.imageUrl ?? '',
    ...row.extra,
  };
  const r = record?.result;
  return {
    line: row.line,
    key: row.key,
    input,
    status: r?.status ?? 'MISSING',
    failureClass: r?.failureClass ?? '',
    reason: r?.reason ?? (r ? '' : 'no result was recorded for this row'),
    taskIds: r?.taskIds ?? [],
    images: (r?.images ?? []).map((i) => ({ role: i.role, key: i.key, sha256: i.sha256, thumbnails: i.thumbnails.map((t) => t.key) })),
    text: r?.text ?? '',
    modeRequested: r?.modeRequested ?? row.mode ?? '',
    modeRan: r?.modeRan ?? '',
  };
}

export function toCsv(lines: ResultLine[]): string {
  const inputColumns = [...new Set(lines.flatMap((l) => Object.keys(l.input)))];
  const header = [
    'line',
    'key',
    ...inputColumns,
    'status',
    'failure_class',
    'failure_reason',
    'task_ids',
    'image_keys',
    'image_sha256',
    'thumbnail_keys',
    'text',
    'mode_requested',
    'mode_ran',
  ];
  const records = lines.map((l) => [
    l.line,
    l.key,
    ...inputColumns.map((c) => l.input[c] ?? ''),
    l.status,
    l.failureClass,
    l.reason,
    l.taskIds.join('|'),
    l.images.map((i) => i.key).join('|'),
    l.images.map((i) => i.sha256).join('|'),
    l.images.flatMap((i) => i.thumbnails).join('|'),
    l.text,
    l.modeRequested,
    l.modeRan,
  ]);
  return stringify([header, ...records]);
}

export function toJsonl(lines: ResultLine[]): string {
  return lines.map((l) => JSON.stringify(l)).join('\n') + (lines.length ? '\n' : '');
}
