/**
 * The HTML error page: eta setup, template lookup and overrides, and the Content-Security-Policy
 * the page satisfies (the view model the templates get is in view-model.ts).
 *
 * Every template is read and compiled once, at setup, and registered under a name (`@503`,
 * `@layout`, ...). Rendering never touches the file system: eta's core build has no file
 * loader, so a template can include only what was registered, never a path.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta/core';
import { logoSources, validateBrand } from './brand.js';
import { LANG_TAG, type Messages } from './i18n.js';
import { viewModel } from './view-model.js';
import type { Brand, ErrorView } from '../types.js';

export type { TemplateData } from './view-model.js';

export interface RendererOptions {
  /** Directory of `.eta` overrides; what it lacks falls back to the built-in templates. */
  templates?: string;
  /** Brand for every page. When absent, each view's own `brand` is used. */
  brand?: Brand;
  /**
   * Called when a template throws while rendering (the page then falls back to a plain built-in
   * one). Without it, the first such error is reported once with `process.emitWarning`.
   */
  onTemplateError?: (error: unknown) => void;
}

export interface RenderedPage {
  html: string;
  /** The Content-Security-Policy header value this exact page satisfies. */
  csp: string;
}

export interface Renderer {
  /** Never throws: a template error during an outage answers with a plain built-in fallback page. */
  page(view: ErrorView, messages: Messages): RenderedPage;
}

/** Built-in templates, next to src/ and dist/ alike. */
const BUILTIN_DIR = fileURLToPath(new URL('../../../templates/', import.meta.url));

/** Names a templates directory may override (other `.eta` files register as extra partials). */
export const TEMPLATE_NAMES = ['layout', 'error', '502', '503', '504', '429', '500', 'maintenance', 'illustration', 'actions', 'footer', 'diagnosis'] as const;

const STYLE_RE = /<style\b[^>]*>([\s\S]*?)<\/style\s*>/gi;
const SCRIPT_RE = /<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi;
const CSP_CACHE_LIMIT = 64;

function sha256(content: string): string {
  return `'sha256-${createHash('sha256').update(content, 'utf8').digest('base64')}'`;
}

/** Read every `*.eta` file of a directory, named by file name without the extension. */
function readTemplates(dir: string, role: string): Map<string, { source: string; file: string }> {
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    entries = readdirSync(dir);
  } catch (cause) {
    throw new Error(`gateway-errors: cannot read the ${role} directory ${dir}: ${(cause as Error).message}`, { cause });
  }
  const found = new Map<string, { source: string; file: string }>();
  for (const entry of entries.sort()) {
    if (!entry.endsWith('.eta')) continue;
    const file = path.join(dir, entry);
    try {
      if (!statSync(file).isFile()) continue;
      found.set(entry.slice(0, -'.eta'.length), { source: readFileSync(file, 'utf8'), file });
    } catch (cause) {
      throw new Error(`gateway-errors: cannot read template ${file}: ${(cause as Error).message}`, { cause });
    }
  }
  return found;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const FALLBACK_CSP =
  "default-src 'none'; img-src 'none'; style-src 'none'; script-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The page of last resort: no template, no style, every value escaped, every lookup guarded.
 * It must work even when the messages or the view are malformed.
 */
function fallbackPage(view: ErrorView, messages: Messages | undefined): RenderedPage {
  try {
    const status = Number(view.status);
    const words = messages?.statuses?.[String(status) as keyof Messages['statuses']];
    const title = view.title || words?.title || 'Error';
    const detail = view.detail || words?.detail || '';
    const lang = LANG_TAG.test(view.lang) ? view.lang : 'en';
    const html =
      `<!doctype html>\n<html lang="${escapeHtml(lang)}">\n<head>\n<meta charset="utf-8">\n` +
      `<meta name="viewport" content="width=device-width, initial-scale=1">\n<meta name="robots" content="noindex">\n` +
      `<title>${escapeHtml(status)} ${escapeHtml(title)}</title>\n</head>\n<body>\n` +
      `<h1>${escapeHtml(status)} ${escapeHtml(title)}</h1>\n<p>${escapeHtml(detail)}</p>\n` +
      `<p>${escapeHtml(messages?.reference ?? 'Reference')}: <code>${escapeHtml(view.requestId)}</code></p>\n` +
      `</body>\n</html>\n`;
    return { html, csp: FALLBACK_CSP };
  } catch {
    return {
      html: '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n<h1>Error</h1>\n<p>The service is not available right now. Please try again later.</p>\n</body>\n</html>\n',
      csp: FALLBACK_CSP,
    };
  }
}

/**
 * Compile every template once, at setup. Throws (an Error naming the path) for a missing or
 * unreadable templates directory or a template syntax error, so a wrong override fails when the
 * app starts rather than at the first outage.
 */
export function createRenderer(options: RendererOptions = {}): Renderer {
  const fixedBrand = options.brand === undefined ? undefined : validateBrand(options.brand);
  const eta = new Eta({ autoEscape: true, cache: true, useWith: false });

  const builtin = readTemplates(BUILTIN_DIR, 'built-in templates');
  const overrides =
    options.templates === undefined ? new Map() : readTemplates(path.resolve(options.templates), 'templates');
  for (const [name, { source, file }] of [...builtin, ...overrides]) {
    try {
      eta.loadTemplate(`@${name}`, source);
    } catch (cause) {
      throw new Error(`gateway-errors: template syntax error in ${file}: ${(cause as Error).message}`, { cause });
    }
  }
  // Per-status file wins over error.eta; a user's error.eta wins over built-in per-status files.
  // A maintenance page is a 503 unless the directory has a maintenance.eta of its own.
  const entryFor = (view: ErrorView): string => {
    if (view.maintenance && overrides.has('maintenance')) return '@maintenance';
    const own = `${view.status}`;
    if (overrides.has(own)) return `@${own}`;
    if (overrides.has('error')) return '@error';
    return builtin.has(own) ? `@${own}` : '@error';
  };

  // Brands arriving with views (no fixed brand) are validated once per object.
  const viewBrands = new WeakMap<object, Brand>();
  const brandFor = (view: ErrorView): Brand => {
    if (fixedBrand) return fixedBrand;
    const raw = view.brand;
    if (raw === undefined || raw === null || typeof raw !== 'object') return validateBrand(undefined);
    let brand = viewBrands.get(raw);
    if (!brand) {
      brand = validateBrand(raw);
      viewBrands.set(raw, brand);
    }
    return brand;
  };

  // The policy depends only on the inline style/script text and the logo origin, which rarely
  // change between requests: hash once per distinct content.
  const cspCache = new Map<string, string>();
  const cspFor = (html: string, brand: Brand): string => {
    const styles = [...html.matchAll(STYLE_RE)].map((m) => m[1] ?? '');
    // External scripts (with src) are not allowed at all; only inline ones get hashes.
    const scripts = [...html.matchAll(SCRIPT_RE)].filter((m) => !/\bsrc\s*=/i.test(m[1] ?? '')).map((m) => m[2] ?? '');
    const img = logoSources(brand).join(' ');
    // Consecutive pages nearly always carry the same inline code: compare before building a key.
    if (last !== undefined && last.img === img && sameList(last.styles, styles) && sameList(last.scripts, scripts)) return last.csp;
    const key = `${img}\u0000${styles.join('\u0001')}\u0000${scripts.join('\u0001')}`;
    let csp = cspCache.get(key);
    if (csp === undefined) {
      const list = (items: string[]): string => (items.length ? [...new Set(items.map(sha256))].join(' ') : "'none'");
      csp =
        `default-src 'none'; img-src ${img}; style-src ${list(styles)}; script-src ${list(scripts)}; ` +
        `base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
      if (cspCache.size >= CSP_CACHE_LIMIT) cspCache.delete(cspCache.keys().next().value!);
      cspCache.set(key, csp);
    }
    last = { img, styles, scripts, csp };
    return csp;
  };
  let last: { img: string; styles: string[]; scripts: string[]; csp: string } | undefined;

  let warned = false;
  const report = (error: unknown): void => {
    if (options.onTemplateError) {
      try {
        options.onTemplateError(error);
      } catch {
        // A failing hook must not turn an error page into a crash.
      }
    } else if (!warned) {
      warned = true;
      process.emitWarning(`gateway-errors: a template failed, the plain fallback page was sent: ${String(error)}`);
    }
  };

  return {
    page(view: ErrorView, messages: Messages): RenderedPage {
      try {
        const brand = brandFor(view);
        const rendered = eta.render(entryFor(view), viewModel(view, messages, brand));
        // Browsers normalize CRLF before hashing inline content; so do we, so hashes always match.
        const html = rendered.includes('\r') ? rendered.replace(/\r\n?/g, '\n') : rendered;
        return { html, csp: cspFor(html, brand) };
      } catch (error) {
        report(error);
        return fallbackPage(view, messages);
      }
    },
  };
}
