import { normalisePrefix } from '../contracts/bucket-layout';
import { modeMismatch } from '../contracts/rows';
import type { ResultLine } from './results';

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A link from the sheet (stored at `<outputPrefix>/index.html`) to an object under the same prefix. */
function relative(outputPrefix: string, key: string): string {
  const base = `${normalisePrefix(outputPrefix)}/`;
  return (key.startsWith(base) ? key.slice(base.length) : key).split('/').map(encodeURIComponent).join('/');
}

/** The contact sheet: every row's thumbnails with its prompt, id and status; failed rows with their reason. */
export function contactSheet(title: string, outputPrefix: string, lines: ResultLine[]): string {
  const counts = lines.reduce<Record<string, number>>((acc, l) => ((acc[l.status] = (acc[l.status] ?? 0) + 1), acc), {});
  const cards = lines
    .map((l) => {
      const thumbs = l.images
        .map((img) => {
          const thumb = img.thumbnails[0] ?? img.key;
          return `<a href="${escape(relative(outputPrefix, img.key))}" title="${escape(img.role)}"><img src="${escape(relative(outputPrefix, thumb))}" alt="${escape(`${l.key} ${img.role}`)}" loading="lazy"></a>`;
        })
        .join('');
      const ok = l.status === 'SUCCESS' || l.status === 'SKIPPED';
      return `<article class="row ${ok ? 'ok' : 'failed'}" data-status="${escape(l.status)}" data-key="${escape(l.key)}">
  <header><span class="id">${escape(l.input.id || l.key)}</span> <span class="status">${escape(l.status)}</span></header>
  <div class="thumbs">${thumbs || '<span class="none">no image</span>'}</div>
  <p class="prompt">${escape(l.input.prompt || l.text.split('\n')[0] || `(${l.input.kind})`)}</p>
  ${ok ? '' : `<p class="reason">${escape(l.failureClass ? `${l.failureClass}: ` : '')}${escape(l.reason)}</p>`}
  ${modeMismatch(l) ? `<p class="reason mode">asked ${escape(l.modeRequested)} mode, ran ${escape(l.modeRan)}</p>` : ''}
</article>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}
h1{font-size:20px;margin:0 0 4px}.summary{color:#555;margin:0 0 16px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px}
.row{background:#fff;border:1px solid #ddd;border-radius:8px;padding:10px}.row.failed{border-color:#d33;background:#fff6f6}
.row header{display:flex;justify-content:space-between;font-weight:600}.status{font-size:12px;padding:1px 6px;border-radius:4px;background:#e6f4ea}
.failed .status{background:#fbe3e3;color:#a11}.thumbs{display:flex;flex-wrap:wrap;gap:4px;margin:8px 0}
.thumbs img{width:120px;height:120px;object-fit:cover;border-radius:4px;background:#eee}.prompt{margin:0;color:#333}.reason{margin:6px 0 0;color:#a11}
</style></head>
<body><h1>${escape(title)}</h1>
<p class="summary">${lines.length} rows: ${Object.entries(counts)
    .map(([s, n]) => `<span data-count="${escape(s)}">${n} ${escape(s)}</span>`)
    .join(', ')}</p>
<main class="grid">
${cards}
</main></body></html>
`;
}
