/**
 * Brand or pass through: the one decision both adapters take for a status a handler set
 * (answer/status.ts), walked as a table over the options that change it.
 */
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createResponder } from '../../src/core/answer/respond.js';
import { answerStatus, answerThrown, upstreamAnswer } from '../../src/core/answer/status.js';
import type { ExtraStatus } from '../../src/core/types.js';

function request(method = 'GET', headers: Record<string, string> = {}): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.headers = headers;
  return req;
}

type Options = { extraStatuses?: ExtraStatus[]; keepUpstreamBody?: boolean };

describe('answerStatus', () => {
  it.each<[string, number, Options, boolean, 'pass' | 'reply' | 'headers']>([
    ['passes a 200 through', 200, {}, false, 'pass'],
    ['passes a 404 through', 404, {}, false, 'pass'],
    ['brands a handler 503', 503, {}, false, 'reply'],
    ['brands a 502 relayed from an upstream', 502, {}, true, 'reply'],
    ['passes a 429 through when it is not listed', 429, {}, false, 'pass'],
    ['brands a handler 429 when it is listed', 429, { extraStatuses: [429] }, false, 'reply'],
    ["passes a listed 429 relayed from an upstream through (its body is the upstream API's)", 429, { extraStatuses: [429] }, true, 'pass'],
    ['brands a handler 500 when it is listed', 500, { extraStatuses: [500] }, false, 'reply'],
    ['keeps the body of a 503 with keepUpstreamBody, setting headers only', 503, { keepUpstreamBody: true }, false, 'headers'],
    ['passes an unlisted 500 through with keepUpstreamBody too', 500, { keepUpstreamBody: true }, false, 'pass'],
  ])('%s', (_name, status, options, relayed, expected) => {
    const answer = answerStatus(createResponder(options), request(), status, undefined, relayed);
    if (expected === 'pass') return expect(answer).toBeUndefined();
    if (expected === 'headers') {
      expect(answer?.reply).toBeUndefined();
      expect(answer?.headers).toMatchObject({ 'x-request-id': expect.any(String), 'retry-after': '30' });
      return;
    }
    expect(answer?.headers).toBeUndefined();
    expect(answer?.reply?.status).toBe(status);
    expect(answer?.reply?.headers['content-type']).toBe('text/plain; charset=utf-8');
    // A handler's own answer involved no upstream: no Proxy-Status.
    expect(answer?.reply?.headers['proxy-status']).toBeUndefined();
  });

  it.each([
    ['120', '120'],
    ['soon', '30'],
    [undefined, '30'],
  ])('answers a 503 with Retry-After %j as %j', (given, sent) => {
    const answer = answerStatus(createResponder(), request(), 503, given);
    expect(answer?.reply?.headers['retry-after']).toBe(sent);
  });

  it('removes an invalid Retry-After instead of echoing it, with keepUpstreamBody', () => {
    const answer = answerStatus(createResponder({ keepUpstreamBody: true }), request(), 502, 'soon');
    expect(answer?.headers).toHaveProperty('retry-after', undefined);
  });

  it('answers in the format the request asks for, with no body for HEAD', () => {
    const json = answerStatus(createResponder(), request('GET', { accept: 'application/json' }), 503, undefined);
    expect(json?.reply?.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    const head = answerStatus(createResponder(), request('HEAD'), 503, undefined);
    expect(head?.reply?.body).toBeUndefined();
  });
});

describe('answerThrown', () => {
  it.each<[string, number, Options, boolean]>([
    ['leaves a thrown 503 to the framework', 503, { extraStatuses: [429] }, false],
    ['leaves an unlisted 429 to the framework', 429, {}, false],
    ['brands a thrown 429 when it is listed', 429, { extraStatuses: [429] }, true],
    ['brands a thrown 500 when it is listed', 500, { extraStatuses: [500] }, true],
    ['leaves a listed 429 to the framework with keepUpstreamBody', 429, { extraStatuses: [429], keepUpstreamBody: true }, false],
    ['leaves a 404 to the framework', 404, { extraStatuses: [429, 500] }, false],
  ])('%s', (_name, status, options, branded) => {
    const reply = answerThrown(createResponder(options), request(), Object.assign(new Error('thrown'), { status }));
    if (!branded) return expect(reply).toBeUndefined();
    expect(reply?.status).toBe(status);
  });

  it.each([
    ['err.status', { status: 429 }],
    ['err.statusCode', { statusCode: 429 }],
  ])('reads the status from %s, as http-errors sets it', (_name, fields) => {
    expect(answerThrown(createResponder({ extraStatuses: [429] }), request(), Object.assign(new Error('thrown'), fields))?.status).toBe(429);
  });

  it('takes an error without a status as a 500', () => {
    expect(answerThrown(createResponder({ extraStatuses: [500] }), request(), new Error('bug'))?.status).toBe(500);
    expect(answerThrown(createResponder({ extraStatuses: [500] }), request(), 'not an error')?.status).toBe(500);
  });

  it("keeps a thrown 429's valid Retry-After, whatever the header's case", () => {
    const err = Object.assign(new Error('slow down'), { status: 429, headers: { 'Retry-After': '7' } });
    expect(answerThrown(createResponder({ extraStatuses: [429] }), request(), err)?.headers['retry-after']).toBe('7');
  });
});

describe('upstreamAnswer: an upstream answer the proxy gave up on', () => {
  const plain = createResponder();
  const keeping = createResponder({ keepUpstreamBody: true });
  it.each([
    ['no answer held', plain, undefined, 'brand'],
    ['no answer held, keepUpstreamBody', keeping, undefined, 'brand'],
    ['a 503', plain, 503, 'brand'],
    ['a 502, keepUpstreamBody', keeping, 502, 'keep'],
    ['a retried 429', plain, 429, 'relay'],
    ['a retried 429, keepUpstreamBody', keeping, 429, 'relay'],
    ['a retried 500', plain, 500, 'relay'],
  ] as const)('%s', (_what, responder, status, expected) => {
    expect(upstreamAnswer(responder, status)).toBe(expected);
  });
});
