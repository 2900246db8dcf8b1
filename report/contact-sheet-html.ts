// The pieces every contact sheet file shares: escaping, links, the style, the counts, the filter and its script.
// The sheet is plain HTML with a little inline JS and no external resource, so it works from S3 and from disk.
import { normalisePrefix } from '../contracts/bucket-layout';

export const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * A link from a sheet file (stored at `<outputPrefix>/index.html` or `<outputPrefix>/sheet-0001.html`, ...) to an
 * object under the same prefix: relative, URL-encoded per path segment.
 */
export function relative(outputPrefix: string, key: string): string {
  const base = `${normalisePrefix(outputPrefix)}/`;
  return (key.startsWith(base) ? key.slice(base.length) : key).split('/').map(encodeURIComponent).join('/');
}

/** Counts in first-seen order. */
export type Counts = [name: string, count: number][];

/** What the filter script knows of each page: its file and how many rows it holds per (status, failure class). */
export interface SheetData {
  pages: { file: string; combos: [status: string, failureClass: string, count: number][] }[];
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}
h1{font-size:20px;margin:0 0 4px}.summary,.classes{color:#555;margin:0 0 8px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px}
.row{background:#fff;border:1px solid #ddd;border-radius:8px;padding:10px}.row.failed{border-color:#d33;background:#fff6f6}
.row header{display:flex;justify-content:space-between;font-weight:600}.status{font-size:12px;padding:1px 6px;border-radius:4px;background:#e6f4ea}
.failed .status{background:#fbe3e3;color:#a11}.thumbs{display:flex;flex-wrap:wrap;gap:4px;margin:8px 0}
.thumbs img{width:120px;height:120px;object-fit:cover;border-radius:4px;background:#eee}.prompt{margin:0;color:#333}.reason{margin:6px 0 0;color:#a11}
.filter{margin:0 0 16px;display:flex;flex-wrap:wrap;gap:12px;align-items:center}.filter output{color:#555}
.pager{display:flex;gap:16px;margin:0 0 12px}main+.pager{margin:16px 0 0}
.pages{border-collapse:collapse;background:#fff}.pages th,.pages td{border:1px solid #ddd;padding:4px 8px;text-align:left}
[hidden]{display:none!important}`;

export function head(title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
${STYLE}
</style></head>`;
}

/** `480 SUCCESS, 20 FAILED`, each count in a span the tests and scripts can read. */
export function countSpans(counts: Counts, attr = 'data-count'): string {
  return counts.map(([name, n]) => `<span ${attr}="${escape(name)}">${n} ${escape(name)}</span>`).join(', ');
}

/** The failure classes of the rows (failed rows without a class are counted by status only). */
export function classSummary(classes: Counts): string {
  return `<p class="classes">failure classes: ${classes.length ? countSpans(classes, 'data-class-count') : 'none'}</p>`;
}

/**
 * The filter by status and failure class. Its state lives in the URL's fragment (`#status=FAILED&class=banned`),
 * never sent to a server, so it works from S3 and from disk, and links between the sheet's files carry it.
 */
export function filterForm(statuses: Counts, classes: Counts): string {
  const options = (all: string, counts: Counts) =>
    [
      `<option value="">${all}</option>`,
      ...counts.map(([name, n]) => `<option value="${escape(name)}">${escape(name)} (${n})</option>`),
    ].join('');
  return `<form class="filter" id="filter">
<label>status <select id="f-status" name="status">${options('all statuses', statuses)}</select></label>
<label>failure class <select id="f-class" name="class">${options('all failure classes', classes)}</select></label>
<output id="f-shown"></output>
</form>`;
}

/** The data the script reads, as JSON that cannot end its script element (every `<` is escaped). */
export function dataScript(data: SheetData): string {
  return `<script type="application/json" id="sheet-data">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>`;
}

/**
 * The filter script, the same in every file. It hides the rows of this page that do not match; on the index it
 * hides the pages holding none and shows how many each holds; previous/next go to the nearest page that holds a
 * match; every link to another sheet file keeps the filter.
 */
export const FILTER_SCRIPT = `<script>
(function () {
  var data = JSON.parse(document.getElementById('sheet-data').textContent);
  var byStatus = document.getElementById('f-status'), byClass = document.getElementById('f-class');
  var shown = document.getElementById('f-shown');
  var here = Number(document.body.getAttribute('data-page') || 0);
  function current() {
    var q = new URLSearchParams(location.hash.slice(1));
    return { status: q.get('status') || '', cls: q.get('class') || '' };
  }
  function fragment(f) {
    var q = new URLSearchParams();
    if (f.status) q.set('status', f.status);
    if (f.cls) q.set('class', f.cls);
    var s = q.toString();
    return s ? '#' + s : '';
  }
  function matches(f, status, cls) {
    return (!f.status || status === f.status) && (!f.cls || cls === f.cls);
  }
  function hits(page, f) {
    var n = 0;
    page.combos.forEach(function (c) { if (matches(f, c[0], c[1])) n += c[2]; });
    return n;
  }
  function apply() {
    var f = current(), active = !!(f.status || f.cls), frag = fragment(f);
    byStatus.value = f.status;
    byClass.value = f.cls;
    var rows = document.querySelectorAll('article.row'), onPage = 0;
    rows.forEach(function (a) {
      var ok = matches(f, a.getAttribute('data-status'), a.getAttribute('data-class'));
      a.hidden = !ok;
      if (ok) onPage++;
    });
    var pages = 0, total = 0;
    document.querySelectorAll('tr[data-page]').forEach(function (tr) {
      var page = data.pages[Number(tr.getAttribute('data-page')) - 1], n = hits(page, f);
      tr.hidden = active && n === 0;
      tr.querySelector('.hits').textContent = active ? String(n) : '';
      tr.querySelector('a').setAttribute('href', page.file + frag);
      if (n > 0) { pages++; total += n; }
    });
    document.querySelectorAll('a[data-nav]').forEach(function (a) {
      var step = a.getAttribute('data-nav') === 'next' ? 1 : -1, i = here - 1 + step;
      while (active && i >= 0 && i < data.pages.length && hits(data.pages[i], f) === 0) i += step;
      var page = data.pages[i];
      a.hidden = !page;
      if (page) a.setAttribute('href', page.file + frag);
    });
    document.querySelectorAll('a[data-index]').forEach(function (a) { a.setAttribute('href', 'index.html' + frag); });
    if (!active) shown.textContent = '';
    else if (rows.length || !data.pages.length) shown.textContent = onPage + ' of ' + rows.length + ' rows here match';
    else shown.textContent = total + ' rows match, on ' + pages + ' of ' + data.pages.length + ' pages';
  }
  function change() {
    var frag = fragment({ status: byStatus.value, cls: byClass.value });
    if (frag !== location.hash) location.hash = frag;
    apply();
  }
  byStatus.addEventListener('change', change);
  byClass.addEventListener('change', change);
  document.getElementById('filter').addEventListener('submit', function (e) { e.preventDefault(); });
  window.addEventListener('hashchange', apply);
  apply();
})();
</script>`;
