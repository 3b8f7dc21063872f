/**
 * decideRetry at its boundaries, one row per case: the last retry allowed and the first refused,
 * a Retry-After exactly at maxRetryAfter and one second over, a wait that ends exactly at the
 * deadline and one millisecond before it, the backoff window at its cap, a policy of no retries.
 */
import { describe, expect, it } from 'vitest';
import { normalizeRetry, type NormalizedRetryPolicy, type RetryPolicy } from '../../src/core/options.js';
import { decideRetry, type RetryDecision, type RetryInput } from '../../src/core/decide/retry.js';

const policyOf = (p: RetryPolicy): NormalizedRetryPolicy => normalizeRetry(p) as NormalizedRetryPolicy;
const DEFAULTS = policyOf({}); // retries 2, baseDelay 100, maxDelay 2000, maxRetryAfter = maxDelay
const base: RetryInput = { policy: DEFAULTS, replayable: true, retriesUsed: 0, retryable: true, responseStarted: false, clientGone: false };

interface Row {
  readonly name: string;
  readonly input: Partial<RetryInput>;
  readonly random: number;
  readonly expected: RetryDecision;
}

const rows: Row[] = [
  // retries
  { name: 'the last retry the policy allows', input: { retriesUsed: 1 }, random: 0, expected: { retry: true, delay: 0, reason: 'backoff' } },
  { name: 'one retry past the policy', input: { retriesUsed: 2 }, random: 0, expected: { retry: false, reason: 'retries_exhausted' } },
  { name: 'far past the policy', input: { retriesUsed: 1_000 }, random: 0, expected: { retry: false, reason: 'retries_exhausted' } },
  { name: 'a policy of no retries, on the first failure', input: { policy: policyOf({ retries: 0 }) }, random: 0, expected: { retry: false, reason: 'retries_exhausted' } },
  { name: 'the most retries a policy may ask', input: { policy: policyOf({ retries: 100 }), retriesUsed: 99 }, random: 0, expected: { retry: true, delay: 0, reason: 'backoff' } },
  // backoff windows: floor(random * (cap + 1)), cap = min(maxDelay, baseDelay * 2^retriesUsed)
  { name: 'the first retry, top of its window', input: {}, random: 0.999_999, expected: { retry: true, delay: 100, reason: 'backoff' } },
  { name: 'the second retry, middle of its window', input: { retriesUsed: 1 }, random: 0.5, expected: { retry: true, delay: 100, reason: 'backoff' } },
  { name: 'a late retry, its window capped at maxDelay', input: { policy: policyOf({ retries: 10 }), retriesUsed: 9 }, random: 0.999_999, expected: { retry: true, delay: 2000, reason: 'backoff' } },
  { name: 'baseDelay 0: every wait is 0', input: { policy: policyOf({ baseDelay: 0 }) }, random: 0.999_999, expected: { retry: true, delay: 0, reason: 'backoff' } },
  { name: 'maxDelay 0: every wait is 0', input: { policy: policyOf({ maxDelay: 0 }), retriesUsed: 1 }, random: 0.999_999, expected: { retry: true, delay: 0, reason: 'backoff' } },
  { name: 'a random() out of [0, 1) stays in the window', input: {}, random: 7, expected: { retry: true, delay: 100, reason: 'backoff' } },
  { name: 'a NaN random() waits 0', input: {}, random: Number.NaN, expected: { retry: true, delay: 0, reason: 'backoff' } },
  // Retry-After against maxRetryAfter (2000 ms by default: maxDelay)
  { name: 'a Retry-After exactly at maxRetryAfter', input: { retryAfter: 2 }, random: 0.5, expected: { retry: true, delay: 2000, reason: 'retry_after' } },
  { name: 'a Retry-After one second over maxRetryAfter', input: { retryAfter: 3 }, random: 0.5, expected: { retry: false, reason: 'retry_after_too_long' } },
  { name: 'a Retry-After under a raised maxRetryAfter', input: { policy: policyOf({ maxRetryAfter: 60_000 }), retryAfter: 60 }, random: 0.5, expected: { retry: true, delay: 60_000, reason: 'retry_after' } },
  { name: 'a Retry-After of 0 with maxRetryAfter 0', input: { policy: policyOf({ maxRetryAfter: 0 }), retryAfter: 0 }, random: 0.5, expected: { retry: true, delay: 0, reason: 'retry_after' } },
  { name: 'a Retry-After of 1 with maxRetryAfter 0', input: { policy: policyOf({ maxRetryAfter: 0 }), retryAfter: 1 }, random: 0.5, expected: { retry: false, reason: 'retry_after_too_long' } },
  // the deadline: no wait that ends at or after it
  { name: 'a wait ending exactly at the deadline', input: { retryAfter: 1, remaining: 1000 }, random: 0.5, expected: { retry: false, reason: 'deadline' } },
  { name: 'a wait ending 1 ms before the deadline', input: { retryAfter: 1, remaining: 1001 }, random: 0.5, expected: { retry: true, delay: 1000, reason: 'retry_after' } },
  { name: 'a zero wait with no time left', input: { retryAfter: 0, remaining: 0 }, random: 0.5, expected: { retry: false, reason: 'deadline' } },
  { name: 'a backoff wait of 50 ms with 51 ms left', input: { remaining: 51 }, random: 0.5, expected: { retry: true, delay: 50, reason: 'backoff' } },
  { name: 'a backoff wait of 50 ms with 50 ms left', input: { remaining: 50 }, random: 0.5, expected: { retry: false, reason: 'deadline' } },
  { name: 'a deadline already past', input: { remaining: -5 }, random: 0, expected: { retry: false, reason: 'deadline' } },
  // the order of the guards: the earlier one names the reason
  { name: 'gone, started, not replayable, not retryable, exhausted at once', input: { clientGone: true, responseStarted: true, replayable: false, retryable: false, retriesUsed: 5 }, random: 0, expected: { retry: false, reason: 'client_gone' } },
  { name: 'exhausted and a Retry-After too long', input: { retriesUsed: 2, retryAfter: 3 }, random: 0, expected: { retry: false, reason: 'retries_exhausted' } },
  { name: 'a Retry-After too long and past the deadline', input: { retryAfter: 3, remaining: 1 }, random: 0, expected: { retry: false, reason: 'retry_after_too_long' } },
];

describe('decideRetry, table of boundaries', () => {
  it.each(rows)('$name', ({ input, random, expected }) => {
    expect(decideRetry({ ...base, ...input }, () => random)).toEqual(expected);
  });
});
