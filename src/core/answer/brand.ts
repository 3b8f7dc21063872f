/**
 * Brand validation, at setup. Brand values end up inside CSS and attributes of a page served
 * during an outage, so each one is held to a shape that cannot break out of its context, and a
 * wrong value fails when the app starts, naming the option.
 */
import type { Brand } from '../types.js';
import { checkKeys, checkObject, fail } from '../validate.js';

type Colors = NonNullable<Brand['colors']>;

const BRAND_KEYS = ['name', 'logo', 'colors', 'statusPage', 'support', 'home', 'footer'] as const;
const COLOR_KEYS = ['accent', 'background', 'text', 'darkAccent', 'darkBackground', 'darkText'] as const;

/**
 * CSS colours that can never leave a declaration: #hex, rgb()/hsl() with only digits, %, dots,
 * commas, spaces and `/` inside, or a named colour (letters only). No `;`, `}`, quotes or nested
 * parentheses, so `red;}body{...` or `url(...)` are rejected.
 */
const CSS_COLOR =
  /^(?:#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})|(?:rgba?|hsla?)\([0-9.%,/ ]+(?:deg)?[0-9.%,/ ]*\)|[a-z]{3,30})$/i;

// Anything a browser strips or reinterprets in a URL (leading controls, whitespace, backslashes)
// is how `javascript:` sneaks past naive scheme checks; refuse it outright.
const UNSAFE_URL_CHARS = /[\u0000-\u0020\u007f-\u009f\\<>"'`]/;
const SCHEME = /^([a-z][a-z0-9+.-]*):/i;
const BARE_EMAIL = /^[^\s@/:]+@[^\s@/:]+\.[^\s@/:]+$/;

const MAX_TEXT = 500;
const MAX_INLINE_LOGO = 64 * 1024;

function text(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_TEXT) {
    fail(name, `a non-empty string of at most ${MAX_TEXT} characters`, value);
  }
  return value;
}

function color(value: unknown, name: string): string {
  if (typeof value !== 'string' || !CSS_COLOR.test(value.trim())) {
    fail(name, 'a CSS colour such as #1a73e8, rgb(26, 115, 232), hsl(217 80% 51%) or rebeccapurple', value);
  }
  return value.trim();
}

/** A link: http(s) URL, a relative path, or (for support) a mailto: address. */
function link(value: unknown, name: string, allowMailto: boolean): string {
  const expected = allowMailto
    ? 'an http(s) URL, a mailto: address or a relative path'
    : 'an http(s) URL or a relative path';
  if (typeof value !== 'string' || value === '' || UNSAFE_URL_CHARS.test(value)) fail(name, expected, value);
  if (allowMailto && BARE_EMAIL.test(value)) return `mailto:${value}`;
  const scheme = SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined) return value;
  if (scheme === 'http' || scheme === 'https') {
    try {
      return new URL(value).href;
    } catch {
      fail(name, expected, value);
    }
  }
  if (scheme === 'mailto' && allowMailto) return value;
  return fail(name, expected, value);
}

/**
 * A logo becomes something safe for `<img src>`: an http(s) URL, a relative path, a
 * `data:image/...` URL, or an inline `<svg>` turned into a base64 data URL. An SVG shown through
 * `<img>` is inert (no script, no external loads), which raw inline markup would not be.
 */
function logo(value: unknown, name: string): string {
  const expected = 'an http(s) URL, a relative path, a data:image/... URL or an inline <svg> string';
  if (typeof value !== 'string' || value.trim() === '') fail(name, expected, value);
  const trimmed = value.trim();
  if (/^<svg[\s>]/i.test(trimmed)) {
    if (!/<\/svg>$/i.test(trimmed)) fail(name, 'an inline <svg> string ending in </svg>', value);
    if (trimmed.length > MAX_INLINE_LOGO) fail(name, `an inline <svg> of at most ${MAX_INLINE_LOGO / 1024} KB`, value);
    // An SVG document loaded as an image renders only with its namespace declared.
    const svg = /^<svg[^>]*\sxmlns\s*=/i.test(trimmed)
      ? trimmed
      : trimmed.replace(/^<svg/i, '<svg xmlns="http://www.w3.org/2000/svg"');
    return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
  }
  if (/^data:/i.test(trimmed)) {
    if (!/^data:image\/[a-z0-9.+-]+(?:;[a-z0-9=.+-]+)*,[^\s"'<>`\\]*$/i.test(trimmed)) fail(name, expected, value);
    return trimmed;
  }
  return link(trimmed, name, false);
}

/**
 * Validate and normalize the `brand` option. Returns a frozen copy in which `logo` is always a
 * value safe for `<img src>` and `support` always a URL. Throws a TypeError naming the option.
 */
export function validateBrand(brand: unknown, option = 'brand'): Brand {
  if (brand === undefined) return Object.freeze({});
  const input = checkObject(option, brand);
  checkKeys(option, input, BRAND_KEYS);

  const out: Brand = {};
  if (input.name !== undefined) out.name = text(input.name, `${option}.name`);
  if (input.footer !== undefined) out.footer = text(input.footer, `${option}.footer`);
  if (input.logo !== undefined) out.logo = logo(input.logo, `${option}.logo`);
  if (input.statusPage !== undefined) out.statusPage = link(input.statusPage, `${option}.statusPage`, false);
  if (input.support !== undefined) out.support = link(input.support, `${option}.support`, true);
  if (input.home !== undefined) out.home = link(input.home, `${option}.home`, false);
  if (input.colors !== undefined) {
    const colors = checkObject(`${option}.colors`, input.colors);
    checkKeys(`${option}.colors`, colors, COLOR_KEYS);
    const checked: Colors = {};
    for (const key of COLOR_KEYS) {
      const value = colors[key];
      if (value !== undefined) checked[key] = color(value, `${option}.colors.${key}`);
    }
    out.colors = Object.freeze(checked);
  }
  return Object.freeze(out);
}

/**
 * The `img-src` sources a brand's logo needs, for the Content-Security-Policy. Data URLs are
 * always allowed (the inline-SVG logo and the page's own art use them).
 */
export function logoSources(brand: Brand): string[] {
  const sources = ['data:'];
  const src = brand.logo;
  if (src === undefined || /^data:/i.test(src)) return sources;
  if (/^https?:/i.test(src)) sources.push(new URL(src).origin);
  else sources.push("'self'");
  return sources;
}
