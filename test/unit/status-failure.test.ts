/**
 * statusFailure(): the one way a failure is made from a status someone answered, for the
 * upstream's own answer (received-status) and for a handler's own answer (no upstream).
 */
import { describe, expect, it } from 'vitest';
import { classifyStatus, isGatewayStatus, statusFailure } from '../../src/core/decide/classify.js';
import { handlerFailure } from '../../src/core/answer/respond.js';
import type { BrandedStatus } from '../../src/core/types.js';

const HTTP_DATE_IN_60S = (now: number): string => new Date(now + 60_000).toUTCString();

describe('statusFailure from the upstream', () => {
  it.each([
    [503, undefined, true, { status: 503, receivedStatus: 503, retryable: true }],
    [502, '7', true, { status: 502, receivedStatus: 502, retryable: true, retryAfter: 7 }],
    [504, 'soon', true, { status: 504, receivedStatus: 504, retryable: true }],
    // A retried status that is not a gateway one is answered as 502, naming what was received.
    [429, '2', true, { status: 502, receivedStatus: 429, retryable: true, retryAfter: 2 }],
    [503, undefined, false, { status: 503, receivedStatus: 503, retryable: false }],
    [503, '999999', true, { status: 503, receivedStatus: 503, retryable: true, retryAfter: 86_400 }],
  ])('%i with Retry-After %j, retryable %s', (status, header, retryable, expected) => {
    expect(statusFailure(status, header, 'upstream', retryable)).toEqual(expected);
  });

  it('reads an HTTP-date Retry-After', () => {
    const failure = statusFailure(503, HTTP_DATE_IN_60S(Date.now()), 'upstream');
    expect(failure.retryAfter).toBeGreaterThanOrEqual(59);
    expect(failure.retryAfter).toBeLessThanOrEqual(60);
  });
});

describe('statusFailure from a handler', () => {
  it.each([
    [503, '30', { status: 503, retryable: false, retryAfter: 30 }],
    [502, undefined, { status: 502, retryable: false }],
    [500, '-1', { status: 500, retryable: false }],
    // RFC 6585: a 429 turned the request away unprocessed, so it cannot have gone through.
    [429, '5', { status: 429, retryable: false, retryAfter: 5, unsent: true }],
  ] as [BrandedStatus, string | undefined, object][])('%i with Retry-After %j', (status, header, expected) => {
    expect(statusFailure(status, header, 'handler')).toEqual(expected);
    expect(handlerFailure(status, header)).toEqual(expected);
  });
});

describe('classifyStatus and isGatewayStatus', () => {
  it.each([
    [502, true],
    [503, true],
    [504, true],
    [500, false],
    [429, false],
    ['503', false],
  ])('isGatewayStatus(%j) is %s', (status, expected) => {
    expect(isGatewayStatus(status)).toBe(expected);
  });

  it.each([
    [503, 1.2, { status: 503, receivedStatus: 503, retryable: true, retryAfter: 2 }],
    [503, -1, { status: 503, receivedStatus: 503, retryable: true }],
    [504, Number.POSITIVE_INFINITY, { status: 504, receivedStatus: 504, retryable: true }],
    [503, 1e9, { status: 503, receivedStatus: 503, retryable: true, retryAfter: 86_400 }],
  ])('classifyStatus(%i, %j) rounds up and clamps like the header', (status, seconds, expected) => {
    expect(classifyStatus(status, seconds)).toEqual(expected);
  });

  it('classifies only gateway statuses', () => {
    expect(classifyStatus(429, 5)).toBeUndefined();
  });
});
