import { describe, expect, it } from 'vitest';
import { normalizeRetry, type NormalizedRetryPolicy } from '../../src/core/options.js';
import { decideRetry, type RetryInput } from '../../src/core/decide/retry.js';

const policy = normalizeRetry({ retries: 2, baseDelay: 100, maxDelay: 2000, maxRetryAfter: 5000 }) as NormalizedRetryPolicy;
const noRetries = normalizeRetry({ retries: 0 }) as NormalizedRetryPolicy;
/** Every guard passes: a retry after the backoff. */
const go: RetryInput = {
  policy,
  replayable: true,
  retriesUsed: 0,
  retryable: true,
  responseStarted: false,
  clientGone: false,
  circuitOpen: false,
  budgetExhausted: false,
};

describe('decideRetry: every guard is an input', () => {
  // Each row turns one guard (and every guard after it) against the retry: the reason names the
  // first one in the fixed order, so the rows pin the order too.
  const rows: Array<[string, Partial<RetryInput>, string]> = [
    ['client gone', { clientGone: true, responseStarted: true, replayable: false, retryable: false, circuitOpen: true, budgetExhausted: true }, 'client_gone'],
    ['a byte went to the client', { responseStarted: true, replayable: false, retryable: false, circuitOpen: true, budgetExhausted: true }, 'response_started'],
    ['retries off, retryable failure', { policy: false, replayable: false, circuitOpen: true }, 'retries_exhausted'],
    ['retries off, failure no retry mends', { policy: false, retryable: false, replayable: false }, 'not_retryable'],
    ['retries: 0, retryable failure', { policy: noRetries, replayable: false }, 'retries_exhausted'],
    ['retries: 0, failure no retry mends', { policy: noRetries, retryable: false }, 'not_retryable'],
    ['all retries used, the last failure not replayable nor retryable', { retriesUsed: 2, replayable: false, retryable: false, circuitOpen: true }, 'retries_exhausted'],
    ['may not be sent again', { replayable: false, retryable: false, retriesUsed: 1, circuitOpen: true, budgetExhausted: true }, 'not_replayable'],
    ['failure no retry mends', { retryable: false, retriesUsed: 1, circuitOpen: true, budgetExhausted: true }, 'not_retryable'],
    ['retries used up', { retriesUsed: 2, retryAfter: 999, circuitOpen: true, budgetExhausted: true }, 'retries_exhausted'],
    ['Retry-After beyond maxRetryAfter', { retryAfter: 6, remaining: 1, circuitOpen: true, budgetExhausted: true }, 'retry_after_too_long'],
    ['the wait ends after the deadline', { retryAfter: 1, remaining: 1000, circuitOpen: true, budgetExhausted: true }, 'deadline'],
    ['the circuit is open', { circuitOpen: true, budgetExhausted: true }, 'circuit_open'],
    ['the retry budget is spent', { budgetExhausted: true }, 'budget_exhausted'],
  ];
  for (const [guard, change, reason] of rows) {
    it(`gives up (${reason}) when ${guard}`, () => {
      expect(decideRetry({ ...go, ...change }, () => 0.5)).toEqual({ retry: false, reason });
    });
  }

  const retries: Array<[string, Partial<RetryInput>, number, string]> = [
    ['the first retry waits up to baseDelay', { retriesUsed: 0 }, 50, 'backoff'],
    ['the second retry waits up to twice that', { retriesUsed: 1 }, 100, 'backoff'],
    ['Retry-After replaces the backoff', { retryAfter: 2 }, 2000, 'retry_after'],
    ['Retry-After: 0 retries at once', { retryAfter: 0 }, 0, 'retry_after'],
    ['Retry-After of exactly maxRetryAfter is waited out', { retryAfter: 5 }, 5000, 'retry_after'],
    ['a wait that ends before the deadline', { remaining: 51 }, 50, 'backoff'],
    ['the guards left out count as passed', { circuitOpen: undefined, budgetExhausted: undefined }, 50, 'backoff'],
  ];
  for (const [why, change, delay, reason] of retries) {
    it(`retries: ${why}`, () => {
      expect(decideRetry({ ...go, ...change }, () => 0.5)).toEqual({ retry: true, delay, reason });
    });
  }

  it('gives up on the deadline when the wait would end exactly at it', () => {
    expect(decideRetry({ ...go, remaining: 50 }, () => 0.5)).toEqual({ retry: false, reason: 'deadline' });
  });
});
