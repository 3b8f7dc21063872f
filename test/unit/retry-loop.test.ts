import { describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { normalizeRetry, type NormalizedRetryPolicy } from '../../src/core/options.js';
import { RetryBudget } from '../../src/core/engine/budget.js';
import type { AttemptResult, Failed } from '../../src/core/engine/attempt.js';
import { retryLoop, type RetryingRequest } from '../../src/core/engine/retry-loop.js';
import type { Upstream } from '../../src/core/engine/upstream.js';

const failed = (over: Partial<Failed> = {}): Failed => ({
  kind: 'failed',
  failure: { status: 502, error: 'connection_refused', retryable: true },
  retryable: true,
  ...over,
});
const ok = { kind: 'response', proxyRes: {} as IncomingMessage } as const;

/** A request whose attempts answer `script` in turn; records what the loop did. */
function request(script: AttemptResult[], over: { method?: string; policy?: NormalizedRetryPolicy | false; budget?: RetryBudget; replayableBody?: boolean } = {}) {
  const retries: number[] = [];
  const started: number[] = [];
  const controller = new AbortController();
  const policy = over.policy ?? (normalizeRetry({ retries: 2, baseDelay: 0, maxDelay: 0 }) as NormalizedRetryPolicy);
  const r: RetryingRequest = {
    req: { method: over.method ?? 'GET', headers: {}, url: '/x' } as IncomingMessage,
    policy,
    body: { replayable: over.replayableBody ?? true, stream: () => { throw new Error('not sent'); } },
    ctx: { emit: { retry: (e: { attempt: number }) => retries.push(e.attempt) } as never, targets: undefined },
    upstream: { budget: over.budget, circuit: undefined } as unknown as Upstream<AttemptResult>,
    upstreamName: 'u',
    tried: undefined,
    clientGone: false,
    started: false,
    deadlineAt: 0,
    signal: controller.signal,
    attempt: async (n) => {
      started.push(n);
      return script.shift()!;
    },
  };
  return { r, retries, started, controller };
}

describe('retryLoop', () => {
  it('retries until an attempt answers, numbering the attempts and the retries', async () => {
    const { r, retries, started } = request([failed(), ok]);
    expect(await retryLoop(failed(), r)).toBe(ok);
    expect(started).toEqual([2, 3]);
    expect(retries).toEqual([1, 2]);
  });

  it('returns the last failure with the reason it was the last', async () => {
    const { r, started } = request([failed(), failed()]);
    expect(await retryLoop(failed(), r)).toMatchObject({ kind: 'failed', reason: 'retries_exhausted' });
    expect(started).toEqual([2, 3]);
  });

  it('does not send a POST that reached the upstream again', async () => {
    const { r, started } = request([], { method: 'POST' });
    expect(await retryLoop(failed(), r)).toMatchObject({ reason: 'not_replayable' });
    expect(started).toEqual([]);
  });

  it('sends a POST again when no byte of it left (unsent), but not one whose body is not in memory', async () => {
    const sent = request([ok], { method: 'POST' });
    expect(await retryLoop(failed({ unsent: true }), sent.r)).toBe(ok);
    const streamed = request([ok], { method: 'POST', replayableBody: false });
    expect(await retryLoop(failed({ unsent: true }), streamed.r)).toMatchObject({ reason: 'not_replayable' });
  });

  it('takes a retry from the budget only when it retries, and stops when the budget is spent', async () => {
    const budget = new RetryBudget(0, 1, 1000); // one retry in the window
    const { r, started } = request([failed(), failed()], { budget });
    expect(await retryLoop(failed(), r)).toMatchObject({ reason: 'budget_exhausted' });
    expect(started).toEqual([2]);
    expect(budget.hasRoom()).toBe(false);
    const refused = new RetryBudget(0, 1, 1000);
    const noRetry = request([], { budget: refused });
    expect(await retryLoop(failed({ retryable: false }), noRetry.r)).toMatchObject({ reason: 'not_retryable' });
    expect(refused.hasRoom()).toBe(true); // a retry not made took nothing
  });

  it('ends as aborted when the client leaves during the wait', async () => {
    const policy = normalizeRetry({ retries: 2, baseDelay: 10_000, maxDelay: 10_000 }) as NormalizedRetryPolicy;
    const { r, started, controller } = request([ok], { policy });
    const outcome = retryLoop(failed({ retryAfter: 5 }), r);
    controller.abort();
    expect(await outcome).toEqual({ kind: 'aborted' });
    expect(started).toEqual([]);
  });
});
