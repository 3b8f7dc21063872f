/**
 * State kept per upstream (per target origin) and per process: the retry budget, the circuit and
 * the count of requests in flight. Nothing is shared between instances behind a load balancer —
 * each protects itself, which is all correctness needs.
 */
import { RetryBudget } from './budget.js';
import { createCircuit, type Circuit, type Verdict } from './circuit.js';
import type { Emitter } from '../observe/events.js';
import type { NormalizedProxyExtras } from '../options.js';

export class Upstream<T> {
  readonly budget: RetryBudget | undefined;
  readonly circuit: Circuit<T> | undefined;
  active = 0;

  constructor(
    readonly name: string,
    extras: NormalizedProxyExtras,
    verdict: (r: T) => Verdict,
    emit: Emitter,
  ) {
    const b = extras.budget;
    this.budget = b === false ? undefined : new RetryBudget(b.ratio, b.minPerSecond, b.window);
    this.circuit =
      extras.circuit === false
        ? undefined
        : createCircuit<T>(extras.circuit, verdict, {
            onOpen: (retryAfter) => emit.circuitOpen({ upstream: name, retryAfter }),
            onClose: () => emit.circuitClose({ upstream: name }),
          });
  }
}

/** Target origin after http-proxy-middleware's router: `http://host:port`. */
function upstreamName(target: unknown): string {
  if (typeof target === 'string') {
    try {
      return new URL(target).origin;
    } catch {
      return target;
    }
  }
  if (target && typeof target === 'object') {
    const t = target as { protocol?: string; host?: string; hostname?: string; port?: string | number; origin?: string };
    if (typeof t.origin === 'string' && t.origin !== 'null') return t.origin;
    const host = t.host ?? `${t.hostname ?? ''}${t.port ? `:${t.port}` : ''}`;
    return `${t.protocol ?? 'http:'}//${host}`;
  }
  return 'unknown';
}

/** Upstreams by name; bounded, so a router inventing targets cannot grow it without end. */
export class Upstreams<T> {
  private readonly map = new Map<string, Upstream<T>>();
  private last: Upstream<T> | undefined;
  private lastTarget: unknown;

  constructor(
    private readonly create: (name: string) => Upstream<T>,
    private readonly max = 1000,
  ) {}

  /** Every upstream seen so far (for `proxy.state()`). */
  all(): Upstream<T>[] {
    return [...this.map.values()];
  }

  /** The upstream for a target (string or URL-like object), by origin. */
  get(target: unknown): Upstream<T> {
    // One target is the common case: skip parsing it again.
    if (this.last !== undefined && target === this.lastTarget) return this.last;
    const name = upstreamName(target);
    let u = this.map.get(name);
    if (u === undefined) {
      if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
      u = this.create(name);
      this.map.set(name, u);
    }
    this.lastTarget = target;
    return (this.last = u);
  }
}
