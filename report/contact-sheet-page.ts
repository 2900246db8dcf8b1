// A page of the contact sheet: its rows' cards, with previous/next/index links when the sheet has pages.
import { modeMismatch } from '../contracts/rows';
import type { ResultLine } from './results';
import {
  classSummary,
  countSpans,
  dataScript,
  escape,
  filterForm,
  FILTER_SCRIPT,
  head,
  relative,
  type Counts,
  type SheetData,
} from './contact-sheet-html';

/** One row: its thumbnails with its prompt, id and status; a failed row with its class and reason. */
export function rowCard(outputPrefix: string, l: ResultLine): string {
  const thumbs = l.images
    .map((img) => {
      const thumb = img.thumbnails[0] ?? img.key;
      return `<a href="${escape(relative(outputPrefix, img.key))}" title="${escape(img.role)}"><img src="${escape(relative(outputPrefix, thumb))}" alt="${escape(`${l.key} ${img.role}`)}" loading="lazy"></a>`;
    })
    .join('');
  const ok = l.status === 'SUCCESS' || l.status === 'SKIPPED';
  return `<article class="row ${ok ? 'ok' : 'failed'}" data-status="${escape(l.status)}" data-class="${escape(l.failureClass)}" data-key="${escape(l.key)}">
  <header><span class="id">${escape(l.input.id || l.key)}</span> <span class="status">${escape(l.status)}</span></header>
  <div class="thumbs">${thumbs || '<span class="none">no image</span>'}</div>
  <p class="prompt">${escape(l.input.prompt || l.text.split('\n')[0] || `(${l.input.kind})`)}</p>
  ${ok ? '' : `<p class="reason">${escape(l.failureClass ? `${l.failureClass}: ` : '')}${escape(l.reason)}</p>`}
  ${modeMismatch(l) ? `<p class="reason mode">asked ${escape(l.modeRequested)} mode, ran ${escape(l.modeRan)}</p>` : ''}
</article>`;
}

/** Where a page sits in the sheet; absent for a sheet of one page (index.html with every row). */
export interface PagePlace {
  /** From 1. */
  page: number;
  pages: number;
  /** The rows it holds, from 1, of `total`. */
  first: number;
  last: number;
  total: number;
  prev?: string;
  next?: string;
}

function pager(place: PagePlace): string {
  return `<nav class="pager">${place.prev ? `<a data-nav="prev" rel="prev" href="${escape(place.prev)}">← previous</a>` : ''}
<a data-index href="index.html">index</a> <span class="where">page ${place.page} of ${place.pages}</span>
${place.next ? `<a data-nav="next" rel="next" href="${escape(place.next)}">next →</a>` : ''}</nav>`;
}

export interface SheetPageInput {
  title: string;
  outputPrefix: string;
  /** This page's rows. */
  lines: ResultLine[];
  /** The whole report's counts, for the filter's choices. */
  statuses: Counts;
  classes: Counts;
  data: SheetData;
  place?: PagePlace;
}

/** A file of cards: a page of a long sheet, or index.html itself when every row fits on one page. */
export function sheetPage(input: SheetPageInput): string {
  const { lines, place } = input;
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l.status, (counts.get(l.status) ?? 0) + 1);
  const span = place ? ` (${place.first}–${place.last} of ${place.total})` : '';
  const title = place ? `${input.title}, page ${place.page} of ${place.pages}` : input.title;
  return `${head(title)}
<body data-page="${place?.page ?? 0}">${place ? `\n${pager(place)}` : ''}
<h1>${escape(title)}</h1>
<p class="summary">${lines.length} rows${span}: ${countSpans([...counts])}</p>
${place ? '' : `${classSummary(input.classes)}\n`}${filterForm(input.statuses, input.classes)}
<main class="grid">
${lines.map((l) => rowCard(input.outputPrefix, l)).join('\n')}
</main>${place ? `\n${pager(place)}` : ''}
${dataScript(input.data)}
${FILTER_SCRIPT}
</body></html>
`;
}
