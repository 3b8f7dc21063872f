/**
 * The error sink (respond.ts), one table per export: which statuses are the gateway's, a handler's
 * own failure, the facts of a request, headers applied to a real Node response, and the whole
 * reply for each status, cause and format, byte for byte.
 */
import { IncomingMessage, ServerResponse, STATUS_CODES } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BUILTIN_LOCALES } from '../../src/core/answer/i18n.js';
import {
  applyHeaders,
  createResponder,
  handlerFailure,
  isGatewayStatus,
  kHandled,
  requestFacts,
  type RequestFacts,
} from '../../src/core/answer/respond.js';
import type { BrandedStatus, Failure } from '../../src/core/types.js';

const en = BUILTIN_LOCALES.en!;
const es = BUILTIN_LOCALES.es!;

describe('kHandled', () => {
  it('is the registered symbol, so copies of the package side by side share it', () => {
    expect(kHandled).toBe(Symbol.for('gateway-errors.handled'));
  });
});

describe('isGatewayStatus', () => {
  it.each([
    [502, true],
    [503, true],
    [504, true],
    [501, false],
    [505, false],
    [500, false],
    [429, false],
    [200, false],
    [0, false],
    [502.5, false],
    [Number.NaN, false],
    [-503, false],
  ])('%s → %s', (status, expected) => {
    expect(isGatewayStatus(status)).toBe(expected);
  });
});

describe('handlerFailure', () => {
  it.each<[string, BrandedStatus, unknown, Failure<BrandedStatus>]>([
    ['a 502 without Retry-After', 502, undefined, { status: 502, retryable: false }],
    ['a 503 with Retry-After in seconds', 503, '120', { status: 503, retryable: false, retryAfter: 120 }],
    ['a 503 with a number set by setHeader', 503, 7, { status: 503, retryable: false, retryAfter: 7 }],
    ['a 504 with Retry-After 0', 504, '0', { status: 504, retryable: false, retryAfter: 0 }],
    ['a 503 with an invalid Retry-After: dropped', 503, 'soon', { status: 503, retryable: false }],
    ['a 503 with a negative Retry-After: dropped', 503, '-1', { status: 503, retryable: false }],
    ['a 503 with a Retry-After over a day: capped', 503, '999999', { status: 503, retryable: false, retryAfter: 86_400 }],
    ['a 503 with two agreeing Retry-After values', 503, ['5', '5'], { status: 503, retryable: false, retryAfter: 5 }],
    ['a 503 with two differing Retry-After values: dropped', 503, ['5', '6'], { status: 503, retryable: false }],
    ['a 429: nothing was processed, so unsent', 429, '12', { status: 429, retryable: false, retryAfter: 12, unsent: true }],
    ['a 500: not unsent', 500, undefined, { status: 500, retryable: false }],
  ])('%s', (_name, status, header, expected) => {
    expect(handlerFailure(status, header)).toEqual(expected);
  });
});

describe('requestFacts', () => {
  it.each<[string, string | undefined, Record<string, string>, boolean]>([
    ['no method: a GET', undefined, {}, true],
    ['GET', 'GET', {}, true],
    ['a lower-case put', 'put', {}, true],
    ['DELETE', 'DELETE', {}, true],
    ['POST', 'POST', {}, false],
    ['PATCH', 'PATCH', {}, false],
    ['POST with an Idempotency-Key', 'POST', { 'idempotency-key': 'k1' }, true],
    ['POST with an empty Idempotency-Key', 'POST', { 'idempotency-key': '' }, true],
    ['POST with another key header', 'POST', { 'x-idempotency-key': 'k1' }, false],
  ])('%s', (_name, method, headers, idempotent) => {
    expect(requestFacts(method, headers)).toEqual({ method: method ?? 'GET', headers, idempotent });
  });

  it('keeps the subject asked by `diagnose`, and leaves it out when there is none', () => {
    const ctx = { koa: true };
    expect(requestFacts('GET', {}, ctx)).toEqual({ method: 'GET', headers: {}, idempotent: true, subject: ctx });
    expect(requestFacts('GET', {}, undefined)).not.toHaveProperty('subject');
  });
});

describe('applyHeaders on a real ServerResponse', () => {
  it.each<[string, Record<string, string>, Record<string, string | undefined>, Record<string, string>]>([
    ['sets new headers', {}, { 'retry-after': '5', 'x-request-id': 'r1' }, { 'retry-after': '5', 'x-request-id': 'r1' }],
    ['replaces a header', { 'retry-after': 'soon' }, { 'retry-after': '5' }, { 'retry-after': '5' }],
    ['removes a header mapped to undefined', { 'retry-after': 'soon', 'content-type': 'text/plain' }, { 'retry-after': undefined }, { 'content-type': 'text/plain' }],
    ['removing an absent header is no error', {}, { 'retry-after': undefined }, {}],
    ['nothing to apply', { a: '1' }, {}, { a: '1' }],
  ])('%s', (_name, before, headers, after) => {
    const res = new ServerResponse(new IncomingMessage(new Socket()));
    for (const [k, v] of Object.entries(before)) res.setHeader(k, v);
    applyHeaders(res, headers);
    expect({ ...res.getHeaders() }).toEqual(after);
  });
});

const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const facts = (headers: Record<string, string>, method = 'GET'): RequestFacts => requestFacts(method, { 'x-request-id': 'req-1', ...headers }, undefined);
const REFUSED = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });

describe('createResponder().reply: problem+json', () => {
  const responder = createResponder();
  it.each<[string, Failure<BrandedStatus>, string, Record<string, unknown>, Record<string, string>]>([
    [
      'a refused connection (502 with Proxy-Status error)',
      { status: 502, error: 'connection_refused', retryable: true, cause: REFUSED },
      'GET',
      { type: 'https://www.rfc-editor.org/rfc/rfc9209#name-connection-refused', title: 'Bad Gateway', status: 502, detail: en.statuses['502'].detail, proxyStatus: 'connection_refused', requestId: 'req-1' },
      { 'proxy-status': 'gateway-errors; error=connection_refused' },
    ],
    [
      'an upstream\'s own 503 with its Retry-After',
      { status: 503, receivedStatus: 503, retryable: true, retryAfter: 12 },
      'GET',
      { type: 'about:blank', title: 'Service Unavailable', status: 503, detail: en.statuses['503'].detail, receivedStatus: 503, requestId: 'req-1', retryAfter: 12 },
      { 'proxy-status': 'gateway-errors; received-status=503', 'retry-after': '12' },
    ],
    [
      'a 503 without Retry-After gets the default 30 s',
      { status: 503, retryable: false },
      'GET',
      { type: 'about:blank', title: 'Service Unavailable', status: 503, detail: en.statuses['503'].detail, requestId: 'req-1', retryAfter: 30 },
      { 'retry-after': '30' },
    ],
    [
      'a response timeout on a POST: may have gone through',
      { status: 504, error: 'http_response_timeout', retryable: true },
      'POST',
      { type: 'https://www.rfc-editor.org/rfc/rfc9209#name-http-response-timeout', title: 'Gateway Timeout', status: 504, detail: en.statuses['504'].detail, proxyStatus: 'http_response_timeout', requestId: 'req-1', mayHaveGoneThrough: true },
      { 'proxy-status': 'gateway-errors; error=http_response_timeout' },
    ],
    [
      'a POST that never left (unsent): safe to send again',
      { status: 502, error: 'connection_refused', retryable: true, unsent: true },
      'POST',
      { type: 'https://www.rfc-editor.org/rfc/rfc9209#name-connection-refused', title: 'Bad Gateway', status: 502, detail: en.statuses['502'].detail, proxyStatus: 'connection_refused', requestId: 'req-1' },
      { 'proxy-status': 'gateway-errors; error=connection_refused' },
    ],
    [
      'a handler\'s own 429 (extra status)',
      { status: 429, retryable: false, retryAfter: 0, unsent: true },
      'POST',
      { type: 'about:blank', title: 'Too Many Requests', status: 429, detail: en.statuses['429'].detail, requestId: 'req-1', retryAfter: 0 },
      { 'retry-after': '0' },
    ],
  ])('%s', (_name, failure, method, body, extra) => {
    const reply = responder.reply(failure, facts({ accept: 'application/json' }, method));
    const text = JSON.stringify(body);
    expect(reply).toEqual({
      status: failure.status,
      headers: {
        'x-request-id': 'req-1',
        ...extra,
        'cache-control': 'no-store',
        vary: 'Accept, Accept-Language',
        'x-content-type-options': 'nosniff',
        'content-type': 'application/problem+json; charset=utf-8',
        'content-language': 'en',
        'content-length': String(Buffer.byteLength(text)),
      },
      body: text,
    });
  });
});

describe('createResponder().reply: each format and language', () => {
  const responder = createResponder();
  const failure: Failure<BrandedStatus> = { status: 502, error: 'connection_refused', retryable: true };
  it.each<[string, Record<string, string>, string, string]>([
    ['Accept: application/json', { accept: 'application/json' }, 'application/problem+json; charset=utf-8', 'en'],
    ['a browser', { accept: HTML }, 'text/html; charset=utf-8', 'en'],
    ['no Accept: text', {}, 'text/plain; charset=utf-8', 'en'],
    ['curl\'s */*: text', { accept: '*/*' }, 'text/plain; charset=utf-8', 'en'],
    ['a Spanish browser', { accept: HTML, 'accept-language': 'es-MX,es;q=0.9' }, 'text/html; charset=utf-8', 'es'],
    ['a language with no catalog: English', { 'accept-language': 'sv' }, 'text/plain; charset=utf-8', 'en'],
  ])('%s', (_name, headers, type, lang) => {
    const reply = responder.reply(failure, facts(headers));
    expect(reply.headers['content-type']).toBe(type);
    expect(reply.headers['content-language']).toBe(lang);
    expect(reply.headers['content-length']).toBe(String(Buffer.byteLength(reply.body!)));
    expect(reply.headers['content-security-policy'] !== undefined).toBe(type.startsWith('text/html'));
    expect(reply.headers['x-robots-tag']).toBe(type.startsWith('text/html') ? 'noindex' : undefined);
  });

  it('writes the text answer line by line', () => {
    const get = responder.reply({ status: 503, retryable: false, retryAfter: 1 }, facts({}));
    expect(get.body).toBe(`503 ${en.statuses['503'].title}\n\n${en.statuses['503'].detail}\n${en.retryNow}\n\n${en.reference}: req-1\n`);
    const post = responder.reply({ status: 504, error: 'http_response_timeout', retryable: true }, facts({ 'accept-language': 'es' }, 'POST'));
    expect(post.body).toBe(`504 ${es.statuses['504'].title}\n\n${es.statuses['504'].detail}\n${es.mayHaveGoneThrough}\n\n${es.reference}: req-1\n`);
    const wait = responder.reply({ status: 503, retryable: false, retryAfter: 45 }, facts({}));
    expect(wait.body).toBe(`503 ${en.statuses['503'].title}\n\n${en.statuses['503'].detail}\nTry again in 45 seconds.\n\n${en.reference}: req-1\n`);
  });

  it('answers a HEAD with the headers of the GET and no body', () => {
    const get = responder.reply(failure, facts({ accept: 'application/json' }));
    const head = responder.reply(failure, facts({ accept: 'application/json' }, 'HEAD'));
    expect(head).toEqual({ status: 502, headers: get.headers, body: undefined });
  });

  it.each([
    ['a valid one is echoed', 'abc-123', 'abc-123'],
    ['an invalid one is replaced', 'bad id\n', /^[0-9a-f-]{36}$/],
  ])('takes the X-Request-Id: %s', (_name, given, expected) => {
    const reply = responder.reply(failure, requestFacts('GET', { 'x-request-id': given }));
    expect(reply.headers['x-request-id']).toMatch(expected);
  });
});

describe('createResponder options in the answer', () => {
  it.each<[string, Parameters<typeof createResponder>[0], Failure<BrandedStatus>, string | undefined, string | undefined]>([
    ['proxyName', { proxyName: 'edge-1' }, { status: 502, error: 'dns_error', retryable: false }, 'edge-1; error=dns_error', undefined],
    ['expose adds the cause code to Proxy-Status', { expose: true }, { status: 502, error: 'connection_refused', retryable: true, cause: REFUSED }, 'gateway-errors; error=connection_refused; details="ECONNREFUSED"', undefined],
    ['expose without a cause adds nothing', { expose: true }, { status: 502, error: 'connection_refused', retryable: true }, 'gateway-errors; error=connection_refused', undefined],
    ['retryAfter for a 503 without one', { retryAfter: 5 }, { status: 503, retryable: false }, undefined, '5'],
    ['retryAfter 0', { retryAfter: 0 }, { status: 503, retryable: false }, undefined, '0'],
    ['retryAfter does not apply to a 502', { retryAfter: 5 }, { status: 502, retryable: false }, undefined, undefined],
    ['the failure\'s own Retry-After wins', { retryAfter: 5 }, { status: 503, retryable: false, retryAfter: 9 }, undefined, '9'],
  ])('%s', (_name, options, failure, proxyStatus, retryAfter) => {
    const reply = createResponder(options).reply(failure, facts({ accept: 'application/json' }));
    expect(reply.headers['proxy-status']).toBe(proxyStatus);
    expect(reply.headers['retry-after']).toBe(retryAfter);
  });

  it('names a bad option under the prefix it is given', () => {
    expect(() => createResponder({ brand: { name: 1 } } as never, 'errors')).toThrow('`errors.brand.name`');
    expect(() => createResponder({ brand: { name: 1 } } as never)).toThrow('`brand.name`');
  });
});

describe('createResponder().brands', () => {
  it.each<[string, Parameters<typeof createResponder>[0], number, boolean]>([
    ['502 by default', {}, 502, true],
    ['503 by default', {}, 503, true],
    ['504 by default', {}, 504, true],
    ['not 429 by default', {}, 429, false],
    ['not 500 by default', {}, 500, false],
    ['429 when listed', { extraStatuses: [429] }, 429, true],
    ['500 when listed', { extraStatuses: [429, 500] }, 500, true],
    ['still 503 with extras listed', { extraStatuses: [500] }, 503, true],
    ['never 501', { extraStatuses: [429, 500] }, 501, false],
    ['never 200', {}, 200, false],
  ])('%s', (_name, options, status, expected) => {
    expect(createResponder(options).brands(status)).toBe(expected);
  });
});

describe('createResponder().passthroughHeaders', () => {
  const responder = createResponder();
  it.each<[string, Failure<BrandedStatus>, Record<string, string | undefined>]>([
    ['an upstream\'s 502: Proxy-Status, and its invalid Retry-After removed', { status: 502, receivedStatus: 502, retryable: true }, { 'retry-after': undefined, 'x-request-id': 'req-1', 'proxy-status': 'gateway-errors; received-status=502' }],
    ['an upstream\'s 503 with a valid Retry-After, written normalized', { status: 503, receivedStatus: 503, retryable: true, retryAfter: 7 }, { 'retry-after': '7', 'x-request-id': 'req-1', 'proxy-status': 'gateway-errors; received-status=503' }],
    ['a handler\'s 503: the default Retry-After, no Proxy-Status', { status: 503, retryable: false }, { 'retry-after': '30', 'x-request-id': 'req-1' }],
  ])('%s', (_name, failure, expected) => {
    expect(responder.passthroughHeaders(failure, facts({}))).toEqual(expected);
  });
});

describe('createResponder().maintenanceReply', () => {
  const responder = createResponder();
  it.each<[string, { retryAfter: number; until?: number; message?: string }, string, Record<string, unknown>]>([
    ['a window with no end', { retryAfter: 300 }, 'GET', { retryAfter: 300, maintenance: {} }],
    ['a window with an end and a message, on a POST', { retryAfter: 60, until: Date.UTC(2099, 0, 1), message: 'Upgrading' }, 'POST', { retryAfter: 60, maintenance: { until: '2099-01-01T00:00:00.000Z', message: 'Upgrading' } }],
  ])('%s: a 503 without Proxy-Status, safe to send again', (_name, window, method, fields) => {
    const reply = responder.maintenanceReply(window, facts({ accept: 'application/json' }, method));
    expect(reply.status).toBe(503);
    expect(reply.headers['proxy-status']).toBeUndefined();
    expect(reply.headers['retry-after']).toBe(String(window.retryAfter));
    const body = JSON.parse(reply.body!);
    expect(body).toEqual({ type: 'about:blank', title: STATUS_CODES[503], status: 503, detail: en.maintenance.detail, requestId: 'req-1', ...fields });
  });
});
