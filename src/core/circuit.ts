/**
 * A circuit breaker per upstream, on cockatiel's CircuitBreakerPolicy: it opens on N consecutive
 * failures OR on a failure rate over a time window (cockatiel takes one breaker, so a small
 * composite asks both). While open, requests are answered at once — no socket, no wait — with the
 * seconds until the next probe as Retry-After. Half-open lets ONE probe through; cockatiel would
 * queue the others behind it, which for a gateway means piling up clients, so they fast-fail too.
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

export interface CircuitOptions {
  /** Open after this many failed attempts in a row. @default 5 */
  consecutiveFailures?: number;
  /** Open when more than this fraction (strictly between 0 and 1) of attempts fails within `window`... @default 0.5 */
  failureRate?: number;
  /** ...measured over this many ms... @default 10000 */
  window?: number;
  /** ...once at least this many attempts per second were seen (no verdicts on a trickle). @default 2 */
  minimumRps?: number;
  /** ms the circuit stays open before one probe is let through. @default 5000 */
  halfOpenAfter?: number;
}

export const CIRCUIT_DEFAULTS = Object.freeze({
  consecutiveFailures: 5, // a restart or a crash, not a blip
  failureRate: 0.5, // half of all attempts failing is an outage even when some succeed
  window: 10_000, // ms
  minimumRps: 2, // 20 attempts in the window before the rate counts
  halfOpenAfter: 5_000, // ms; Hystrix's sleep window: quick recovery, little probing load
});

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
  /** Run one attempt through the breaker; results for which `failed` is true count against it. */
  run(fn: () => Promise<T>): Promise<T | typeof OPEN>;
}

/** Returned by `run` when the breaker refused the attempt. */
export const OPEN: unique symbol = Symbol('circuit-open');

export interface CircuitEvents {
  onOpen(retryAfter: number): void;
  onClose(): void;
}

export function createCircuit<T>(o: Required<CircuitOptions>, failed: (r: T) => boolean, events: CircuitEvents): Circuit<T> {
  const breaker = new EitherBreaker(
    new ConsecutiveBreaker(o.consecutiveFailures),
    new SamplingBreaker({ threshold: o.failureRate, duration: o.window, minimumRps: o.minimumRps }),
  );
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
      // to the breaker as a closed-state success — without its two async functions waiting out
      // the whole upstream round trip for every request. A failure still goes through execute(),
      // which counts it and opens the circuit when the breaker says so; if the circuit left the
      // closed state meanwhile (others' failures opened it), there is nothing left to decide.
      return fn().then((r) => {
        if (failed(r)) {
          if (policy.state !== CircuitState.Closed) return r;
          return guarded(() => Promise.resolve(r)).then(() => r); // counted; the attempt's result stands
        }
        breaker.success(CircuitState.Closed);
        return r;
      });
    },
  };
}
