import { createHash } from 'node:crypto';
import { MODES, type Mode } from '../mj-client/routing';
import { parsePlan, PlanError, type FollowUpPlan } from './plan';

export const KINDS = ['imagine', 'blend', 'describe', 'shorten'] as const;
export type Kind = (typeof KINDS)[number];

/** Columns with a meaning; every other column is kept as is and returned in the results. */
export const KNOWN_COLUMNS = ['id', 'kind', 'prompt', 'images', 'mode', 'actions', 'output', 'taskId', 'imageUrl'] as const;

export const MAX_PROMPT_CHARS = 4000;

/** A manifest row, checked and normalised. */
export interface ManifestRow {
  /** Where the row starts in the manifest (1-based; the header is line 1 of a CSV). */
  line: number;
  /** `id`, or a hash of the row's content: an edited row gets a new key, an unchanged one keeps it. */
  key: string;
  id?: string;
  kind: Kind;
  prompt: string;
  images: string[];
  mode?: Mode;
  /** The follow-up plan as written (normalised), and parsed. */
  actions: string;
  plan: FollowUpPlan;
  output?: string;
  /** An existing task whose images only need the media stage again. */
  taskId?: string;
  imageUrl?: string;
  extra: Record<string, string>;
}

export interface RowIssue {
  line: number;
  field: string;
  message: string;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const IMAGE_REF = /^(https?:\/\/[^\s]+|s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/\S+)$/;
// Control characters other than tab: binary junk, or a quote that swallowed a line break.
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
const IMAGE_COUNT: Record<Kind, [number, number]> = { imagine: [0, 5], blend: [2, 5], describe: [1, 1], shorten: [0, 0] };

function asText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function contentKey(r: Pick<ManifestRow, 'kind' | 'prompt' | 'images' | 'mode' | 'actions' | 'taskId' | 'imageUrl'>): string {
  const canonical = JSON.stringify([r.kind, r.prompt, r.images, r.mode ?? '', r.actions, r.taskId ?? '', r.imageUrl ?? '']);
  return `r-${createHash('sha256').update(canonical).digest('hex').slice(0, 16)}`;
}

/** Checks one record (CSV cells are strings; JSON values may be arrays or numbers) and builds the row, or says what is wrong. */
export function normalizeRow(
  values: Record<string, unknown>,
  line: number,
  columns: readonly string[],
): { row?: ManifestRow; issues: RowIssue[] } {
  const issues: RowIssue[] = [];
  const rejected = new Set<string>();
  const problem = (field: string, message: string) => {
    rejected.add(field);
    issues.push({ line, field, message });
  };
  const text = (field: string): string | undefined => {
    const v = values[field];
    if (v !== undefined && v !== null && typeof v === 'object' && !(field === 'images' && Array.isArray(v))) {
      problem(field, `must be text, not ${Array.isArray(v) ? 'a list' : 'an object'}`);
      return undefined;
    }
    const s = asText(v)?.trim();
    if (s && CONTROL.test(s)) {
      problem(
        field,
        /[\n\r]/.test(s)
          ? 'contains a line break (an unclosed quote may have merged several rows into this one)'
          : 'contains control characters (binary data?)',
      );
      return undefined;
    }
    // U+FFFD is what bytes that are not UTF-8 decode to: binary junk, or a Latin-1 file whose accents would reach the prompt garbled.
    if (s?.includes('\ufffd')) {
      problem(field, 'contains bytes that are not UTF-8 text (binary data, or a file saved in another encoding such as Latin-1?)');
      return undefined;
    }
    return s || undefined;
  };

  const id = text('id');
  if (id !== undefined && !ID_PATTERN.test(id))
    problem('id', `"${id.slice(0, 40)}" is not a valid id: use 1–128 letters, digits, ".", "_" or "-", starting with a letter or digit`);

  const kindText = (text('kind') ?? 'imagine').toLowerCase();
  const kind = (KINDS as readonly string[]).includes(kindText) ? (kindText as Kind) : undefined;
  if (!kind) problem('kind', `unknown kind "${kindText}"; use one of ${KINDS.join(', ')}`);

  const prompt = text('prompt') ?? '';
  if ((kind === 'imagine' || kind === 'shorten') && !prompt && !rejected.has('prompt') && !text('taskId') && !text('imageUrl'))
    problem('prompt', 'is empty');
  if (prompt.length > MAX_PROMPT_CHARS) problem('prompt', `is ${prompt.length} characters long; the limit is ${MAX_PROMPT_CHARS}`);

  let images: string[] = [];
  const rawImages = values.images;
  if (Array.isArray(rawImages)) {
    if (rawImages.some((x) => typeof x !== 'string')) problem('images', 'must be a list of URLs');
    else images = rawImages.map((x: string) => x.trim()).filter(Boolean);
  } else {
    images = (text('images') ?? '')
      .split('|')
      .map((s) => s.trim())
      .filter(Boolean);
  }
  const badRef = images.find((ref) => !IMAGE_REF.test(ref));
  if (badRef) problem('images', `"${badRef.slice(0, 80)}" is not an http(s):// or s3://bucket/key reference`);
  if (kind) {
    const [min, max] = IMAGE_COUNT[kind];
    if (images.length < min || images.length > max) {
      problem(
        'images',
        min === max
          ? `${kind} takes exactly ${min} image${min === 1 ? '' : 's'}, got ${images.length}`
          : `${kind} takes ${min} to ${max} images, got ${images.length}`,
      );
    }
  }

  const modeText = text('mode')?.toLowerCase();
  const mode = modeText === undefined ? undefined : (MODES as readonly string[]).includes(modeText) ? (modeText as Mode) : undefined;
  if (modeText !== undefined && !mode) problem('mode', `unknown mode "${modeText}"; use fast, relax or turbo`);

  let plan: FollowUpPlan = [];
  const actionsText = text('actions') ?? '';
  try {
    plan = parsePlan(actionsText);
  } catch (err) {
    if (!(err instanceof PlanError)) throw err;
    problem('actions', err.message);
  }
  if (plan.length > 0 && (kind === 'describe' || kind === 'shorten'))
    problem('actions', `${kind} rows make no grid, so they take no follow-up actions`);

  const output = text('output');
  if (output !== undefined) {
    const unknown = [...output.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!).filter((name) => !['key', ...columns].includes(name));
    if (unknown.length > 0)
      problem(
        'output',
        `names ${unknown.map((u) => `{${u}}`).join(', ')}, which ${unknown.length === 1 ? 'is not a column' : 'are not columns'}`,
      );
    if (output.startsWith('/') || output.split('/').includes('..')) problem('output', 'must be a relative prefix without ".." parts');
  }

  const taskId = text('taskId');
  const imageUrl = text('imageUrl');
  if (imageUrl !== undefined && !/^https?:\/\/\S+$/.test(imageUrl)) problem('imageUrl', 'must be an http(s) URL');

  if (issues.length > 0 || !kind) return { issues };
  const extra: Record<string, string> = {};
  for (const column of columns) {
    if ((KNOWN_COLUMNS as readonly string[]).includes(column)) continue;
    const v = values[column];
    extra[column] = typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);
  }
  const normalized = { kind, prompt, images, mode, actions: actionsText.replace(/\s+/g, ''), taskId, imageUrl };
  return { row: { line, key: id ?? contentKey(normalized), id, ...normalized, plan, output, extra }, issues };
}
