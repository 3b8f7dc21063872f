/**
 * The retry loop of one request: attempt, decide, wait, again — or give up with the reason the
 * decision gave. The decision is decide/retry.ts (pure, every guard an input); this loop gathers
 * the facts (the circuit's state, the budget's room) and carries out what it decided.
 *
 * p-retry drives the attempts and counts the retries. Its own delay formula has neither full
 * jitter nor a wait the upstream named (Retry-After), so it runs with no delay of its own and the
 * decision's wait is taken in `shouldRetry`, where the client leaving ends it.
 */
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import { decideRetry, type RetryDecision, type RetryInput } from '../decide/retry.js';
import type { Emitter } from '../observe/events.js';
import { isReplayable, type NormalizedRetryPolicy } from '../options.js';
import type { AttemptResult, Failed } from './attempt.js';
import type { BodySource } from './body.js';
import { pathOf } from './context.js';
import { dropUnused } from './deliver.js';
import type { Target, TargetSet } from './targets.js';
import type { Upstream } from './upstream.js';

/** The failure the request gave up on, and why it was the last: a GiveUpReason or a refusal's own. */
export type GaveUp = Failed & { readonly reason: string };
/** How a request's attempts ended. */
export type Outcome = Exclude<AttemptResult, Failed> | GaveUp;

/** What the loop reads of its request (the exchange), and the one thing it asks: another attempt. */
export interface RetryingRequest {
  readonly req: IncomingMessage & { originalUrl?: string };
  readonly policy: NormalizedRetryPolicy | false;
  readonly body: BodySource;
  readonly ctx: { readonly emit: Emitter; readonly targets: TargetSet | undefined };
  readonly upstream: Upstream<AttemptResult> | undefined;
  readonly upstreamName: string;
  /** `targets` the attempts went to. */
  readonly tried: ReadonlySet<Target> | undefined;
  readonly clientGone: boolean;
  readonly started: boolean;
  readonly deadlineAt: number;
  /** Aborted when the client leaves. */
  readonly signal: AbortSignal;
  /** Start attempt `n` (from 1); settles with its result. */
  attempt(n: number): Promise<AttemptResult>;
}

/** A failed attempt as p-retry sees it: thrown, with the decision taken on it. */
class AttemptFailed extends Error {
  decision: RetryDecision | undefined;
  /** The client left during the wait before the next attempt. */
  aborted = false;
  constructor(readonly result: Failed) {
    super('attempt failed');
  }
}

/** Retry after the first failed attempt until one answers or the decision gives up. */
export async function retryLoop(first: Failed, request: RetryingRequest): Promise<Outcome> {
  const { policy } = request;
  try {
    return await pRetry(
      async (n) => {
        const r = n === 1 ? first : await request.attempt(n);
        if (r.kind === 'failed') throw new AttemptFailed(r);
        return r;
      },
      {
        retries: policy === false ? 0 : policy.retries,
        minTimeout: 0,
        // Called for every failure, also the last one p-retry will not ask about: the reason to stop is the decision's.
        onFailedAttempt: ({ error, retriesConsumed }) => {
          if (!(error instanceof AttemptFailed)) throw error;
          error.decision = decideRetry(retryInput(request, error.result, retriesConsumed));
        },
        shouldRetry: async ({ error, retriesConsumed }) => {
          const failed = error as AttemptFailed;
          const decision = failed.decision!;
          if (!decision.retry) return false;
          const r = failed.result;
          // First, so that a throwing onRetry does not leave the failed answer's socket held.
          dropUnused(r.proxyRes);
          request.upstream?.budget?.withdraw();
          request.ctx.emit.retry({
            upstream: request.upstreamName,
            attempt: retriesConsumed + 1,
            delay: decision.delay,
            reason: decision.reason,
            failure: r.failure,
            method: request.req.method ?? 'GET',
            path: pathOf(request.req),
          });
          if (decision.delay > 0 && !(await wait(decision.delay, request.signal))) failed.aborted = true;
          return !failed.aborted;
        },
      },
    );
  } catch (err) {
    if (!(err instanceof AttemptFailed)) throw err;
    if (err.aborted) return { kind: 'aborted' };
    return { ...err.result, reason: err.decision?.reason ?? 'retries_exhausted' };
  }
}

/** The facts the decision needs after failure `r`. */
function retryInput(request: RetryingRequest, r: Failed, retriesUsed: number): RetryInput {
  const { upstream, deadlineAt } = request;
  // An instance's Retry-After speaks for that instance: with another of `targets` left to try,
  // the retry goes there without waiting for it (nginx's proxy_next_upstream http_503).
  const elsewhere = request.ctx.targets?.hasUntried(request.tried) === true;
  return {
    policy: request.policy,
    replayable: mayResend(request, r),
    retriesUsed,
    retryable: r.retryable,
    retryAfter: elsewhere ? undefined : r.retryAfter,
    // Both false while the loop runs as built (delivery starts after it; a client that leaves ends
    // the attempt as aborted): inputs still, so the decision states the rules, not the call order.
    responseStarted: request.started,
    clientGone: request.clientGone,
    remaining: deadlineAt > 0 ? deadlineAt - Date.now() : undefined,
    // The failure may just have opened the circuit: the next attempt would be refused anyway.
    circuitOpen: upstream?.circuit?.blockedFor() !== undefined,
    budgetExhausted: upstream?.budget?.hasRoom() === false,
  };
}

/**
 * Whether a failed attempt may be followed by another: the request may be replayed (an
 * idempotent method or Idempotency-Key), or nothing of it left — the connection was never made
 * (refused, DNS, connect timeout) — so sending it again, to another target or the same one,
 * cannot run it twice (what nginx does for non-idempotent requests). Either way the body must be
 * in memory.
 */
function mayResend(request: RetryingRequest, r: Failed): boolean {
  const { req } = request;
  return request.body.replayable && (r.unsent === true || isReplayable(req.method, req.headers, request.policy));
}

/** Sleep `ms`; false when the client left first. */
async function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
