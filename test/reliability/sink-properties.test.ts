/**
 * Properties of the error sink as a whole (test/unit/properties.test.ts covers its parts:
 * Retry-After, negotiation, request ids, classification). Whatever the request headers, the
 * method and the failure, `reply()` returns a well-formed answer whose headers Node would send,
 * whose body is what its Content-Type says, and which never carries request input as markup. And
 * any brand text is either refused at setup or shown escaped.
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_TYPES } from '../../src/core/decide/classify.js';
import { REQUEST_ID_PATTERN } from '../../src/core/answer/request-id.js';
import { createResponder } from '../../src/core/answer/respond.js';
import type { Failure, GatewayStatus, ProxyErrorType } from '../../src/core/types.js';

const anyString = fc.string({ unit: 'binary', maxLength: 200 });
const markup = fc.constantFrom('<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "'><svg/onload=alert(1)>", '</title><b>', '<%= it %>');
/** What a header can arrive as: a string (often with markup), an array of them, or garbage from a buggy caller. */
const header = fc.oneof(
  fc.constant(undefined),
  anyString,
  markup,
  fc.tuple(anyString, markup, anyString).map((parts) => parts.join('')),
  fc.array(fc.oneof(anyString, markup), { maxLength: 4 }),
  fc.constantFrom('text/html', 'application/json', 'text/plain', '*/*', 'application/problem+json', 'de, en;q=0.5', 'ja', 'es-MX'),
  fc.anything(),
);
const failure: fc.Arbitrary<Failure> = fc.oneof(
  fc.constantFrom(...(Object.keys(ERROR_TYPES) as ProxyErrorType[])).map((type) => ({ ...ERROR_TYPES[type], error: type, cause: new Error('connect ECONNREFUSED 10.1.2.3:8080') })),
  fc
    .record({ status: fc.constantFrom<GatewayStatus>(502, 503, 504), retryAfter: fc.option(fc.integer({ min: 0, max: 86_400 }), { nil: undefined }) })
    .map(({ status, retryAfter }) => ({ status, receivedStatus: status, retryable: true, ...(retryAfter !== undefined && { retryAfter }) })),
  fc.constantFrom<GatewayStatus>(502, 503, 504).map((status) => ({ status, retryable: false })),
);
const method = fc.oneof(fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'head', 'OPTIONS'), fc.stringMatching(/^[A-Z]{1,10}$/));

const responder = createResponder({ brand: { name: 'Acme' } });

describe('properties: the error sink', () => {
  it('always answers with headers Node would send, a body matching its Content-Type, and no request input as markup', () => {
    fc.assert(
      fc.property(failure, method, header, header, header, fc.boolean(), (f, m, accept, lang, id, idempotent) => {
        const headers = { accept, 'accept-language': lang, 'x-request-id': id } as unknown as Record<string, string>;
        const reply = responder.reply(f, { method: m, headers, idempotent });

        expect(reply.status).toBe(f.status);
        for (const [name, value] of Object.entries(reply.headers)) {
          expect(() => validateHeaderName(name)).not.toThrow();
          expect(() => validateHeaderValue(name, value)).not.toThrow();
          expect(value).toMatch(/^[\x20-\x7e]*$/); // ASCII only: no header ever carries raw input bytes
        }
        expect(reply.headers['x-request-id']).toMatch(REQUEST_ID_PATTERN);
        expect(reply.headers['cache-control']).toBe('no-store');
        const ra = reply.headers['retry-after'];
        if (f.status === 503) expect(ra).toBeDefined();
        if (ra !== undefined) {
          expect(ra).toMatch(/^\d+$/);
          expect(Number(ra)).toBeLessThanOrEqual(86_400);
        }
        if (f.error !== undefined) expect(reply.headers['proxy-status']).toBe(`gateway-errors; error=${f.error}`);

        if (m.toUpperCase() === 'HEAD') {
          expect(reply.body).toBeUndefined();
          return;
        }
        const body = reply.body!;
        expect(reply.headers['content-length']).toBe(String(Buffer.byteLength(body)));
        const type = reply.headers['content-type'];
        if (type === 'application/problem+json; charset=utf-8') {
          const problem = JSON.parse(body) as Record<string, unknown>;
          expect(problem.status).toBe(f.status);
          expect(problem.requestId).toBe(reply.headers['x-request-id']);
          expect(problem.mayHaveGoneThrough).toBe(idempotent ? undefined : true);
        } else if (type === 'text/html; charset=utf-8') {
          expect(body).toMatch(/^<!doctype html>/i);
          expect(body.trimEnd().endsWith('</html>')).toBe(true);
        } else {
          expect(type).toBe('text/plain; charset=utf-8');
          expect(body.startsWith(`${f.status} `)).toBe(true);
        }
        // Request input never comes back as markup, and the cause's address never at all (no expose).
        for (const piece of ['<script>alert', '<img src=x', '<svg/onload', '</title><b>', '<%= it']) expect(body).not.toContain(piece);
        expect(body).not.toContain('10.1.2.3');
      }),
      { numRuns: 400 },
    );
  });

  it('refuses a brand text at setup or shows it escaped, never as markup', () => {
    const text = fc.oneof(anyString, markup, fc.tuple(anyString, markup).map(([a, b]) => a + b));
    const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
    fc.assert(
      fc.property(text, text, (name, footer) => {
        let r: ReturnType<typeof createResponder>;
        try {
          r = createResponder({ brand: { name, footer } });
        } catch (err) {
          expect(err).toBeInstanceOf(TypeError);
          return;
        }
        const html = r.reply({ status: 503, retryable: false }, { method: 'GET', headers: { accept: 'text/html' }, idempotent: true }).body!;
        for (const value of [name, footer]) {
          // The page's line ends are normalized to LF (CSP hashes are computed over that).
          expect(html).toContain(escape(value).replace(/\r\n?/g, '\n'));
          if (/[<>"'&]/.test(value)) expect(html).not.toContain(value);
        }
      }),
      { numRuns: 60 },
    );
  });
});
