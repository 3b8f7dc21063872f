/**
 * Whether to try again, and after how long: guard clauses in a fixed order, no I/O
 * (the shape of undici's RetryHandler and got's calculate-retry-delay). Every guard is an input:
 * the engine gathers the facts (the circuit's state, the budget's room) and acts on the answer.
 */
import { fullJitterDelay } from './backoff.js';
import type { NormalizedRetryPolicy } from '../options.js';

export interface RetryInput {
  /** `false`: retries are off for this request. */
  readonly policy: NormalizedRetryPolicy | false;
  /**
   * The request may be sent again: its body is in memory, and either it is replayable (idempotent
   * method or Idempotency-Key) or no byte of it left (the connection was never made).
   */
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
  /** The upstream's circuit is open (the failure may just have opened it): a retry would be refused. */
  readonly circuitOpen?: boolean | undefined;
  /** The upstream's retry budget has no room for one more retry. */
  readonly budgetExhausted?: boolean | undefined;
}

export type GiveUpReason =
  | 'client_gone'
  | 'response_started'
  | 'not_replayable'
  | 'not_retryable'
  | 'retries_exhausted'
  | 'retry_after_too_long'
  | 'deadline'
  | 'circuit_open'
  | 'budget_exhausted';

export type RetryDecision =
  | { readonly retry: true; readonly delay: number; readonly reason: 'backoff' | 'retry_after' }
  | { readonly retry: false; readonly reason: GiveUpReason };

const stop = (reason: GiveUpReason): RetryDecision => ({ retry: false, reason });

/** Decide one retry. `random` is injectable for tests. */
export function decideRetry(input: RetryInput, random: () => number = Math.random): RetryDecision {
  const { policy } = input;
  if (input.clientGone) return stop('client_gone');
  if (input.responseStarted) return stop('response_started');
  // No retry left (retries off, `retries: 0`, or all used): that is the reason, whatever else the
  // last failure was (Envoy's upstream_rq_retry_limit_exceeded) — but a first failure no retry
  // could mend says so.
  if (policy === false || input.retriesUsed >= policy.retries) return stop(input.retriesUsed === 0 && !input.retryable ? 'not_retryable' : 'retries_exhausted');
  if (!input.replayable) return stop('not_replayable');
  if (!input.retryable) return stop('not_retryable');
  let delay: number;
  let reason: 'backoff' | 'retry_after';
  if (input.retryAfter !== undefined) {
    // The upstream said when it will be ready: that wait replaces the backoff, it does not add to it.
    delay = input.retryAfter * 1000;
    if (delay > policy.maxRetryAfter) return stop('retry_after_too_long');
    reason = 'retry_after';
  } else {
    delay = fullJitterDelay(input.retriesUsed + 1, policy.baseDelay, policy.maxDelay, random);
    reason = 'backoff';
  }
  // No attempt starts that cannot finish before the deadline.
  if (input.remaining !== undefined && delay >= input.remaining) return stop('deadline');
  if (input.circuitOpen === true) return stop('circuit_open');
  // Last: a retry that is allowed takes its share of the budget, so only one that would happen asks.
  if (input.budgetExhausted === true) return stop('budget_exhausted');
  return { retry: true, delay, reason };
}
