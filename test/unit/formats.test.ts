/**
 * The three forms of an error answer built from one view (answer/formats.ts): what the Responder
 * sends and the static export writes.
 */
import { describe, expect, it } from 'vitest';
import { problemOf, represent, textOf } from '../../src/core/answer/formats.js';
import { createCatalog } from '../../src/core/answer/i18n.js';
import { createRenderer } from '../../src/core/answer/render.js';
import type { ErrorView } from '../../src/core/types.js';

const messages = createCatalog().get('en');
const renderer = createRenderer();

function view(extra: Partial<ErrorView> = {}): ErrorView {
  return {
    status: 503,
    title: messages.statuses['503'].title,
    detail: messages.statuses['503'].detail,
    requestId: 'req-1',
    time: '2026-12-07T14:00:00.000Z',
    brand: {},
    method: 'GET',
    idempotent: true,
    lang: 'en',
    ...extra,
  };
}

describe('represent', () => {
  it.each([
    ['html', 'text/html; charset=utf-8', true],
    ['json', 'application/problem+json; charset=utf-8', false],
    ['text', 'text/plain; charset=utf-8', false],
  ] as const)('%s: its content type, never stored nor sniffed', (format, type, isPage) => {
    const { headers, text } = represent(format, view({ retryAfter: 30 }), messages, renderer);
    expect(headers['content-type']).toBe(type);
    expect(headers['cache-control']).toBe('no-store');
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['content-language']).toBe('en');
    expect(headers['retry-after']).toBe('30');
    expect('content-security-policy' in headers).toBe(isPage);
    expect('x-robots-tag' in headers).toBe(isPage);
    expect(text.length).toBeGreaterThan(0);
  });

  it('sends no Retry-After when the view has none', () => {
    expect(represent('json', view(), messages, renderer).headers).not.toHaveProperty('retry-after');
  });
});

describe('problemOf', () => {
  it.each([
    ['a bare 503', view(), { type: 'about:blank', title: 'Service Unavailable', status: 503, requestId: 'req-1' }],
    [
      'a classified failure',
      view({ status: 504, proxyStatus: 'connection_timeout' }),
      { type: 'https://www.rfc-editor.org/rfc/rfc9209#name-connection-timeout', title: 'Gateway Timeout', proxyStatus: 'connection_timeout' },
    ],
    ['an upstream status', view({ status: 502, receivedStatus: 503 }), { receivedStatus: 503 }],
    ['a request that may have gone through', view({ idempotent: false }), { mayHaveGoneThrough: true }],
  ])('%s', (_, v, expected) => {
    expect(problemOf(v)).toMatchObject(expected);
  });

  it('leaves out the request id a static page cannot know', () => {
    expect(problemOf(view({ requestId: '' }))).not.toHaveProperty('requestId');
  });
});

describe('textOf', () => {
  it('says the status, the detail and the reference', () => {
    const text = textOf(view(), messages);
    expect(text.startsWith(`503 ${messages.statuses['503'].title}\n\n${messages.statuses['503'].detail}`)).toBe(true);
    expect(text).toContain(`${messages.reference}: req-1`);
  });

  it('warns that a non-idempotent request may have gone through', () => {
    expect(textOf(view({ idempotent: false }), messages)).toContain(messages.mayHaveGoneThrough);
  });
});
