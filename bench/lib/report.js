/**
 * Tables (Markdown, printed as they are on the terminal too) and the SVG chart, written by hand:
 * no chart dependency.
 */

/** Thousands separators, no decimals. */
export const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
/** Milliseconds as autocannon reports them (1 ms resolution). */
export const ms = (n) => (Number.isFinite(n) ? `${Math.round(n).toLocaleString('en-US')} ms` : 'n/a');
export const mib = (bytes) => (Number.isFinite(bytes) ? `${(bytes / 1048576).toFixed(1)} MiB` : 'n/a');
export const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');
export const fixed = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

/**
 * @param {string[]} head
 * @param {(string|number)[][]} rows
 * @param {('l'|'r')[]} [align] per column; numbers right by default
 */
export function mdTable(head, rows, align) {
  const a = align ?? head.map((_, i) => (i === 0 ? 'l' : 'r'));
  const cells = [head, ...rows].map((r) => r.map((c) => String(c).replaceAll('|', '\\|')));
  const width = head.map((_, i) => Math.max(3, ...cells.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => (a[i] === 'r' ? c.padStart(width[i]) : c.padEnd(width[i]))).join(' | ')} |`;
  const rule = `|${width.map((w, i) => (a[i] === 'r' ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/**
 * Horizontal bars of req/s, one per proxy, ours highlighted.
 * @param {{ title: string, subtitle: string, bars: { label: string, value: number, note?: string, ours?: boolean }[] }} o
 */
export function barChart(o) {
  const W = 860;
  const left = 380;
  const right = 150;
  const top = 70;
  const barH = 24;
  const gap = 10;
  const H = top + o.bars.length * (barH + gap) + 40;
  const max = Math.max(...o.bars.map((b) => b.value), 1);
  const step = niceStep(max / 5);
  const scale = (v) => ((W - left - right) * v) / (Math.ceil(max / step) * step);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" role="img" aria-labelledby="t d">`,
    `<title id="t">${esc(o.title)}</title>`,
    `<desc id="d">${esc(o.bars.map((b) => `${b.label}: ${int(b.value)} req/s`).join('; '))}</desc>`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="20" y="30" font-size="18" font-weight="600" fill="#1b1f24">${esc(o.title)}</text>`,
    `<text x="20" y="52" font-size="12" fill="#57606a">${esc(o.subtitle)}</text>`,
  ];
  for (let v = 0; v <= Math.ceil(max / step) * step; v += step) {
    const x = left + scale(v);
    parts.push(`<line x1="${x.toFixed(1)}" y1="${top - 6}" x2="${x.toFixed(1)}" y2="${H - 34}" stroke="#d0d7de" stroke-width="1"/>`);
    parts.push(`<text x="${x.toFixed(1)}" y="${H - 18}" font-size="11" fill="#57606a" text-anchor="middle">${int(v)}</text>`);
  }
  o.bars.forEach((b, i) => {
    const y = top + i * (barH + gap);
    const w = Math.max(1, scale(b.value));
    const fill = b.ours ? '#d9480f' : '#8c959f';
    const weight = b.ours ? '600' : '400';
    parts.push(`<text x="${left - 10}" y="${y + barH / 2 + 4}" font-size="12.5" font-weight="${weight}" fill="#1b1f24" text-anchor="end">${esc(b.label)}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" rx="3" fill="${fill}"/>`);
    parts.push(`<text x="${(left + w + 6).toFixed(1)}" y="${y + barH / 2 + 4}" font-size="12" font-weight="${weight}" fill="#1b1f24">${esc(`${int(b.value)}${b.note ? ` · ${b.note}` : ''}`)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
