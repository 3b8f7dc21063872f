import { describe, expect, it } from 'vitest';
import { negotiateFormat, negotiateLanguage } from '../../src/core/answer/negotiate.js';
import type { BodyFormat } from '../../src/core/types.js';

const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

describe('negotiateFormat', () => {
  it.each<[string, unknown, BodyFormat]>([
    // Clients that do not care get plain text (curl, health checks).
    ['a missing header', undefined, 'text'],
    ['an empty header', '', 'text'],
    ['only */* (curl)', '*/*', 'text'],
    ['*/* with a q-value', '*/*;q=0.5', 'text'],
    // Browsers get the page.
    ['a browser', BROWSER, 'html'],
    ['text/html', 'text/html', 'html'],
    ['TEXT/HTML in capitals', 'TEXT/HTML', 'html'],
    ['text/html among others', 'image/png, text/html', 'html'],
    ['text/html before */*', 'text/html, */*', 'html'],
    ['*/* before text/html (specificity wins a tie)', '*/*, text/html', 'html'],
    // JSON clients get problem+json.
    ['application/problem+json', 'application/problem+json', 'json'],
    ['application/json', 'application/json', 'json'],
    ['application/json with a charset', 'application/json; charset=utf-8', 'json'],
    ['text/html with a charset', 'text/html;charset=UTF-8', 'html'],
    ['html only in a charset we do not send', 'text/html; charset=iso-8859-1', 'text'],
    ['application/*', 'application/*', 'json'],
    ['a vendor +json type', 'application/vnd.api+json', 'json'],
    ['a +json type with parameters', 'application/vnd.api+json; ext="https://jsonapi.org/ext/atomic"', 'json'],
    ['a +JSON type in capitals', 'application/HAL+JSON', 'json'],
    ['an axios-style header', 'application/json, text/plain, */*', 'json'],
    // Plain text on request.
    ['text/plain', 'text/plain', 'text'],
    ['text/*', 'text/*', 'text'],
    // q-values are respected.
    ['text/html at q=0.1 beside */*', 'text/html;q=0.1, */*', 'text'],
    ['json preferred over html by q', 'text/html;q=0.5, application/json', 'json'],
    ['html preferred over json by q', 'text/html, application/json;q=0.5', 'html'],
    ['the earlier of two equal q-values', 'application/json, text/html', 'json'],
    ['a +json type preferred over html by q', 'text/html;q=0.8, application/vnd.api+json', 'json'],
    ['html preferred over a +json type by q', 'text/html, application/vnd.api+json;q=0.8', 'html'],
    ['a +json type refused with q=0', 'application/vnd.api+json;q=0, text/html', 'html'],
    ['text/plain refused, other types welcome', '*/*, text/plain;q=0', 'html'],
    ['html refused in favour of anything', 'text/html;q=0, */*', 'text'],
    // Nothing acceptable: still text, never a 406.
    ['only images', 'image/png', 'text'],
    ['only XML', 'application/xml', 'text'],
    ['everything refused', '*/*;q=0', 'text'],
    ['html refused and nothing else offered', 'text/html;q=0', 'text'],
    ['garbage', 'garbage', 'text'],
    ['only commas', ',,,', 'text'],
    ['an unterminated quoted parameter', 'text/html;x="', 'html'],
    ['an invalid q-value', 'text/html;q=abc', 'text'],
    // Header shapes.
    ['an array of one', ['text/html'], 'html'],
    ['an array of several', ['image/png', 'application/json'], 'json'],
    ['an array with non-strings', [42, 'text/html'], 'html'],
    ['an empty array', [], 'text'],
    ['a number', 42, 'text'],
    ['null', null, 'text'],
    ['an object', { accept: 'text/html' }, 'text'],
  ])('answers %s with %s', (_name, accept, expected) => {
    expect(negotiateFormat(accept)).toBe(expected);
  });

  describe('huge headers', () => {
    it('ignores what lies past 4096 characters', () => {
      const filler = 'image/x-filler,'.repeat(300); // 4500 characters
      expect(filler.length).toBeGreaterThan(4096);
      expect(negotiateFormat(`${filler}text/html`)).toBe('text');
      expect(negotiateFormat(`text/html,${filler}`)).toBe('html');
    });

    it('cuts at a comma, so no range is read half-way', () => {
      // A cut at exactly 4096 would keep "text/html" and lose its ";q=0.001", turning a
      // reluctant html into a preferred one. Cutting at the comma drops the range whole.
      const head = `*/*;q=0.5,,${'x/y,'.repeat(1019)}`;
      const header = `${head}text/html;q=0.001,x/y`;
      expect(head.length + 'text/html'.length).toBe(4096);
      expect(negotiateFormat(header)).toBe('text');
    });

    it('keeps a range that ends exactly at the limit', () => {
      const head = 'x/y,'.repeat(1021); // 4084 characters
      const header = `${head}text/html,${'x/y,'.repeat(100)}`;
      expect(header.indexOf(',', head.length)).toBeLessThanOrEqual(4096);
      expect(negotiateFormat(header)).toBe('html');
    });

    it('gives text for one enormous range without commas', () => {
      expect(negotiateFormat(`text/html;x=${'a'.repeat(10_000)}`)).toBe('text');
    });

    it('stays bounded for a megabyte header', () => {
      expect(negotiateFormat('application/json;q=0.5,'.repeat(50_000))).toBe('json');
    });

    it('bounds a huge array of header values too', () => {
      const values = Array.from({ length: 10_000 }, () => 'image/png');
      values.push('text/html');
      expect(negotiateFormat(values)).toBe('text');
    });
  });

  it('never throws on a hostile array', () => {
    const { proxy, revoke } = Proxy.revocable([], {});
    revoke();
    expect(negotiateFormat(proxy)).toBe('text');
  });
});

describe('negotiateLanguage', () => {
  const AVAILABLE = ['en', 'es', 'fr', 'de-CH'] as const;

  it.each<[string, unknown, string]>([
    ['a missing header (the default)', undefined, 'en'],
    ['an empty header (the default)', '', 'en'],
    ['*', '*', 'en'],
    ['an exact match', 'fr', 'fr'],
    ['a region matched to its language', 'es-MX', 'es'],
    ['a region in other capitals', 'ES-mx', 'es'],
    ['a language matched to its only region', 'de', 'de-CH'],
    ['q-values', 'fr;q=0.5, es', 'es'],
    ['the first acceptable in a browser list', 'it-IT, it;q=0.9, fr;q=0.8, en;q=0.7', 'fr'],
    ['nothing acceptable (the default)', 'ja, zh;q=0.9', 'en'],
    ['everything refused (the default)', '*;q=0', 'en'],
    ['garbage (the default)', ';;;=', 'en'],
    ['an array', ['fr'], 'fr'],
    ['a number (the default)', 7, 'en'],
  ])('picks for %s', (_name, header, expected) => {
    expect(negotiateLanguage(header, AVAILABLE)).toBe(expected);
  });

  it('treats the first available language as the default', () => {
    expect(negotiateLanguage('ja', ['fr', 'en'])).toBe('fr');
    expect(negotiateLanguage(undefined, ['fr', 'en'])).toBe('fr');
  });

  it('returns the available spelling, not the header one', () => {
    expect(negotiateLanguage('PT-br', ['en', 'pt-BR'])).toBe('pt-BR');
  });

  it('falls back to en when nothing is available', () => {
    expect(negotiateLanguage('fr', [])).toBe('en');
  });

  it('ignores what lies past 4096 characters', () => {
    const filler = 'ja;q=0.9,'.repeat(500);
    expect(negotiateLanguage(`${filler}fr`, AVAILABLE)).toBe('en');
    expect(negotiateLanguage(`fr,${filler}`, AVAILABLE)).toBe('fr');
  });

  it('never throws on a malformed available list', () => {
    expect(negotiateLanguage('fr', [42 as unknown as string, 'fr'])).toBeTypeOf('string');
  });
});
