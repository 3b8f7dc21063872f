/**
 * resolvePolicy: the `retry` option in its three forms. Static forms are checked once, when the
 * proxy is built; the function form per request, each distinct object returned normalized once.
 */
import { describe, expect, it } from 'vitest';
import { resolvePolicy, type RetryOption } from '../../src/core/decide/policy.js';
import type { NormalizedRetryPolicy } from '../../src/core/options.js';

const REQ = { url: '/x' };
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const DEFAULTS: NormalizedRetryPolicy = {
  retries: 2,
  methods: IDEMPOTENT,
  idempotencyKey: 'idempotency-key',
  statuses: new Set([502, 503, 504]),
  baseDelay: 100,
  maxDelay: 2000,
  maxRetryAfter: 2000,
  bodyLimit: 1024 * 1024,
};

describe('resolvePolicy, static forms', () => {
  it.each<[string, RetryOption<typeof REQ>, NormalizedRetryPolicy | false]>([
    ['undefined: the defaults', undefined, DEFAULTS],
    ['an empty object: the defaults', {}, DEFAULTS],
    ['false: never retry', false, false],
    ['retries 0 (the lower end)', { retries: 0 }, { ...DEFAULTS, retries: 0 }],
    ['retries 100 (the upper end)', { retries: 100 }, { ...DEFAULTS, retries: 100 }],
    ['method names upper-cased', { methods: ['get', 'Post'] }, { ...DEFAULTS, methods: new Set(['GET', 'POST']) }],
    ['no methods at all', { methods: [] }, { ...DEFAULTS, methods: new Set() }],
    ['the idempotency key header lower-cased', { idempotencyKey: 'X-Request-Key' }, { ...DEFAULTS, idempotencyKey: 'x-request-key' }],
    ['no idempotency key', { idempotencyKey: false }, { ...DEFAULTS, idempotencyKey: false }],
    ['statuses at both ends of 400..599', { statuses: [400, 599] }, { ...DEFAULTS, statuses: new Set([400, 599]) }],
    ['maxRetryAfter follows maxDelay when unset', { maxDelay: 500 }, { ...DEFAULTS, maxDelay: 500, maxRetryAfter: 500 }],
    ['maxRetryAfter set on its own', { maxRetryAfter: 0 }, { ...DEFAULTS, maxRetryAfter: 0 }],
    ['the largest timer value', { maxDelay: 2_147_483_647 }, { ...DEFAULTS, maxDelay: 2_147_483_647, maxRetryAfter: 2_147_483_647 }],
    ['bodyLimit 0: no body kept for replay', { bodyLimit: 0 }, { ...DEFAULTS, bodyLimit: 0 }],
  ])('%s', (_name, option, expected) => {
    const policyFor = resolvePolicy(option);
    expect(policyFor(REQ)).toEqual(expected);
    // Resolved once: every request gets the very same object.
    expect(policyFor({ url: '/y' })).toBe(policyFor(REQ));
  });

  it.each<[string, unknown, RegExp]>([
    ['null', null, /`retry`/],
    ['an array', [], /`retry`/],
    ['a number', 3, /`retry`/],
    ['a negative retries', { retries: -1 }, /`retry\.retries`/],
    ['retries over 100', { retries: 101 }, /`retry\.retries`/],
    ['a fractional retries', { retries: 1.5 }, /`retry\.retries`/],
    ['retries as a string', { retries: '2' }, /`retry\.retries`/],
    ['a status under 400', { statuses: [399] }, /`retry\.statuses`/],
    ['a status over 599', { statuses: [600] }, /`retry\.statuses`/],
    ['a method name with a space', { methods: ['GE T'] }, /`retry\.methods`/],
    ['methods as a string', { methods: 'GET' }, /`retry\.methods`/],
    ['an idempotency key that is not a header name', { idempotencyKey: 'a key' }, /`retry\.idempotencyKey`/],
    ['maxDelay over the largest timer', { maxDelay: 2_147_483_648 }, /`retry\.maxDelay`/],
    ['an infinite baseDelay', { baseDelay: Number.POSITIVE_INFINITY }, /`retry\.baseDelay`/],
    ['an unknown key', { retry: 2 }, /`retry\.retry`/],
  ])('throws a TypeError naming the option when built with %s', (_name, option, named) => {
    expect(() => resolvePolicy(option as RetryOption<unknown>)).toThrow(TypeError);
    expect(() => resolvePolicy(option as RetryOption<unknown>)).toThrow(named);
  });
});

describe('resolvePolicy, the function form', () => {
  it('asks the function per request, with that request', () => {
    const seen: unknown[] = [];
    const policyFor = resolvePolicy((req: { url: string }) => (seen.push(req.url), req.url === '/no' ? false : { retries: 1 }));
    expect(policyFor({ url: '/no' })).toBe(false);
    expect(policyFor({ url: '/yes' })).toEqual({ ...DEFAULTS, retries: 1 });
    expect(seen).toEqual(['/no', '/yes']);
  });

  it('normalizes each returned object once, and a new object anew', () => {
    const shared = { retries: 1 };
    let next: object = shared;
    const policyFor = resolvePolicy(() => next as { retries: number });
    const first = policyFor(REQ);
    expect(policyFor(REQ)).toBe(first);
    next = { retries: 1 };
    const other = policyFor(REQ);
    expect(other).toEqual(first);
    expect(other).not.toBe(first);
  });

  it.each<[string, unknown, RegExp]>([
    ['undefined', undefined, /`retry\(req\)`/],
    ['null', null, /`retry\(req\)`/],
    ['true', true, /`retry\(req\)`/],
    ['a bad count', { retries: -1 }, /`retry\(req\)\.retries`/],
    ['an unknown key', { delay: 5 }, /`retry\(req\)\.delay`/],
  ])('throws a TypeError naming retry(req) when the function returns %s, at the request, not at setup', (_name, returned, named) => {
    const policyFor = resolvePolicy(() => returned as false);
    expect(() => policyFor(REQ)).toThrow(TypeError);
    expect(() => policyFor(REQ)).toThrow(named);
  });
});
