// The contact sheet: every row's thumbnails with its prompt, id and status, in pages a browser can open.
//
// A report of at most `pageRows` rows is one file, index.html, with every row. A longer one is split into pages
// (sheet-0001.html, ...: keys in contracts/bucket-layout.ts) beside index.html, which becomes their index: the counts
// by status and failure class, a link to each page with what it holds, and the filter. Every link is relative, so
// the sheet works served from the bucket and from disk (`mj-batch report --download`).
import { sheetPageFileName } from '../contracts/bucket-layout';
import type { Counts, SheetData } from './contact-sheet-html';
import { sheetIndex } from './contact-sheet-index';
import { sheetPage } from './contact-sheet-page';
import type { ResultLine } from './results';

/** Rows per page of the contact sheet. */
export const CONTACT_SHEET_PAGE_ROWS = 500;

/** How many page files a sheet of `rows` rows has: none when every row fits in index.html. */
export function contactSheetPageCount(rows: number, pageRows = CONTACT_SHEET_PAGE_ROWS): number {
  return rows > pageRows ? Math.ceil(rows / pageRows) : 0;
}

export interface ContactSheet {
  /** Page files, numbered from 1 (0: index.html holds every row). */
  pageCount: number;
  /** index.html. */
  index(): string;
  /** Page `n` (from 1), made when asked, so a long sheet is never in memory at once. */
  page(n: number): string;
}

function countBy(lines: ResultLine[], of: (l: ResultLine) => string): Counts {
  const counts = new Map<string, number>();
  for (const l of lines) {
    const name = of(l);
    if (name) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts];
}

export function contactSheet(title: string, outputPrefix: string, lines: ResultLine[], options: { pageRows?: number } = {}): ContactSheet {
  const pageRows = options.pageRows ?? CONTACT_SHEET_PAGE_ROWS;
  if (!Number.isInteger(pageRows) || pageRows < 1) throw new Error(`pageRows must be a whole number from 1, not ${pageRows}`);
  const pageCount = contactSheetPageCount(lines.length, pageRows);
  const statuses = countBy(lines, (l) => l.status);
  const classes = countBy(lines, (l) => l.failureClass);
  const pageLines = (n: number) => lines.slice((n - 1) * pageRows, n * pageRows);
  const data: SheetData = {
    pages: Array.from({ length: pageCount }, (_, i) => {
      const combos = new Map<string, [string, string, number]>();
      for (const l of pageLines(i + 1)) {
        const id = JSON.stringify([l.status, l.failureClass]);
        const c = combos.get(id) ?? [l.status, l.failureClass, 0];
        c[2]++;
        combos.set(id, c);
      }
      return { file: sheetPageFileName(i + 1), combos: [...combos.values()] };
    }),
  };
  const common = { title, outputPrefix, statuses, classes, data };
  return {
    pageCount,
    index() {
      if (pageCount === 0) return sheetPage({ ...common, lines });
      const pages = Array.from({ length: pageCount }, (_, i) => {
        const rows = pageLines(i + 1);
        const first = rows[0]!;
        const last = rows[rows.length - 1]!;
        return {
          file: sheetPageFileName(i + 1),
          first: i * pageRows + 1,
          last: i * pageRows + rows.length,
          firstId: first.input.id || first.key,
          lastId: last.input.id || last.key,
          statuses: countBy(rows, (l) => l.status),
        };
      });
      return sheetIndex({ title, total: lines.length, statuses, classes, pages, data });
    },
    page(n) {
      if (!Number.isInteger(n) || n < 1 || n > pageCount) throw new Error(`the contact sheet has no page ${n} (it has ${pageCount})`);
      const rows = pageLines(n);
      return sheetPage({
        ...common,
        lines: rows,
        place: {
          page: n,
          pages: pageCount,
          first: (n - 1) * pageRows + 1,
          last: (n - 1) * pageRows + rows.length,
          total: lines.length,
          prev: n > 1 ? sheetPageFileName(n - 1) : undefined,
          next: n < pageCount ? sheetPageFileName(n + 1) : undefined,
        },
      });
    },
  };
}
