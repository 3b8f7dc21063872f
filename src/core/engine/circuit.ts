/**
 * A circuit breaker per upstream, on cockatiel's CircuitBreakerPolicy. It counts client requests
 * by their final outcome (after retries), never the attempts inside one, and opens only when at
 * least half of them failed over a window with enough traffic to judge: Hystrix's rule (20
 * requests in 10 s, 50 %), as resilience4j and Polly need a volume too. One broken route of an
 * otherwise healthy upstream stays below that rate, so it never takes the healthy routes down
 * with it; a wholly failing upstream crosses it within seconds. An opt-in `consecutiveFailures`
 * opens on that many failed requests in a row as well.
 *
 * While open, requests are answered at once — no socket, no wait — with the seconds until the
 * next probe as Retry-After. Half-open lets ONE probe request through; cockatiel would queue the
 * others behind it, which for a gateway means piling up clients, so they fast-fail too.
 */
import {
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  SamplingBreaker,
  circuitBreaker,
  handleWhenResult,
  BrokenCircuitError,
  type IBreaker,
} from 'cockatiel';
import type { CircuitOptions } from '../proxy-options.js';

/** Opens when either breaker says so. */
class EitherBreaker implements IBreaker {
  constructor(
    private readonly a: IBreaker,
    private readonly b: IBreaker,
  ) {}
  get state(): unknown {
    return [this.a.state, this.b.state];
  }
  set state(value: unknown) {
    const [a, b] = value as [unknown, unknown];
    this.a.state = a;
    this.b.state = b;
  }
  success(state: CircuitState): void {
    this.a.success(state);
    this.b.success(state);
  }
  failure(state: CircuitState): boolean {
    const a = this.a.failure(state);
    const b = this.b.failure(state);
    return a || b;
  }
}

export interface Circuit<T> {
  /** Seconds until the next probe when requests must fail fast now; undefined when they may go. */
  blockedFor(): number | undefined;
  /** Run one request through the breaker; its outcome counts as `verdict` says. */
  run(fn: () => Promise<T>): Promise<T | typeof OPEN>;
  /** For `proxy.state()`. */
  state(): 'closed' | 'open' | 'half-open';
}

/** How a request's outcome counts: against the upstream, for it, or not at all (the client left). */
export type Verdict = 'failure' | 'success' | 'neutral';

/** Returned by `run` when the breaker refused the attempt. */
export const OPEN: unique symbol = Symbol('circuit-open');

export interface CircuitEvents {
  onOpen(retryAfter: number): void;
  onClose(): void;
}

export function createCircuit<T>(o: Required<CircuitOptions>, verdict: (r: T) => Verdict, events: CircuitEvents): Circuit<T> {
  const rate = new SamplingBreaker({ threshold: o.failureRate, duration: o.window, minimumRps: o.minimumRps });
  const breaker: IBreaker = o.consecutiveFailures > 0 ? new EitherBreaker(new ConsecutiveBreaker(o.consecutiveFailures), rate) : rate;
  const failed = (r: T) => verdict(r) === 'failure';
  const policy: CircuitBreakerPolicy = circuitBreaker(handleWhenResult((r) => failed(r as T)), { halfOpenAfter: o.halfOpenAfter, breaker });
  const guarded = (fn: () => Promise<T>): Promise<T | typeof OPEN> =>
    policy.execute(fn).catch((err: unknown) => {
      if (err instanceof BrokenCircuitError) return OPEN;
      throw err;
    });
  let openedAt = 0;
  policy.onBreak(() => {
    openedAt = Date.now();
    events.onOpen(Math.ceil(o.halfOpenAfter / 1000));
  });
  policy.onReset(() => events.onClose());
  return {
    state() {
      const state = policy.state;
      return state === CircuitState.Closed ? 'closed' : state === CircuitState.HalfOpen ? 'half-open' : 'open';
    },
    blockedFor() {
      const state = policy.state;
      if (state === CircuitState.Closed) return undefined;
      if (state === CircuitState.HalfOpen) return 1; // a probe is out; its verdict comes soon
      const left = openedAt + o.halfOpenAfter - Date.now();
      return left > 0 ? Math.max(1, Math.ceil(left / 1000)) : undefined;
    },
    run(fn) {
      if (policy.state !== CircuitState.Closed) return guarded(fn);
      // Closed, the common case: what cockatiel's execute() does in this state — a success goes
      // to the breaker as a closed-state success (a neutral outcome goes nowhere) — without its
      // two async functions waiting out the whole upstream round trip for every request. A
      // failure still goes through execute(), which counts it and opens the circuit when the
      // breaker says so; if the circuit left the closed state meanwhile (others' failures opened
      // it), there is nothing left to decide.
      return fn().then((r) => {
        const v = verdict(r);
        if (v === 'failure') {
          if (policy.state !== CircuitState.Closed) return r;
          return guarded(() => Promise.resolve(r)).then(() => r); // counted; the request's result stands
        }
        if (v === 'success') breaker.success(CircuitState.Closed);
        return r;
      });
    },
  };
}
