import { describe, expect, it } from 'vitest';
import { BUILTIN_LOCALES, createCatalog, interpolate, type Messages } from '../../src/core/answer/i18n.js';

const en = BUILTIN_LOCALES.en!;

/** Every leaf of a messages object as [path, value]. */
function leaves(value: unknown, prefix = ''): [string, unknown][] {
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
  }
  return [[prefix, value]];
}

describe('built-in locales', () => {
  it('ships English, Spanish, German, French and Japanese', () => {
    expect(Object.keys(BUILTIN_LOCALES)).toEqual(expect.arrayContaining(['en', 'es', 'de', 'fr', 'ja']));
  });

  it.each(Object.keys(BUILTIN_LOCALES))('%s has every key English has, each a non-empty string', (lang) => {
    const messages = BUILTIN_LOCALES[lang]!;
    expect(messages.lang).toBe(lang);
    const paths = leaves(messages).map(([p]) => p).sort();
    expect(paths).toEqual(leaves(en).map(([p]) => p).sort());
    for (const [p, v] of leaves(messages)) {
      expect(typeof v, p).toBe('string');
      expect((v as string).trim(), p).not.toBe('');
    }
  });

  it.each(Object.keys(BUILTIN_LOCALES).filter((l) => l !== 'en'))('%s is translated, not copied from English', (lang) => {
    const messages = BUILTIN_LOCALES[lang]!;
    expect(messages.statuses['503'].headline).not.toBe(en.statuses['503'].headline);
    expect(messages.mayHaveGoneThrough).not.toBe(en.mayHaveGoneThrough);
  });

  it.each(Object.keys(BUILTIN_LOCALES))('%s keeps the placeholders of English', (lang) => {
    const messages = BUILTIN_LOCALES[lang]!;
    expect(messages.retryIn).toContain('{seconds}');
    expect(messages.retryInMinutes).toContain('{minutes}');
    expect(messages.maintenance.until).toContain('{time}');
  });

  it.each(Object.keys(BUILTIN_LOCALES).filter((l) => l !== 'en'))('%s has its own words for 429, 500 and maintenance', (lang) => {
    const messages = BUILTIN_LOCALES[lang]!;
    for (const status of ['429', '500'] as const) expect(messages.statuses[status].headline).not.toBe(en.statuses[status].headline);
    expect(messages.maintenance.detail).not.toBe(en.maintenance.detail);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(en)).toBe(true);
    expect(Object.isFrozen(en.statuses['502'])).toBe(true);
  });
});

describe('createCatalog', () => {
  it('lists English first', () => {
    const catalog = createCatalog();
    expect(catalog.languages[0]).toBe('en');
    expect(catalog.languages).toEqual(expect.arrayContaining(['es', 'de', 'fr', 'ja']));
  });

  it('finds a language exactly, by primary subtag, case-insensitively, else English', () => {
    const catalog = createCatalog();
    expect(catalog.get('de').lang).toBe('de');
    expect(catalog.get('es-MX').lang).toBe('es');
    expect(catalog.get('FR').lang).toBe('fr');
    expect(catalog.get('tlh').lang).toBe('en');
    expect(catalog.get('').lang).toBe('en');
  });

  it('adds a language; its missing keys fall back to English', () => {
    const catalog = createCatalog({ 'pt-BR': { statuses: { '503': { title: 'Serviço indisponível' } }, reference: 'Referência' } });
    expect(catalog.languages).toContain('pt-BR');
    const pt = catalog.get('pt-br');
    expect(pt.lang).toBe('pt-BR');
    expect(pt.statuses['503'].title).toBe('Serviço indisponível');
    expect(pt.statuses['503'].detail).toBe(en.statuses['503'].detail);
    expect(pt.reference).toBe('Referência');
    expect(pt.retryIn).toBe(en.retryIn);
    expect(catalog.get('pt').lang).toBe('en'); // 'pt' was not added, only 'pt-BR'
  });

  it('overrides single keys of a built-in language and leaves the built-in table untouched', () => {
    const catalog = createCatalog({ de: { support: 'Hilfe holen', statuses: { '502': { headline: 'Hoppla' } } } });
    const de = catalog.get('de');
    expect(de.support).toBe('Hilfe holen');
    expect(de.statuses['502'].headline).toBe('Hoppla');
    expect(de.statuses['502'].title).toBe(BUILTIN_LOCALES.de!.statuses['502'].title);
    expect(de.home).toBe(BUILTIN_LOCALES.de!.home);
    expect(BUILTIN_LOCALES.de!.support).not.toBe('Hilfe holen');
    expect(createCatalog().get('de').support).toBe(BUILTIN_LOCALES.de!.support);
  });

  it.each([
    [{ fr: { reference: 42 } }, 'locales.fr.reference'],
    [{ fr: { refernce: 'Réf' } }, 'locales.fr.refernce'],
    [{ fr: { statuses: { '418': { title: 'x' } } } }, 'locales.fr.statuses.418'],
    [{ fr: { maintenance: { titel: 'x' } } }, 'locales.fr.maintenance.titel'],
    [{ fr: { maintenance: 'x' } }, 'locales.fr.maintenance'],
    [{ fr: { statuses: { '503': { titel: 'x' } } } }, 'locales.fr.statuses.503.titel'],
    [{ fr: { statuses: { '503': 'x' } } }, 'locales.fr.statuses.503'],
    [{ fr: 'bonjour' }, 'locales.fr'],
    [{ fr: { lang: 'de' } }, 'locales.fr.lang'],
    [{ 'not a tag': {} }, 'not a tag'],
  ])('throws a TypeError naming the bad key for %j', (overrides, name) => {
    expect(() => createCatalog(overrides as Record<string, unknown>)).toThrow(TypeError);
    expect(() => createCatalog(overrides as Record<string, unknown>)).toThrow(name);
  });

  it('uses the given option name in its errors', () => {
    expect(() => createCatalog({ fr: { x: 'y' } }, 'messages')).toThrow('`messages.fr.x`');
  });

  it('returns complete messages for every language', () => {
    const catalog = createCatalog({ nl: { home: 'Naar de startpagina' } });
    for (const lang of catalog.languages) {
      const m: Messages = catalog.get(lang);
      expect(leaves(m).map(([p]) => p).sort()).toEqual(leaves(en).map(([p]) => p).sort());
    }
  });
});

describe('interpolate', () => {
  it.each<[string, string, Record<string, string | number>, string]>([
    ['a known placeholder', 'Try again in {seconds} seconds.', { seconds: 30 }, 'Try again in 30 seconds.'],
    ['an unknown placeholder is kept', 'Try again in {seconds} seconds, {name}.', { seconds: 30 }, 'Try again in 30 seconds, {name}.'],
    ['the same placeholder twice, and a zero', '{a}{a}{b}', { a: 'x', b: 0 }, 'xx0'],
    ['inherited properties are not values', '{constructor} {toString}', {}, '{constructor} {toString}'],
    ['an own property named like an inherited one is', '{constructor}', { constructor: 'c' }, 'c'],
    ['a value is inserted as it is, never re-read as a template', '{a}', { a: '{b}', b: 'no' }, '{b}'],
    ['a value with $ patterns is inserted literally', '{a}', { a: "$& $1 $$ $'" }, "$& $1 $$ $'"],
    ['names with digits and underscores', '{n_1}', { n_1: 'ok' }, 'ok'],
    ['a name with a hyphen is no placeholder', '{a-b}', { 'a-b': 'no' }, '{a-b}'],
    ['empty braces are kept', '{} {{a}}', { a: 'x' }, '{} {x}'],
    ['an empty template', '', { a: 'x' }, ''],
    ['no placeholders', 'plain text', { a: 'x' }, 'plain text'],
    ['a negative and a fractional number', '{a} {b}', { a: -1, b: 1.5 }, '-1 1.5'],
  ])('%s', (_name, template, values, expected) => {
    expect(interpolate(template, values)).toBe(expected);
  });
});
