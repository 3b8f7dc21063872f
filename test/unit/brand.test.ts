/**
 * The brand option: what each field accepts and what it becomes (validateBrand; its rejections
 * of injection attempts are in render.test.ts), and the CSP image sources a logo needs
 * (logoSources).
 */
import { describe, expect, it } from 'vitest';
import { logoSources, validateBrand } from '../../src/core/answer/brand.js';
import type { Brand } from '../../src/core/types.js';

const svgData = (svg: string): string => `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;

describe('validateBrand, what each field becomes', () => {
  it.each<[string, unknown, Brand]>([
    ['no brand', undefined, {}],
    ['an empty brand', {}, {}],
    ['a name, kept as written', { name: '  Acme  ' }, { name: '  Acme  ' }],
    ['a name of 500 characters (the limit)', { name: 'a'.repeat(500) }, { name: 'a'.repeat(500) }],
    ['an https logo, normalized by URL', { logo: 'https://cdn.acme.test/a/../logo.png' }, { logo: 'https://cdn.acme.test/logo.png' }],
    ['a relative logo path', { logo: '/static/logo.png' }, { logo: '/static/logo.png' }],
    ['a data:image logo, trimmed', { logo: '  data:image/png;base64,iVBORw0KGgo=  ' }, { logo: 'data:image/png;base64,iVBORw0KGgo=' }],
    ['an inline svg gets its namespace', { logo: '<svg><rect/></svg>' }, { logo: svgData('<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>') }],
    ['an inline svg with a namespace is kept', { logo: '<svg xmlns="http://www.w3.org/2000/svg"/></svg>' }, { logo: svgData('<svg xmlns="http://www.w3.org/2000/svg"/></svg>') }],
    ['a bare support address becomes mailto:', { support: 'help@acme.test' }, { support: 'mailto:help@acme.test' }],
    ['a mailto: support address is kept', { support: 'mailto:help@acme.test?subject=Down' }, { support: 'mailto:help@acme.test?subject=Down' }],
    ['an http status page, normalized by URL', { statusPage: 'HTTP://Status.Acme.test' }, { statusPage: 'http://status.acme.test/' }],
    ['a relative home', { home: '/' }, { home: '/' }],
    ['colours of each accepted shape, trimmed', { colors: { accent: ' #1A73E8 ', background: '#fff', text: '#0000', darkAccent: 'hsl(217deg 80% 51%)', darkBackground: 'rgba(0, 0, 0, .5)', darkText: 'white' } }, { colors: { accent: '#1A73E8', background: '#fff', text: '#0000', darkAccent: 'hsl(217deg 80% 51%)', darkBackground: 'rgba(0, 0, 0, .5)', darkText: 'white' } }],
  ])('%s', (_name, input, expected) => {
    const brand = validateBrand(input);
    expect(brand).toEqual(expected);
    expect(Object.isFrozen(brand)).toBe(true);
  });

  it.each<[string, unknown, string]>([
    ['null', null, 'brand'],
    ['an array', [], 'brand'],
    ['an empty name', { name: '' }, 'brand.name'],
    ['a blank name', { name: '   ' }, 'brand.name'],
    ['a name of 501 characters', { name: 'a'.repeat(501) }, 'brand.name'],
    ['an empty footer', { footer: '' }, 'brand.footer'],
    ['colours as a string', { colors: '#fff' }, 'brand.colors'],
    ['colours as null', { colors: null }, 'brand.colors'],
    ['a hex colour of 5 digits', { colors: { accent: '#12345' } }, 'brand.colors.accent'],
    ['a named colour of 2 letters', { colors: { accent: 're' } }, 'brand.colors.accent'],
    ['an unclosed inline svg', { logo: '<svg><rect/>' }, 'brand.logo'],
    ['an inline svg over 64 KB', { logo: `<svg>${' '.repeat(64 * 1024)}</svg>` }, 'brand.logo'],
    ['a data:image logo with a quote', { logo: 'data:image/png,"x' }, 'brand.logo'],
    ['an empty logo', { logo: ' ' }, 'brand.logo'],
    ['an empty home', { home: '' }, 'brand.home'],
    ['a home with a backslash', { home: '/\\evil.test' }, 'brand.home'],
    ['a support link on ftp', { support: 'ftp://acme.test/' }, 'brand.support'],
    ['an http URL that does not parse', { statusPage: 'http://[::1' }, 'brand.statusPage'],
  ])('rejects %s with a TypeError naming %s', (_name, input, option) => {
    expect(() => validateBrand(input)).toThrow(TypeError);
    expect(() => validateBrand(input)).toThrow(`\`${option}\``);
  });

  it('names the option under the prefix it is given', () => {
    expect(() => validateBrand({ name: 1 }, 'errors.brand')).toThrow('`errors.brand.name`');
  });
});

describe('logoSources', () => {
  it.each<[string, Brand, string[]]>([
    ['no logo', {}, ['data:']],
    ['a data: logo (an inline svg becomes one)', { logo: svgData('<svg/>') }, ['data:']],
    ['a DATA: logo in capitals', { logo: 'DATA:image/png,x' }, ['data:']],
    ['an https logo: its origin only', { logo: 'https://cdn.acme.test:8443/img/logo.png?v=2' }, ['data:', 'https://cdn.acme.test:8443']],
    ['an http logo on the default port', { logo: 'http://cdn.acme.test:80/logo.png' }, ['data:', 'http://cdn.acme.test']],
    ['a relative logo: the page\'s own origin', { logo: '/logo.png' }, ['data:', "'self'"]],
  ])('%s', (_name, brand, expected) => {
    expect(logoSources(brand)).toEqual(expected);
  });
});
