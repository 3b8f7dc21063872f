import { describe, expect, it } from 'vitest';
import { normalizeRetry, type NormalizedRetryPolicy } from '../../src/core/options.js';
import { decideRetry, type RetryInput } from '../../src/core/decide/retry.js';

const policy = normalizeRetry({ retries: 2, baseDelay: 100, maxDelay: 2000 }) as NormalizedRetryPolicy;
const base: RetryInput = { policy, replayable: true, retriesUsed: 0, retryable: true, responseStarted: false, clientGone: false };

describe('decideRetry', () => {
  // Guard clauses in a fixed order: each row breaks exactly one condition (or two, to pin the order).
  const stops: Array<[string, Partial<RetryInput>, string]> = [
    ['the client is gone', { clientGone: true, responseStarted: true }, 'client_gone'],
    ['a byte went to the client', { responseStarted: true, replayable: false }, 'response_started'],
    ['the request may not be replayed', { replayable: false, retryable: false }, 'not_replayable'],
    ['the failure cannot be mended by a retry', { retryable: false, retriesUsed: 1 }, 'not_retryable'],
    ['the retries are used up, whatever the last failure', { retryable: false, replayable: false, retriesUsed: 2 }, 'retries_exhausted'],
    ['the retries are used up', { retriesUsed: 2, retryAfter: 999 }, 'retries_exhausted'],
    ['the upstream asks for longer than maxRetryAfter', { retryAfter: 3 }, 'retry_after_too_long'],
    ['the wait would end after the deadline', { retryAfter: 1, remaining: 900 }, 'deadline'],
  ];
  for (const [why, change, reason] of stops) {
    it(`stops when ${why}`, () => {
      expect(decideRetry({ ...base, ...change }, () => 0.5)).toEqual({ retry: false, reason });
    });
  }

  it('waits out a Retry-After in place of the backoff', () => {
    expect(decideRetry({ ...base, retryAfter: 2 }, () => 0.99)).toEqual({ retry: true, delay: 2000, reason: 'retry_after' });
  });

  it('retries immediately on Retry-After: 0', () => {
    expect(decideRetry({ ...base, retryAfter: 0 })).toEqual({ retry: true, delay: 0, reason: 'retry_after' });
  });

  it('draws the backoff with full jitter from the growing cap', () => {
    expect(decideRetry({ ...base, retriesUsed: 0 }, () => 0.5)).toEqual({ retry: true, delay: 50, reason: 'backoff' });
    expect(decideRetry({ ...base, retriesUsed: 1 }, () => 0.5)).toEqual({ retry: true, delay: 100, reason: 'backoff' });
    expect(decideRetry({ ...base, retriesUsed: 0 }, () => 0)).toEqual({ retry: true, delay: 0, reason: 'backoff' });
  });

  it('retries when the wait ends before the deadline', () => {
    expect(decideRetry({ ...base, remaining: 1000 }, () => 0.5)).toMatchObject({ retry: true, delay: 50 });
  });
});
