/**
 * Whether to try again, and after how long: guard clauses in a fixed order, no I/O
 * (the shape of undici's RetryHandler and got's calculate-retry-delay).
 */
import { fullJitterDelay } from './backoff.js';
import type { NormalizedRetryPolicy } from '../options.js';

export interface RetryInput {
  readonly policy: NormalizedRetryPolicy;
  /** The request may be replayed: idempotent method or Idempotency-Key, and its body is in memory. */
  readonly replayable: boolean;
  /** Retries already made (0 after the first attempt failed). */
  readonly retriesUsed: number;
  /** The failed attempt is of a kind a retry can mend. */
  readonly retryable: boolean;
  /** Seconds the upstream asked us to wait (a valid Retry-After), if any. */
  readonly retryAfter?: number | undefined;
  /** A byte already went to the client. */
  readonly responseStarted: boolean;
  /** The client went away. */
  readonly clientGone: boolean;
  /** ms left before the request's deadline, if it has one. */
  readonly remaining?: number | undefined;
}

export type GiveUpReason =
  | 'client_gone'
  | 'response_started'
  | 'not_replayable'
  | 'not_retryable'
  | 'retries_exhausted'
  | 'retry_after_too_long'
  | 'deadline'
  | 'budget_exhausted';

export type RetryDecision =
  | { readonly retry: true; readonly delay: number; readonly reason: 'backoff' | 'retry_after' }
  | { readonly retry: false; readonly reason: GiveUpReason };

const stop = (reason: GiveUpReason): RetryDecision => ({ retry: false, reason });

/** Decide one retry. `random` is injectable for tests. */
export function decideRetry(input: RetryInput, random: () => number = Math.random): RetryDecision {
  if (input.clientGone) return stop('client_gone');
  if (input.responseStarted) return stop('response_started');
  if (!input.replayable) return stop('not_replayable');
  if (!input.retryable) return stop('not_retryable');
  if (input.retriesUsed >= input.policy.retries) return stop('retries_exhausted');
  let delay: number;
  let reason: 'backoff' | 'retry_after';
  if (input.retryAfter !== undefined) {
    // The upstream said when it will be ready: that wait replaces the backoff, it does not add to it.
    delay = input.retryAfter * 1000;
    if (delay > input.policy.maxRetryAfter) return stop('retry_after_too_long');
    reason = 'retry_after';
  } else {
    delay = fullJitterDelay(input.retriesUsed + 1, input.policy.baseDelay, input.policy.maxDelay, random);
    reason = 'backoff';
  }
  // No attempt starts that cannot finish before the deadline.
  if (input.remaining !== undefined && delay >= input.remaining) return stop('deadline');
  return { retry: true, delay, reason };
}
