// index.html of a contact sheet with pages: the counts, the filter, and a link to every page with what it holds.
import {
  classSummary,
  countSpans,
  dataScript,
  escape,
  filterForm,
  FILTER_SCRIPT,
  head,
  type Counts,
  type SheetData,
} from './contact-sheet-html';

/** What the index says of one page. */
export interface PageEntry {
  file: string;
  /** Its rows, from 1. */
  first: number;
  last: number;
  /** The ids (or keys) of its first and last rows, to find a row by id. */
  firstId: string;
  lastId: string;
  statuses: Counts;
}

export interface SheetIndexInput {
  title: string;
  total: number;
  statuses: Counts;
  classes: Counts;
  pages: PageEntry[];
  data: SheetData;
}

export function sheetIndex(input: SheetIndexInput): string {
  const rows = input.pages
    .map(
      (p, i) =>
        `<tr data-page="${i + 1}"><td><a href="${escape(p.file)}">page ${i + 1}</a></td><td>${p.first}–${p.last}</td>` +
        `<td class="ids">${escape(p.firstId)} … ${escape(p.lastId)}</td><td>${countSpans(p.statuses, 'data-page-count')}</td><td class="hits"></td></tr>`,
    )
    .join('\n');
  return `${head(input.title)}
<body data-page="0">
<h1>${escape(input.title)}</h1>
<p class="summary">${input.total} rows: ${countSpans(input.statuses)}</p>
${classSummary(input.classes)}
${filterForm(input.statuses, input.classes)}
<table class="pages">
<thead><tr><th>page</th><th>rows</th><th>ids</th><th>statuses</th><th>matching</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
${dataScript(input.data)}
${FILTER_SCRIPT}
</body></html>
`;
}
