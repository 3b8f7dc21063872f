import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { validateBrand } from '../../src/core/answer/brand.js';
import { BUILTIN_LOCALES, type Messages } from '../../src/core/answer/i18n.js';
import { createRenderer, TEMPLATE_NAMES } from '../../src/core/answer/render.js';
import type { ErrorView, GatewayStatus } from '../../src/core/types.js';

const en = BUILTIN_LOCALES.en!;

function view(status: GatewayStatus, extra: Partial<ErrorView> = {}, t: Messages = en): ErrorView {
  return {
    status,
    title: t.statuses[`${status}`].title,
    detail: t.statuses[`${status}`].detail,
    requestId: 'req-123',
    time: '2025-06-03T14:05:09.000Z',
    brand: {},
    method: 'GET',
    idempotent: true,
    lang: t.lang,
    ...extra,
  };
}

const dirs: string[] = [];
function templatesDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ge-tpl-'));
  dirs.push(dir);
  for (const [name, source] of Object.entries(files)) writeFileSync(path.join(dir, name), source);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const sha = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;
const inline = (html: string, tag: 'style' | 'script') =>
  [...html.matchAll(new RegExp(`<${tag}\\b[^>]*>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]!);

describe('built-in page', () => {
  const renderer = createRenderer();

  it.each([502, 503, 504] as const)('renders %i with lang, one h1, the status words and the reference', (status) => {
    const { html } = renderer.page(view(status), en);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<html lang="en">');
    expect(html.match(/<h1>/g)).toHaveLength(1);
    expect(html).toContain(`<h1>${en.statuses[`${status}`].headline}</h1>`);
    expect(html).toContain(en.statuses[`${status}`].detail);
    expect(html).toContain(en.notYourFault);
    expect(html).toContain('<code>req-123</code>');
    expect(html).toContain('datetime="2025-06-03T14:05:09.000Z"');
  });

  it.each([502, 503, 504] as const)('keeps the %i page well under 20 KB', (status) => {
    const { html } = renderer.page(view(status, { retryAfter: 30 }), en);
    expect(Buffer.byteLength(html)).toBeLessThan(12 * 1024);
  });

  it('says when to retry and refreshes itself after an idempotent GET with Retry-After', () => {
    const { html, csp } = renderer.page(view(503, { retryAfter: 30 }), en);
    // Without script the meta refresh reloads; with script the countdown does, and can be stopped.
    expect(html).toContain('<noscript><meta http-equiv="refresh" content="30"></noscript>');
    expect(html).toContain(`<noscript><p>${en.autoRefresh}</p></noscript>`);
    expect(html).toContain(`<button type="button">${en.stopReload}</button>`);
    expect(html).toContain('Try again in 30 seconds.');
    expect(html).toContain('data-countdown="30"');
    expect(csp).toMatch(/script-src 'sha256-/);
  });

  it('speaks in minutes for long waits and never refreshes in a tight loop', () => {
    expect(renderer.page(view(503, { retryAfter: 600 }), en).html).toContain('Try again in about 10 minutes.');
    const now = renderer.page(view(503, { retryAfter: 0 }), en).html;
    expect(now).toContain(en.retryNow);
    expect(now).toContain('<meta http-equiv="refresh" content="5">');
    expect(now).toContain('data-countdown="5"');
  });

  it('does not refresh after a PUT: a reload would not repeat it', () => {
    const { html, csp } = renderer.page(view(503, { retryAfter: 30, method: 'PUT' }), en);
    expect(html).toContain('Try again in 30 seconds.');
    expect(html).not.toContain('http-equiv="refresh"');
    expect(html).not.toContain('<script');
    expect(csp).toContain("script-src 'none'");
  });

  it('warns that a non-idempotent request may have gone through, and neither refreshes nor offers a retry', () => {
    const { html } = renderer.page(view(503, { retryAfter: 30, method: 'POST', idempotent: false }), en);
    expect(html).toContain(en.mayHaveGoneThrough);
    expect(html).toContain(`<strong>${en.warning}</strong>`);
    expect(html).not.toContain('http-equiv="refresh"');
    expect(html).not.toContain(en.retryIn.replace('{seconds}', '30'));
    expect(html).not.toContain(`>${en.reload}</a>`);
  });

  it('shows upstream details only when the view carries them (expose: true)', () => {
    expect(renderer.page(view(502, { proxyStatus: 'connection_refused' }), en).html).not.toContain('connection_refused');
    const exposed = renderer.page(
      view(502, { proxyStatus: 'connection_refused', upstream: { code: 'ECONNREFUSED', message: 'connect <b>x' } }),
      en,
    ).html;
    expect(exposed).toContain('ECONNREFUSED');
    expect(exposed).toContain('connect &lt;b&gt;x');
  });

  it('renders other languages with their own lang attribute', () => {
    const ja = BUILTIN_LOCALES.ja!;
    const { html } = renderer.page(view(504, {}, ja), ja);
    expect(html).toContain('<html lang="ja">');
    expect(html).toContain(ja.statuses['504'].headline);
  });
});

describe('escaping', () => {
  it('escapes a hostile request id, brand name, footer and upstream message', () => {
    const evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>';
    const renderer = createRenderer({ brand: { name: evil, footer: evil } });
    const { html } = renderer.page(view(502, { requestId: evil, upstream: { message: evil } }), en);
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('renders an inline SVG logo as an inert data: image, never as markup', () => {
    const renderer = createRenderer({ brand: { logo: '<svg viewBox="0 0 1 1"><script>alert(1)</script></svg>' } });
    const { html, csp } = renderer.page(view(502), en);
    expect(html).toMatch(/<img src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+" alt=""/);
    expect(html).not.toContain('alert(1)');
    expect(csp).toContain('img-src data:;');
  });

  it('allows the origin of a URL logo in img-src', () => {
    const renderer = createRenderer({ brand: { logo: 'https://cdn.acme.test/logo.png' } });
    expect(renderer.page(view(502), en).csp).toContain('img-src data: https://cdn.acme.test;');
  });
});

describe('Content-Security-Policy', () => {
  it.each([
    ['plain', view(502)],
    ['with countdown script', view(503, { retryAfter: 20 })],
  ])('hashes exactly the inline style and script of the page (%s)', (_name, v) => {
    const { html, csp } = createRenderer({ brand: { colors: { accent: '#ff6600', darkAccent: 'hsl(20 100% 70%)' } } }).page(v, en);
    const styles = inline(html, 'style');
    expect(styles.length).toBeGreaterThan(0);
    const styleSrc = /style-src ([^;]+);/.exec(csp)![1]!;
    expect(styleSrc.split(' ').sort()).toEqual([...new Set(styles.map(sha))].sort());
    const scripts = inline(html, 'script');
    const scriptSrc = /script-src ([^;]+);/.exec(csp)![1]!;
    expect(scriptSrc).toBe(scripts.length ? [...new Set(scripts.map(sha))].join(' ') : "'none'");
    expect(csp).toMatch(/^default-src 'none'; /);
    expect(csp).toContain("base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  });

  it('puts brand colours into the hashed style', () => {
    const { html } = createRenderer({ brand: { colors: { accent: '#ff6600' } } }).page(view(502), en);
    expect(inline(html, 'style')[0]).toContain('--accent:#ff6600');
  });

  it('hashes a user layout style, CRLF line endings included', () => {
    const dir = templatesDir({ 'layout.eta': '<!doctype html>\r\n<style>\r\nbody{color:red}\r\n</style>\r\n<%~ it.body %>' });
    const { html, csp } = createRenderer({ templates: dir }).page(view(502), en);
    expect(html).not.toContain('\r');
    expect(csp).toContain(`style-src ${sha('\nbody{color:red}\n')};`);
  });

  it('computes each distinct policy once, not per request', () => {
    const update = vi.spyOn(createHash('sha256').constructor.prototype, 'update');
    const renderer = createRenderer();
    renderer.page(view(502, { requestId: 'a' }), en);
    const first = update.mock.calls.length;
    renderer.page(view(502, { requestId: 'b' }), en);
    renderer.page(view(502, { requestId: 'c' }), en);
    expect(first).toBeGreaterThan(0);
    expect(update.mock.calls.length).toBe(first);
    update.mockRestore();
  });
});

describe('template overrides', () => {
  it('uses a per-status file for that status only', () => {
    const dir = templatesDir({ '503.eta': '<% layout("@layout") %><h1>Custom 503 for <%= it.brandName %></h1>' });
    const renderer = createRenderer({ templates: dir });
    const page503 = renderer.page(view(503), en).html;
    expect(page503).toContain('<h1>Custom 503 for This site</h1>');
    expect(page503).toContain('<html lang="en">'); // still framed by the built-in layout
    expect(renderer.page(view(502), en).html).toContain(`<h1>${en.statuses['502'].headline}</h1>`);
  });

  it('uses error.eta for every status, and a per-status file wins over it', () => {
    const dir = templatesDir({ 'error.eta': 'ALL <%= it.status %>', '504.eta': 'ONLY 504' });
    const renderer = createRenderer({ templates: dir });
    expect(renderer.page(view(502), en).html).toBe('ALL 502');
    expect(renderer.page(view(503), en).html).toBe('ALL 503');
    expect(renderer.page(view(504), en).html).toBe('ONLY 504');
  });

  it('frames the built-in content with a user layout', () => {
    const dir = templatesDir({ 'layout.eta': '<!doctype html><html lang="<%= it.lang %>"><body class="acme"><%~ it.body %></body></html>' });
    const { html, csp } = createRenderer({ templates: dir }).page(view(502), en);
    expect(html).toMatch(/^<!doctype html><html lang="en"><body class="acme">/);
    expect(html).toContain(`<h1>${en.statuses['502'].headline}</h1>`);
    expect(csp).toContain("style-src 'none'");
  });

  it('overrides a partial and keeps the rest built-in', () => {
    const dir = templatesDir({ 'footer.eta': '<footer>Acme footer <%= it.requestId %></footer>' });
    const { html } = createRenderer({ templates: dir }).page(view(502), en);
    expect(html).toContain('<footer>Acme footer req-123</footer>');
    expect(html).toContain('<svg class="art"'); // built-in illustration still there
    expect(html).not.toContain(en.referenceHint);
  });

  it('registers extra partials from the directory', () => {
    const dir = templatesDir({ 'error.eta': '[<%~ include("@promo") %>]', 'promo.eta': 'promo <%= it.status %>' });
    expect(createRenderer({ templates: dir }).page(view(503), en).html).toBe('[promo 503]');
  });

  it('falls back to the built-in page for everything an empty directory lacks', () => {
    const dir = templatesDir({ 'notes.txt': 'not a template' });
    const builtIn = createRenderer().page(view(502), en);
    expect(createRenderer({ templates: dir }).page(view(502), en)).toEqual(builtIn);
  });
});

describe('start-up errors', () => {
  it('throws naming the path of a missing templates directory', () => {
    const missing = path.join(tmpdir(), 'ge-does-not-exist-xyz');
    expect(() => createRenderer({ templates: missing })).toThrow(missing);
  });

  it('throws naming the file of a template syntax error', () => {
    const dir = templatesDir({ '503.eta': '<h1><%= it.title </h1>' });
    expect(() => createRenderer({ templates: dir })).toThrow(path.join(dir, '503.eta'));
  });

  it('throws a TypeError naming a bad brand option', () => {
    expect(() => createRenderer({ brand: { colors: { accent: 'red;}body{display:none' } } })).toThrow(
      /`brand\.colors\.accent`/,
    );
  });
});

describe('render-time failures', () => {
  it('answers with the plain fallback page when a template throws, and reports the error', () => {
    const onTemplateError = vi.fn();
    const dir = templatesDir({ '503.eta': '<p><%= it.nope.deep %></p>' });
    const renderer = createRenderer({ templates: dir, onTemplateError });
    const { html, csp } = renderer.page(view(503, { requestId: '<x>' }), en);
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('<h1>503 Service unavailable</h1>');
    expect(html).toContain('<code>&lt;x&gt;</code>');
    expect(csp).toContain("style-src 'none'; script-src 'none'");
    expect(onTemplateError).toHaveBeenCalledOnce();
    expect(onTemplateError.mock.calls[0]![0]).toBeInstanceOf(TypeError);
  });

  it('cannot read files: including a path fails into the fallback page', () => {
    const onTemplateError = vi.fn();
    const dir = templatesDir({ '502.eta': '<%~ include("/etc/passwd") %><%~ include("../../package.json") %>' });
    const { html } = createRenderer({ templates: dir, onTemplateError }).page(view(502), en);
    expect(html).not.toContain('root:');
    expect(html).toContain('<h1>502 Bad gateway</h1>');
    expect(onTemplateError).toHaveBeenCalledOnce();
  });

  it('survives an onTemplateError hook that throws', () => {
    const dir = templatesDir({ '502.eta': '<%= it.nope.deep %>' });
    const renderer = createRenderer({ templates: dir, onTemplateError: () => { throw new Error('hook'); } });
    expect(renderer.page(view(502), en).html).toContain('502 Bad gateway');
  });

  it('survives malformed messages', () => {
    const renderer = createRenderer({ onTemplateError: () => {} });
    const { html } = renderer.page(view(502), {} as Messages);
    expect(html).toContain('<h1>502 Bad gateway</h1>');
  });
});

describe('validateBrand', () => {
  it('accepts the documented shapes and normalizes logo and support', () => {
    const brand = validateBrand({
      name: 'Acme',
      logo: '<svg viewBox="0 0 10 10"><rect width="10" height="10"/></svg>',
      colors: { accent: '#1a73e8', background: 'rgb(255, 255, 255)', text: 'hsl(220 20% 10%)', darkAccent: 'rebeccapurple' },
      statusPage: 'https://status.acme.test/',
      support: 'help@acme.test',
      home: '/',
      footer: '© Acme',
    });
    expect(brand.logo).toMatch(/^data:image\/svg\+xml;base64,/);
    expect(Buffer.from(brand.logo!.split(',')[1]!, 'base64').toString()).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(brand.support).toBe('mailto:help@acme.test');
    expect(validateBrand(brand)).toEqual(brand); // idempotent: callers may validate twice
  });

  it.each([
    [{ colors: { accent: 'red;}body{x:y' } }, 'brand.colors.accent'],
    [{ colors: { background: 'url(https://evil.test/x)' } }, 'brand.colors.background'],
    [{ colors: { text: 'rgb(1,2,3));x' } }, 'brand.colors.text'],
    [{ colors: { accnt: '#fff' } }, 'brand.colors.accnt'],
    [{ statusPage: 'javascript:alert(1)' }, 'brand.statusPage'],
    [{ statusPage: ' javascript:alert(1)' }, 'brand.statusPage'],
    [{ home: 'data:text/html,<script>' }, 'brand.home'],
    [{ support: 'mailto:x@y.test', home: 'mailto:x@y.test' }, 'brand.home'],
    [{ logo: '<img src=x onerror=alert(1)>' }, 'brand.logo'],
    [{ logo: 'data:text/html;base64,PHNjcmlwdD4=' }, 'brand.logo'],
    [{ logo: 'javascript:alert(1)' }, 'brand.logo'],
    [{ name: 42 }, 'brand.name'],
    [{ nmae: 'Acme' }, 'brand.nmae'],
    ['Acme', 'brand'],
  ])('rejects %j naming %s', (brand, name) => {
    expect(() => validateBrand(brand)).toThrow(TypeError);
    expect(() => validateBrand(brand)).toThrow(`\`${name}\``);
  });
});

describe('TEMPLATE_NAMES', () => {
  const builtin = readdirSync(path.join(import.meta.dirname, '../../templates'))
    .filter((f) => f.endsWith('.eta'))
    .map((f) => f.slice(0, -'.eta'.length));

  it.each(builtin)('lists the built-in template %s, so a templates directory may override it', (name) => {
    expect(TEMPLATE_NAMES).toContain(name);
  });

  it('lists, beyond the built-ins, exactly the per-status pages and the maintenance page', () => {
    expect(TEMPLATE_NAMES.filter((n) => !builtin.includes(n)).sort()).toEqual(['429', '500', '502', '503', '504', 'maintenance']);
  });
});
