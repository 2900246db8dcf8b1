import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { InvalidManifestError, prepareBatch } from '../../client/batches';
import { EXIT } from '../../cli/exit-codes';
import type { RowIssue } from '../../manifest/row';
import { runCli } from './cli';
import { defaultOptions, startPipeline, type Pipeline } from './pipeline-harness';

/*
 * Bad input never reaches the API. 200 malformed manifests, generated from a fixed seed over ten kinds of damage,
 * each with valid rows around the bad one: `run` must refuse every one before anything is submitted, with an error
 * that names the bad line and says what is wrong, and without crashing. All 200 go through the run path in-process
 * (prepareBatch, as `mj-batch run` calls it); a sample of 12 through the built CLI in its own process.
 */

const SEED = 0x5eed_f022;
const CASES_PER_CATEGORY = 20;
const CATEGORIES = [
  'bad-quotes',
  'columns',
  'wrong-types',
  'long-prompt',
  'bad-plan',
  'binary-junk',
  'bom',
  'line-endings',
  'duplicates',
  'empty',
] as const;
type Category = (typeof CATEGORIES)[number];
type Format = 'csv' | 'json' | 'jsonl';

interface BadCase {
  /** `<category>-<n>`; the file is named after it, so a failure names the manifest to rebuild. */
  name: string;
  category: Category;
  what: string;
  format: Format;
  bytes: Buffer;
  /** The line (1-based, as an editor counts them) the first error must name. */
  line: number;
  /** What `<field>: <message>` of that error says. */
  expect: RegExp;
  /** The whole file is junk: later lines may have errors of their own. Otherwise every error is on `line`. */
  laterLinesToo?: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// A seeded PRNG (mulberry32): the same 200 manifests on every run and machine.

class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Valid rows, and a renderer that writes them as CSV, a JSON array or JSONL and knows the line each row starts on.

type Value = string | number | boolean | null | Value[] | { [key: string]: Value };
type Row = Record<string, Value>;
/** A row written verbatim (a broken line no serializer would produce). */
interface RawRow {
  raw: string;
}
type Item = Row | RawRow;

const COLUMNS = ['id', 'kind', 'prompt', 'images', 'mode', 'actions', 'output', 'sku'];
const SUBJECTS = [
  'an oak dining chair',
  'a ceramic vase',
  'a brass desk lamp',
  'a wool rug',
  'a glass teapot',
  'a linen sofa',
  'a walnut desk',
  'a copper kettle',
];
const STYLES = ['studio light', 'on a white background', 'golden hour', 'flat lay, top view', 'macro shot, shallow depth of field'];
const GOOD_PLANS = ['', 'U1', 'U1,U3', 'all', 'U2>upscale_subtle', 'V1>U1', 'U4>zoom_custom=1.5', 'U3>vary_strong'];
const image = (i: number, n: number) => `https://images.example.test/ref-${i}-${n}.png`;

function validRow(rng: Rng, i: number): Row {
  const base = { id: `row-${i}`, sku: `SKU-${1000 + i}` };
  const r = rng.next();
  if (r < 0.1) return { ...base, kind: 'blend', images: [image(i, 1), image(i, 2)], mode: 'relax', actions: 'U1' };
  if (r < 0.18) return { ...base, kind: 'describe', images: [image(i, 1)] };
  return {
    ...base,
    kind: 'imagine',
    prompt: `${rng.pick(SUBJECTS)}, ${rng.pick(STYLES)}, variant ${i}`,
    mode: rng.pick(['', 'fast', 'relax', 'turbo']),
    actions: rng.pick(GOOD_PLANS),
  };
}

const lineBreaks = (s: string) => s.match(/\r\n|\r|\n/g)?.length ?? 0;

function csvCell(v: Value | undefined): string {
  const s = v === undefined || v === null ? '' : Array.isArray(v) ? v.join('|') : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

interface RenderOptions {
  /** The line break after each line: "\n" unless a case mixes them. */
  eol?: () => string;
  /** Blank lines between rows are skipped, but count: they must not shift the line numbers. */
  blankLines?: boolean;
  /** JSON arrays: some elements spread over several lines (their line is the one they start on). */
  pretty?: boolean;
  csvHeader?: string;
}

function render(format: Format, items: Item[], rng: Rng, opts: RenderOptions = {}): { text: string; lineOf: number[] } {
  const eol = opts.eol ?? (() => '\n');
  let text = format === 'csv' ? `${opts.csvHeader ?? COLUMNS.join(',')}${eol()}` : format === 'json' ? `[${eol()}` : '';
  const lineOf: number[] = [];
  items.forEach((item, i) => {
    if (opts.blankLines && rng.chance(0.15)) text += eol();
    // Counted on the text so far: a "\r" line end followed by a blank line's "\n" is one line break, as in an editor.
    lineOf.push(1 + lineBreaks(text));
    let body: string;
    if ('raw' in item) body = item.raw as string;
    else if (format === 'csv') body = COLUMNS.map((c) => csvCell(item[c])).join(',');
    else if (format === 'json' && opts.pretty && rng.chance(0.4)) body = JSON.stringify(item, null, 2).split('\n').join(eol());
    else body = JSON.stringify(item);
    const last = i === items.length - 1;
    text += format === 'json' ? `${body}${last ? '' : ','}${eol()}` : last && rng.chance(0.3) ? body : `${body}${eol()}`;
  });
  if (format === 'json') text += `]${rng.chance(0.5) ? eol() : ''}`;
  return { text, lineOf };
}

/** Valid rows with `bad` among them (at a random place): the manifest's text and the line the bad row starts on. */
function withBadRow(
  rng: Rng,
  format: Format,
  bad: Item | ((validRows: Row[], at: number) => Item),
  opts: RenderOptions & { minAt?: number } = {},
) {
  const rows = Array.from({ length: rng.int(2, 7) }, (_, i) => validRow(rng, i));
  const at = rng.int(opts.minAt ?? 0, rows.length);
  const items: Item[] = [...rows];
  items.splice(at, 0, typeof bad === 'function' ? bad(rows, at) : bad);
  const { text, lineOf } = render(format, items, rng, opts);
  return { text, line: lineOf[at]!, lineOf, at };
}

const utf8 = (text: string) => Buffer.from(text, 'utf8');
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Makes the n-th case of a category: `n` cycles through its kinds of damage, the PRNG picks the rest. */
type Make = (rng: Rng, n: number) => Omit<BadCase, 'name' | 'category'>;
const nth = <T>(items: readonly T[], n: number): T => items[n % items.length]!;

// Row-level defects that read the same in every format: the base of the BOM and line-ending cases.
const FIELD_DEFECTS: { what: string; row: Row; expect: RegExp }[] = [
  { what: 'an empty prompt', row: { id: 'bad-1', kind: 'imagine', prompt: '' }, expect: /^prompt: is empty$/ },
  { what: 'an unknown kind', row: { id: 'bad-1', kind: 'paint', prompt: 'a chair' }, expect: /^kind: unknown kind "paint"/ },
  { what: 'an unknown mode', row: { id: 'bad-1', prompt: 'a chair', mode: 'warp' }, expect: /^mode: unknown mode "warp"/ },
  { what: 'an unknown button', row: { id: 'bad-1', prompt: 'a chair', actions: 'U9' }, expect: /^actions: unknown follow-up "U9"/ },
  {
    what: 'a bad image reference',
    row: { id: 'bad-1', prompt: 'a chair', images: ['ftp://nope/x.png'] },
    expect: /^images: "ftp:\/\/nope\/x.png" is not an http/,
  },
];

// ---------------------------------------------------------------------------------------------------------------
// One generator per kind of damage.

const badQuotes: Make = (rng, n) => {
  const variant = nth(
    [
      'csv-unclosed',
      'csv-inner-quote',
      'csv-quote-in-bare-field',
      'csv-text-after-quote',
      'json-inner-quote',
      'json-unclosed-string',
      'json-single-quotes',
      'json-smart-quotes',
    ] as const,
    n,
  );
  if (variant.startsWith('csv')) {
    const prompt = {
      'csv-unclosed': '"a chair, studio light', // never closed: swallows what follows until the next quote
      'csv-inner-quote': '"a "big" chair"',
      'csv-quote-in-bare-field': 'a 27" monitor',
      'csv-text-after-quote': '"a chair" in oak',
    }[variant as 'csv-unclosed'];
    const { text, line } = withBadRow(rng, 'csv', { raw: `bad-1,imagine,${prompt},,fast,U1,,SKU-9` }, { blankLines: true });
    // An unclosed quote pairs with the next quote in the file: what it swallowed may break later rows too.
    return {
      what: variant,
      format: 'csv',
      bytes: utf8(text),
      line,
      expect: /^\(row\): .*quote/,
      laterLinesToo: variant === 'csv-unclosed',
    };
  }
  const format = rng.pick(['json', 'jsonl'] as const);
  const raw = {
    'json-inner-quote': '{"id":"bad-1","prompt":"a "big" chair"}',
    'json-unclosed-string': '{"id":"bad-1","prompt":"a chair}',
    'json-single-quotes': "{'id':'bad-1','prompt':'a chair'}",
    'json-smart-quotes': '{"id":"bad-1","prompt":“a chair”}',
  }[variant as 'json-inner-quote'];
  const { text, line } = withBadRow(rng, format, { raw }, { blankLines: true, pretty: true });
  return {
    what: `${variant} (${format})`,
    format,
    bytes: utf8(text),
    line,
    expect: /^\((row|file)\): not valid JSON at column \d+: .*(string|quote|")/,
  };
};

const columns: Make = (rng, n) => {
  const variant = nth(
    [
      'csv-missing-cells',
      'csv-extra-cells',
      'csv-duplicate-header',
      'csv-empty-header-name',
      'csv-no-header',
      'json-missing-prompt',
      'json-missing-images',
    ] as const,
    n,
  );
  switch (variant) {
    case 'csv-missing-cells': {
      const { text, line } = withBadRow(rng, 'csv', { raw: 'bad-1,imagine,a chair' }, { blankLines: true });
      return { what: variant, format: 'csv', bytes: utf8(text), line, expect: /^\(row\): has 3 columns; the header has 8$/ };
    }
    case 'csv-extra-cells': {
      // An unquoted comma in the prompt: one cell too many.
      const { text, line } = withBadRow(rng, 'csv', { raw: 'bad-1,imagine,a chair, studio light,,fast,U1,,SKU-9' }, { blankLines: true });
      return { what: variant, format: 'csv', bytes: utf8(text), line, expect: /^\(row\): has 9 columns; the header has 8$/ };
    }
    case 'csv-duplicate-header': {
      // The second "id" takes the sku column's values: the rows stay valid, only the header is wrong.
      const { text } = withBadRow(rng, 'csv', validRow(rng, 99), { csvHeader: 'id,kind,prompt,images,mode,actions,output,id' });
      return { what: variant, format: 'csv', bytes: utf8(text), line: 1, expect: /^id: column "id" appears twice in the header$/ };
    }
    case 'csv-empty-header-name': {
      // A trailing comma on every line: the header's last column has no name.
      const { text } = withBadRow(rng, 'csv', validRow(rng, 99));
      const withTrailingComma = text
        .split('\n')
        .map((l) => (l ? `${l},` : l))
        .join('\n');
      return {
        what: variant,
        format: 'csv',
        bytes: utf8(withTrailingComma),
        line: 1,
        expect: /^\(column 9\): the header has an empty column name$/,
      };
    }
    case 'csv-no-header': {
      const { text } = withBadRow(rng, 'csv', validRow(rng, 99));
      return {
        what: variant,
        format: 'csv',
        bytes: utf8(text.slice(text.indexOf('\n') + 1)),
        line: 1,
        expect: /^\(file\): the header names none of the manifest's columns/,
      };
    }
    case 'json-missing-prompt': {
      const format = rng.pick(['json', 'jsonl'] as const);
      const { text, line } = withBadRow(rng, format, { id: 'bad-1', kind: 'imagine', mode: 'fast', actions: 'U1' }, { pretty: true });
      return { what: `${variant} (${format})`, format, bytes: utf8(text), line, expect: /^prompt: is empty$/ };
    }
    case 'json-missing-images': {
      const format = rng.pick(['json', 'jsonl'] as const);
      const { text, line } = withBadRow(rng, format, { id: 'bad-1', kind: 'blend', actions: 'U1' }, { pretty: true });
      return { what: `${variant} (${format})`, format, bytes: utf8(text), line, expect: /^images: blend takes 2 to 5 images, got 0$/ };
    }
  }
};

const wrongTypes: Make = (rng, n) => {
  const defects: { what: string; formats: Format[]; item: Item; expect: RegExp }[] = [
    {
      what: 'prompt is an object',
      formats: ['json', 'jsonl'],
      item: { id: 'bad-1', prompt: { text: 'a chair' } },
      expect: /^prompt: must be text, not an object$/,
    },
    {
      what: 'prompt is a list',
      formats: ['json', 'jsonl'],
      item: { id: 'bad-1', prompt: ['a', 'chair'] },
      expect: /^prompt: must be text, not a list$/,
    },
    {
      what: 'images is an object',
      formats: ['json', 'jsonl'],
      item: { id: 'bad-1', prompt: 'a chair', images: { url: image(1, 1) } },
      expect: /^images: must be text, not an object$/,
    },
    {
      what: 'images holds numbers',
      formats: ['json', 'jsonl'],
      item: { id: 'bad-1', kind: 'blend', images: [1, 2] },
      expect: /^images: must be a list of URLs$/,
    },
    {
      what: 'actions is a list',
      formats: ['json', 'jsonl'],
      item: { id: 'bad-1', prompt: 'a chair', actions: ['U1', 'U2'] },
      expect: /^actions: must be text, not a list$/,
    },
    {
      what: 'kind is a number',
      formats: ['json', 'jsonl', 'csv'],
      item: { id: 'bad-1', kind: 3, prompt: 'a chair' },
      expect: /^kind: unknown kind "3"/,
    },
    {
      what: 'mode is a boolean',
      formats: ['json', 'jsonl', 'csv'],
      item: { id: 'bad-1', prompt: 'a chair', mode: true },
      expect: /^mode: unknown mode "true"/,
    },
    {
      what: 'images is not a URL',
      formats: ['csv', 'jsonl'],
      item: { id: 'bad-1', prompt: 'a chair', images: 'chair.png' },
      expect: /^images: "chair.png" is not an http/,
    },
    {
      what: 'id is not an id',
      formats: ['csv', 'json'],
      item: { id: 'chair #3', prompt: 'a chair' },
      expect: /^id: "chair #3" is not a valid id/,
    },
    { what: 'the row is a string', formats: ['json'], item: { raw: '"just a prompt"' }, expect: /^\(row\): element \d+ is not an object$/ },
    {
      what: 'the row is a list',
      formats: ['json', 'jsonl'],
      item: { raw: '["bad-1", "a chair", "U1"]' },
      expect: /^\(row\): (element \d+ is not an object|each line must be a JSON object)$/,
    },
  ];
  const defect = nth(defects, n);
  const format = rng.pick(defect.formats);
  const { text, line } = withBadRow(rng, format, defect.item, { pretty: true, blankLines: true });
  return { what: `${defect.what} (${format})`, format, bytes: utf8(text), line, expect: defect.expect };
};

const longPrompt: Make = (rng) => {
  const format = rng.pick(['csv', 'json', 'jsonl'] as const);
  const length = rng.chance(0.2) ? rng.int(100_000, 300_000) : rng.int(4001, 20_000);
  const words = 'a very detailed product photo of an oak chair, soft light, ';
  const prompt =
    words
      .repeat(Math.ceil(length / words.length))
      .slice(0, length)
      .trimEnd() + 'X';
  const { text, line } = withBadRow(
    rng,
    format,
    (rows) => {
      // A prompt of exactly the limit is fine: only the one over it is refused.
      if (rows[0]?.kind === 'imagine') rows[0].prompt = `${'z'.repeat(3990)} exactly 4k`.slice(0, 4000);
      return { id: 'bad-1', prompt, actions: 'U1' };
    },
    { pretty: true },
  );
  return {
    what: `a ${prompt.length}-character prompt (${format})`,
    format,
    bytes: utf8(text),
    line,
    expect: new RegExp(`^prompt: is ${prompt.length} characters long; the limit is 4000$`),
  };
};

// [plan, what the error says]: each plan is refused on an imagine row's grid.
const BAD_PLANS: [string, string][] = [
  ['U5', 'unknown follow-up "U5"'],
  ['upscale_subtle', 'is a button of a single image'],
  ['U1>U2', 'is a button of a grid'],
  ['U1,,U2', 'empty step'],
  ['U1>vary_region', 'needs a mask image'],
  ['U1>zoom_custom', 'zoom factor from 1 to 2'],
  ['U2>zoom_custom=2.5', 'zoom factor from 1 to 2'],
  ['U1>zoom_custom=1.5=2', 'zoom factor from 1 to 2'],
  ['U1=2', 'takes no value'],
  ['U1>upscale_subtle>pan_left', 'not offered after an HD upscale'],
  ['U3>upscale_creative>zoom_custom=1.2', 'not offered after an HD upscale'],
  ['U1>', 'unknown follow-up ""'],
  ['zoom_2x', 'is a button of a single image'],
  ['all>U1', 'unknown follow-up "all"'],
  ['U1;U2', 'unknown follow-up "U1;U2"'],
];

const badPlan: Make = (rng, n) => {
  const format = rng.pick(['csv', 'json', 'jsonl'] as const);
  // One case in 16: a good plan on a describe row, which makes no grid to press buttons on.
  if (n % (BAD_PLANS.length + 1) === BAD_PLANS.length) {
    const { text, line } = withBadRow(
      rng,
      format,
      { id: 'bad-1', kind: 'describe', images: [image(9, 1)], actions: 'U1' },
      { pretty: true },
    );
    return {
      what: `a plan on a describe row (${format})`,
      format,
      bytes: utf8(text),
      line,
      expect: /^actions: describe rows make no grid/,
    };
  }
  const [plan, message] = nth(BAD_PLANS, n % (BAD_PLANS.length + 1));
  const { text, line } = withBadRow(rng, format, { id: 'bad-1', prompt: 'a chair', actions: plan }, { pretty: true, blankLines: true });
  return { what: `plan "${plan}" (${format})`, format, bytes: utf8(text), line, expect: new RegExp(`^actions: .*${escapeRe(message)}`) };
};

/** Random bytes that are not text: at least one control character; no line break, quote or comma (they would move the damage). */
function junk(rng: Rng, length: number): Buffer {
  const control = () => rng.pick([0x00, 0x01, 0x02, 0x07, 0x08, 0x0b, 0x0c, 0x0e, 0x1a, 0x1b, 0x1f, 0x7f]);
  const any = () => (rng.chance(0.5) ? control() : rng.int(0x80, 0xff));
  return Buffer.from([control(), ...Array.from({ length: length - 1 }, any)]);
}

const MAGIC: Record<string, number[]> = {
  png: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52],
  gzip: [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03],
  zip: [0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00],
  jpeg: [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00],
};
const JUNK = '@@JUNK@@';

const binaryJunk: Make = (rng, n) => {
  const variant = nth(['junk-in-prompt', 'junk-line', 'binary-file'] as const, n);
  const format = nth(['csv', 'json', 'jsonl'] as const, Math.floor(n / 3));
  if (variant === 'binary-file') {
    const kind = nth(Object.keys(MAGIC), Math.floor(n / 3));
    const bytes = Buffer.concat([Buffer.from(MAGIC[kind]!), Buffer.from(Array.from({ length: rng.int(50, 2000) }, () => rng.int(0, 255)))]);
    return {
      what: `a ${kind} file named .${format}`,
      format,
      bytes,
      line: 1,
      laterLinesToo: true,
      expect: /not a CSV header|is not text|not valid JSON at column \d+: .*(control character|not UTF-8|"[A-Z]")/,
    };
  }
  // The junk goes in as a placeholder, replaced by raw bytes once the text is encoded.
  const item: Item = variant === 'junk-line' ? { raw: JUNK } : { id: 'bad-1', prompt: `a chair ${JUNK} studio light`, actions: 'U1' };
  const { text, line } = withBadRow(rng, format, item, { blankLines: true });
  const [before, after] = text.split(JUNK) as [string, string];
  const bytes = Buffer.concat([utf8(before), junk(rng, rng.int(4, 64)), utf8(after)]);
  return { what: `${variant} (${format})`, format, bytes, line, expect: /control character|not UTF-8|binary data/ };
};

const bom: Make = (rng, n) => {
  const variant = nth(['utf8-bom', 'utf8-bom-crlf', 'utf16-bom', 'bom-mid-file'] as const, n);
  const format = nth(['csv', 'json', 'jsonl'] as const, Math.floor(n / 4));
  const defect = rng.pick(FIELD_DEFECTS);
  if (variant === 'utf16-bom') {
    const { text } = withBadRow(rng, format, validRow(rng, 99));
    const le = rng.chance(0.5);
    const body = Buffer.from(text, 'utf16le');
    if (!le) body.swap16();
    return {
      what: `UTF-16 ${le ? 'LE' : 'BE'} with its BOM (${format})`,
      format,
      bytes: Buffer.concat([Buffer.from(le ? [0xff, 0xfe] : [0xfe, 0xff]), body]),
      line: 1,
      expect: /^\(file\): the file is UTF-16 text/,
    };
  }
  if (variant === 'bom-mid-file') {
    // Files joined together: a BOM at the start of a later line. Harmless in a CSV cell (trimmed), an error in JSON.
    if (format === 'csv') {
      const { text, lineOf, at } = withBadRow(rng, format, defect.row);
      const lines = text.split('\n');
      const other = lineOf.find((l, i) => i !== at && l > 1)!;
      lines[other - 1] = `\ufeff${lines[other - 1]}`;
      return {
        what: `a BOM on line ${other}, and ${defect.what} (csv)`,
        format,
        bytes: utf8(lines.join('\n')),
        line: lineOf[at]!,
        expect: defect.expect,
      };
    }
    const valid = withBadRow(rng, format, validRow(rng, 99));
    // Not line 1: a BOM there is the file's own, and welcome.
    const target = rng.pick(valid.lineOf.filter((l) => l > 1));
    const jsonLines = valid.text.split('\n');
    jsonLines[target - 1] = `\ufeff${jsonLines[target - 1]}`;
    return {
      what: `a BOM on line ${target} (${format})`,
      format,
      bytes: utf8(jsonLines.join('\n')),
      line: target,
      expect: /not valid JSON at column 1: .*U\+FEFF \(a byte order mark/,
    };
  }
  const crlf = variant === 'utf8-bom-crlf';
  const { text, line } = withBadRow(rng, format, defect.row, { eol: () => (crlf ? '\r\n' : '\n'), pretty: true, blankLines: true });
  return {
    what: `a UTF-8 BOM${crlf ? ', CRLF' : ''} and ${defect.what} (${format})`,
    format,
    bytes: utf8(`\ufeff${text}`),
    line,
    expect: defect.expect,
  };
};

const lineEndings: Make = (rng, n) => {
  const format = nth(['csv', 'json', 'jsonl'] as const, n);
  const eol = () => rng.pick(['\n', '\r\n', '\r']);
  // A JSON syntax error, or a row-level defect.
  if (format !== 'csv' && n % 2 === 0) {
    const { text, line } = withBadRow(rng, format, { raw: '{"id":"bad-1","prompt":"a chair" "actions":"U1"}' }, { eol, blankLines: true });
    return {
      what: `mixed line endings and a missing comma (${format})`,
      format,
      bytes: utf8(text),
      line,
      expect: /not valid JSON at column \d+: expected "," or "}" after this value/,
    };
  }
  const defect = rng.pick(FIELD_DEFECTS);
  const { text, line } = withBadRow(
    rng,
    format,
    (rows, at) => {
      // A CSV cell may span lines: a CRLF inside quotes once counted as two lines and shifted every row after it.
      if (format === 'csv' && at > 0) rows[0]!.sku = `line one\r\nline two${rng.pick(['\r\n', '\n', '\r'])}line three`;
      return defect.row;
    },
    { eol, pretty: true, blankLines: true },
  );
  return { what: `mixed line endings and ${defect.what} (${format})`, format, bytes: utf8(text), line, expect: defect.expect };
};

const duplicates: Make = (rng, n) => {
  const variant = nth(['duplicate-id', 'identical-rows', 'shared-output-folder'] as const, n);
  const format = rng.pick(['csv', 'json', 'jsonl'] as const);
  let first = 0;
  // The later of the two rows is the one refused, and its message names the earlier one's line.
  const { text, line, lineOf } = withBadRow(
    rng,
    format,
    (rows, at): Row => {
      first = rng.int(0, at - 1);
      const target = rows[first]!;
      if (variant === 'duplicate-id') return { id: target.id!, prompt: 'a different chair', actions: 'U2' };
      if (variant === 'identical-rows') {
        delete target.id;
        return { ...target };
      }
      target.output = 'catalog/{sku}';
      return { id: 'bad-1', prompt: 'another chair', sku: target.sku!, output: 'catalog/{sku}' };
    },
    { pretty: true, blankLines: true, minAt: 1 },
  );
  const firstLine = lineOf[first]!;
  const expect = {
    'duplicate-id': new RegExp(`^id: duplicate id "row-\\d+" \\(first used on line ${firstLine}\\)$`),
    'identical-rows': new RegExp(`^\\(row\\): identical to the row on line ${firstLine}; give both an id`),
    'shared-output-folder': new RegExp(`^output: puts the row in the folder "catalog/SKU-\\d+", as line ${firstLine} does`),
  }[variant];
  return { what: `${variant} (${format})`, format, bytes: utf8(text), line, expect };
};

const EMPTY: { text: string; format: Format }[] = [
  { text: '', format: 'csv' },
  { text: '', format: 'json' },
  { text: '', format: 'jsonl' },
  { text: '\n\n\n', format: 'csv' },
  { text: '  \t\n   \n', format: 'jsonl' },
  { text: '\r\n\r\n', format: 'json' },
  { text: '\r\r', format: 'csv' },
  { text: '\ufeff', format: 'csv' },
  { text: '\ufeff\n\n', format: 'jsonl' },
  { text: '\ufeff', format: 'json' },
  { text: `${COLUMNS.join(',')}\n`, format: 'csv' },
  { text: `${COLUMNS.join(',')}\r\n\r\n\n`, format: 'csv' },
  { text: `\ufeff${COLUMNS.join(',')}`, format: 'csv' },
  { text: '[]', format: 'json' },
  { text: '[\n]\n', format: 'json' },
  { text: '\ufeff[ ]\r\n', format: 'json' },
  { text: '\n\n\n', format: 'jsonl' },
];

const empty: Make = (_rng, n) => {
  const { text, format } = nth(EMPTY, n);
  return {
    what: `${JSON.stringify(text).replace(/\ufeff/g, '\\ufeff')} (${format})`,
    format,
    bytes: utf8(text),
    line: 1,
    expect: /^\(file\): (the manifest is empty|the manifest has a header but no rows|the manifest is an empty JSON array: it has no rows)$/,
  };
};

const MAKERS: Record<Category, Make> = {
  'bad-quotes': badQuotes,
  columns,
  'wrong-types': wrongTypes,
  'long-prompt': longPrompt,
  'bad-plan': badPlan,
  'binary-junk': binaryJunk,
  bom,
  'line-endings': lineEndings,
  duplicates,
  empty,
};

function generateCases(): BadCase[] {
  const rng = new Rng(SEED);
  return CATEGORIES.flatMap((category) =>
    Array.from({ length: CASES_PER_CATEGORY }, (_, n) => ({ name: `${category}-${n + 1}`, category, ...MAKERS[category](rng, n) })),
  );
}

// ---------------------------------------------------------------------------------------------------------------

const CASES = generateCases();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mj-batch-fuzz-'));
// A tag per run in every file name, so the default batch ids (<name>-<sha256 prefix>) are new to the Temporal server.
const runTag = randomUUID().slice(0, 8);
const fileOf = (c: BadCase) => path.join(dir, `fuzz-${runTag}-${c.name}.${c.format}`);
const defaultBatchId = (c: BadCase) => `fuzz-${runTag}-${c.name}-${createHash('sha256').update(c.bytes).digest('hex').slice(0, 10)}`;
for (const c of CASES) fs.writeFileSync(fileOf(c), c.bytes);

let p: Pipeline;

beforeAll(async () => {
  p = await startPipeline({ speed: 50 });
});
afterAll(async () => {
  await p?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The manifest with its line numbers, as an editor shows them (for failure messages). */
function numbered(c: BadCase): string {
  return c.bytes
    .toString('utf8')
    .split(/\r\n|\r|\n/)
    .slice(0, 40)
    .map((l, i) => `  ${String(i + 1).padStart(3)} ${JSON.stringify(l.length > 140 ? `${l.slice(0, 140)}…` : l)}`)
    .join('\n');
}

/** The bad line is named first (everything before it is valid), and nothing else is blamed unless the file is junk. */
function expectIssuesAt(c: BadCase, issues: RowIssue[]): void {
  const context = `${c.name} (${c.what}) must name line ${c.line} (${c.expect}):\n${numbered(c)}\ngot:\n${issues.map((i) => `  line ${i.line}, ${i.field}: ${i.message.slice(0, 300)}`).join('\n')}`;
  const lines = [...new Set(issues.map((i) => i.line))];
  expect({ context, firstLine: lines[0] }).toEqual({ context, firstLine: c.line });
  if (!c.laterLinesToo) expect({ context, lines }).toEqual({ context, lines: [c.line] });
  const said = issues.filter((i) => i.line === c.line).map((i) => `${i.field}: ${i.message}`);
  expect({ context, saysWhatIsWrong: said.some((s) => c.expect.test(s)) }).toEqual({ context, saysWhatIsWrong: true });
}

/** Specific, one line, readable: not a stack trace, "undefined", "[object Object]", or the junk it complains about. */
function expectClear(issue: RowIssue): void {
  const text = `${issue.field}: ${issue.message}`;
  expect(Number.isInteger(issue.line) && issue.line >= 1).toBe(true);
  expect(issue.field).toMatch(/^(\(file\)|\(row\)|\(column \d+\)|[A-Za-z][\w.-]*)$/);
  expect(issue.message.trim().length).toBeGreaterThan(0);
  expect(text).not.toMatch(/undefined|\[object Object\]|NaN|TypeError|\bat .*:\d+:\d+/);
  expect(text).not.toMatch(/[\u0000-\u001f\u007f\ufffd]/);
}

test('the generator covers every category evenly, in every format', () => {
  expect(CASES).toHaveLength(200);
  for (const category of CATEGORIES) expect(CASES.filter((c) => c.category === category)).toHaveLength(CASES_PER_CATEGORY);
  for (const format of ['csv', 'json', 'jsonl'] as const) expect(CASES.filter((c) => c.format === format).length).toBeGreaterThan(40);
  // Different damage, not 20 copies of one case.
  for (const category of CATEGORIES)
    expect(new Set(CASES.filter((c) => c.category === category).map((c) => c.what.replace(/\d+/g, ''))).size).toBeGreaterThanOrEqual(3);
});

describe('run refuses each malformed manifest before submitting anything (in-process, as `mj-batch run` calls it)', () => {
  test.each(CASES.map((c) => [c.name, c.what, c] as const))('%s: %s', async (_name, _what, c) => {
    const outcome = await prepareBatch(fileOf(c), p.s3, p.config.s3.bucket, p.taskQueue, defaultOptions()).then(
      () => new Error('prepareBatch accepted a malformed manifest'),
      (err: unknown) => err,
    );
    // Any other error (a TypeError from the parser, a plain Error) is a crash, not a validation result.
    expect(outcome).toBeInstanceOf(InvalidManifestError);
    const { manifest } = outcome as InvalidManifestError;
    expect((outcome as Error).message).toMatch(/invalid row\(s\); nothing was submitted$/);
    expect(manifest.rows.length).toBeLessThanOrEqual(manifest.recordCount);
    manifest.issues.forEach(expectClear);
    expectIssuesAt(c, manifest.issues);
  });
});

// One per category, and two more of the kinds most likely to break a parser; half in text, half with --json.
const CLI_SAMPLE = [
  ...CATEGORIES.map((category) => CASES.find((c) => c.category === category)!),
  CASES.filter((c) => c.category === 'binary-junk')[1]!,
  CASES.filter((c) => c.category === 'bad-quotes')[1]!,
];

test('the built CLI: exit 1, the line in its output, no stack trace (12 manifests, each in its own process)', async () => {
  expect(CLI_SAMPLE).toHaveLength(12);
  // Any job it did submit would go to this file's simulator, whose ledger is checked below.
  const env = { ...p.cliEnv, MJ_BASE_URL: p.sim.url, MJ_API_KEY: p.sim.options.apiKey };
  const runs = [];
  for (let i = 0; i < CLI_SAMPLE.length; i += 4) {
    runs.push(
      ...(await Promise.all(
        CLI_SAMPLE.slice(i, i + 4).map(async (c, j) => {
          const json = (i + j) % 2 === 0;
          return { c, json, run: await runCli(['run', fileOf(c), ...(json ? ['--json'] : [])], { env }) };
        }),
      )),
    );
  }
  for (const { c, json, run } of runs) {
    const context = `${c.name} (${c.what}), --json ${json}:\nstdout: ${run.stdout.slice(0, 2000)}\nstderr: ${run.stderr.slice(0, 2000)}`;
    expect({ context, code: run.code }).toEqual({ context, code: EXIT.invalid });
    expect(run.stderr).not.toMatch(/^\s+at .+\(.*:\d+:\d+\)$|Unhandled|TypeError|ReferenceError|RangeError/m);
    if (json) {
      const out = JSON.parse(run.stdout) as { error: string; errors: RowIssue[] };
      expect(out.error).toBe(`${fileOf(c)}: ${out.errors.length} invalid row(s); nothing was submitted`);
      out.errors.forEach(expectClear);
      expectIssuesAt(c, out.errors);
    } else {
      expect(run.stderr).toMatch(new RegExp(`^mj-batch: ${escapeRe(fileOf(c))}: \\d+ invalid row\\(s\\); nothing was submitted$`, 'm'));
      const lines = [...run.stderr.matchAll(/^ {2}line (\d+), ([^:]+): (.*)$/gm)].map((m) => ({
        line: Number(m[1]),
        field: m[2]!,
        message: m[3]!,
      }));
      lines.forEach(expectClear);
      expectIssuesAt(c, lines);
    }
  }
});

test('no batch was started for any of them, and the simulator received no submission', async () => {
  for (const c of CASES) {
    await expect(p.client.workflow.getHandle(defaultBatchId(c)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  }
  const started = await p.client.workflow.count(`TaskQueue = '${p.taskQueue}'`);
  expect(started.count).toBe(0);

  expect(p.ledger()).toEqual([]);
  const stats = (await (await fetch(`${p.sim.url}/_sim/stats`)).json()) as {
    acceptedPaidJobs: number;
    byAction: Record<string, number>;
    requests: { byEndpoint: Record<string, number> };
  };
  expect(stats.acceptedPaidJobs).toBe(0);
  expect(stats.byAction).toEqual({});
  expect(Object.keys(stats.requests.byEndpoint).filter((endpoint) => endpoint.includes('/submit/'))).toEqual([]);
});
