/**
 * OpenTelemetry, the standard way: this library only uses `@opentelemetry/api`, an optional peer
 * dependency, and records into whatever MeterProvider and TracerProvider the app registered (its
 * SDK, its exporters, its views). When the API is not installed, or nothing is registered, no
 * request does any of this work.
 *
 * The check is the API's own: a registered provider lives on globalThis under the API's versioned
 * key, and the no-op one is what the API answers when that slot is empty. Reading the slot costs
 * two property loads; going through the no-op meter instead would still build attributes and call
 * into it on every request. The API itself is loaded (synchronously, through require, so the ES
 * module and CommonJS builds do the same) only once something is registered.
 * @see https://opentelemetry.io/docs/specs/otel/metrics/api/#meterprovider
 */
import { createRequire } from 'node:module';
import type { AttemptEndEvent, EndRecorder, RequestEndEvent } from './events.js';
import { attemptAttrs, DURATION_BUCKETS, METRICS, placeAttrs, readGauges, requestAttrs, requestDurationAttrs, spanOf, targetAttrs, type Attributes } from './metrics.js';

/** The slice of `@opentelemetry/api` used here (its types stay out of ours: it is optional). */
interface Instrument {
  add(value: number, attributes?: Attributes): void;
  record(value: number, attributes?: Attributes): void;
}
interface Observable {
  addCallback(cb: (result: Result) => void): void;
}
interface Meter {
  createHistogram(name: string, options: object): Instrument;
  createObservableCounter(name: string, options: object): Observable;
  createObservableGauge(name: string, options: object): Observable;
}
type Result = { observe(value: number, attributes?: Attributes): void };
export interface Span {
  setAttribute(key: string, value: string | number): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}
interface OtelApi {
  metrics: { getMeterProvider(): { getMeter(name: string, version?: string): Meter } };
  trace: {
    getTracer(name: string, version?: string): Tracer;
    setSpan(context: unknown, span: Span): unknown;
  };
  context: { active(): unknown };
  propagation: { inject(context: unknown, carrier: object, setter?: { set(carrier: object, key: string, value: string): void }): void };
  SpanKind: { CLIENT: number };
  SpanStatusCode: { ERROR: number };
}

const NAME = 'gateway-errors';

let version: string | undefined | null = null;
/**
 * The instrumentation scope's version: this package's, read once, when a provider is first used.
 * package.json is three levels up from this file in src/ and in both builds; a bundle that left
 * it out gets a scope without a version, which the API allows.
 */
function scopeVersion(): string | undefined {
  if (version !== null) return version;
  try {
    version = (createRequire(import.meta.url)('../../../package.json') as { version?: string }).version;
  } catch {
    version = undefined;
  }
  return version;
}

/** Where the API keeps registered providers: `Symbol.for('opentelemetry.js.api.<major>')`. */
const GLOBAL = Symbol.for('opentelemetry.js.api.1');
type Slot = { metrics?: object; trace?: object } | undefined;
const slot = (): Slot => (globalThis as { [GLOBAL]?: Slot })[GLOBAL];

let api: OtelApi | null | undefined;

/** `@opentelemetry/api`, or null when it cannot be loaded. `load` is replaceable for tests. */
export function loadApi(load?: (id: string) => unknown): OtelApi | null {
  if (api !== undefined) return api;
  try {
    // Made here, not as a default parameter: that would run createRequire on every call.
    api = (load ?? createRequire(import.meta.url))('@opentelemetry/api') as OtelApi;
  } catch {
    api = null;
  }
  return api;
}

/** Forget the loaded API (tests). */
export function resetApi(): void {
  api = undefined;
}

/** A MeterProvider is registered and the API loads. */
export function metricsOn(): boolean {
  return slot()?.metrics !== undefined && loadApi() !== null;
}

/** A TracerProvider is registered and the API loads. */
export function tracingOn(): boolean {
  return slot()?.trace !== undefined && loadApi() !== null;
}

/**
 * A counter kept here and reported when the app's reader collects (an asynchronous counter):
 * a Map increment per request instead of a call into the SDK, which hashes the attributes on
 * every add. The attribute objects are the cached ones of metrics.ts, so the Map stays small;
 * sets that are equal but not the same object (the cache was cleared) are merged at collection.
 */
class Tally {
  private counts = new Map<Readonly<Attributes>, number>();

  add(attrs: Readonly<Attributes>): void {
    this.counts.set(attrs, (this.counts.get(attrs) ?? 0) + 1);
  }

  report(r: Result): void {
    const sums = new Map<string, { attrs: Readonly<Attributes>; n: number }>();
    for (const [attrs, n] of this.counts) {
      const key = JSON.stringify(attrs);
      const s = sums.get(key);
      if (s === undefined) sums.set(key, { attrs, n });
      else s.n += n;
    }
    if (sums.size < this.counts.size) this.counts = new Map([...sums.values()].map((s) => [s.attrs, s.n]));
    for (const s of sums.values()) r.observe(s.n, s.attrs);
  }
}

interface Instruments {
  readonly provider: object;
  readonly requests: Tally;
  readonly requestDuration: Instrument;
  readonly attempts: Tally;
  readonly attemptDuration: Instrument;
  readonly retries: Tally;
  readonly budgetExhausted: Tally;
}

/**
 * The instruments, kept on globalThis so the ES module and CommonJS copies of this package loaded
 * side by side record into one set: two sets would each report their own counts for the same
 * observable counter, and the SDK keeps one of them, not their sum.
 */
const SHARED = Symbol.for('gateway-errors.otel-instruments');
const shared: { instruments?: Instruments } = ((globalThis as { [SHARED]?: { instruments?: Instruments } })[SHARED] ??= {});

/** The instruments of the provider registered now; made again when the app registers another. */
function current(): Instruments {
  const provider = slot()!.metrics!;
  const made = shared.instruments;
  if (made?.provider === provider) return made;
  const meter = api!.metrics.getMeterProvider().getMeter(NAME, scopeVersion());
  const opts = (m: { unit: string; description: string }, extra?: object) => ({ unit: m.unit, description: m.description, ...extra });
  const buckets = { advice: { explicitBucketBoundaries: [...DURATION_BUCKETS] } };
  const circuit = meter.createObservableGauge(METRICS.circuitState.name, opts(METRICS.circuitState));
  const up = meter.createObservableGauge(METRICS.targetUp.name, opts(METRICS.targetUp));
  // Read when the app's reader collects, not per request.
  circuit.addCallback((r) => {
    for (const g of readGauges().circuits) r.observe(g.value, g.attrs);
  });
  up.addCallback((r) => {
    for (const g of readGauges().targets) r.observe(g.value, g.attrs);
  });
  // Counts start again with each provider, as the SDK's own instruments would.
  const counter = (m: { name: string; unit: string; description: string }): Tally => {
    const tally = new Tally();
    meter.createObservableCounter(m.name, opts(m)).addCallback((r) => tally.report(r));
    return tally;
  };
  return (shared.instruments = {
    provider,
    requests: counter(METRICS.requests),
    requestDuration: meter.createHistogram(METRICS.requestDuration.name, opts(METRICS.requestDuration, buckets)),
    attempts: counter(METRICS.attempts),
    attemptDuration: meter.createHistogram(METRICS.attemptDuration.name, opts(METRICS.attemptDuration, buckets)),
    retries: counter(METRICS.retries),
    budgetExhausted: counter(METRICS.budgetExhausted),
  });
}

/** Records request and attempt ends into the registered MeterProvider (events.ts calls it). */
export const otelMetrics: EndRecorder = {
  active: metricsOn,
  requestEnd(e: RequestEndEvent): void {
    const m = current();
    m.requests.add(requestAttrs(e));
    m.requestDuration.record(e.duration / 1000, requestDurationAttrs(e));
    if (e.reason === 'budget_exhausted') m.budgetExhausted.add(placeAttrs(e.upstream));
  },
  attemptEnd(e: AttemptEndEvent): void {
    const m = current();
    const attrs = attemptAttrs(e);
    m.attempts.add(attrs);
    m.attemptDuration.record(e.duration / 1000, attrs);
    if (e.attempt > 1) m.retries.add(targetAttrs(e.upstream, e.target));
  },
};

// ---------------------------------------------------------------------------------------------
// Traces: one CLIENT span per attempt, child of the span active when the request reached the
// proxy (with @opentelemetry/instrumentation-http, the server span), its context sent upstream.

/** The active context, to parent the attempts' spans; undefined when nobody traces. */
export function entryContext(): unknown {
  return tracingOn() ? api!.context.active() : undefined;
}

type SetHeader = (name: string, value: string) => void;
/** The carrier is the function that sets a header on the upstream request. */
const setter = { set: (carrier: object, key: string, value: string) => (carrier as SetHeader)(key, value) };

interface Tracer {
  startSpan(name: string, options: object, context?: unknown): Span;
}
let tracer: { provider: object; tracer: Tracer } | undefined;

/** The tracer of the provider registered now, asked of the API once per provider. */
function currentTracer(): Tracer {
  const provider = slot()!.trace!;
  if (tracer?.provider !== provider) tracer = { provider, tracer: api!.trace.getTracer(NAME, scopeVersion()) };
  return tracer.tracer;
}

/**
 * Start an attempt's span under `parent` and hand its trace context (traceparent, and whatever
 * else the app's propagator writes) to `setHeader`, before the upstream request's head is made.
 * `resends`: attempts before this one.
 */
export function startAttemptSpan(parent: unknown, target: string, method: string, resends: number, setHeader: SetHeader | undefined): Span {
  const { name, attrs } = spanOf(target, method, resends);
  const span = currentTracer().startSpan(name, { kind: api!.SpanKind.CLIENT, attributes: attrs }, parent);
  if (setHeader !== undefined) api!.propagation.inject(api!.trace.setSpan(parent, span), setHeader, setter);
  return span;
}

/** End an attempt's span: `error` is its error.type (a 4xx/5xx status as text, or the RFC 9209 type). */
export function endAttemptSpan(span: Span, status: number | undefined, error: string | undefined): void {
  if (status !== undefined) span.setAttribute('http.response.status_code', status);
  if (error !== undefined) {
    span.setAttribute('error.type', error);
    span.setStatus({ code: api!.SpanStatusCode.ERROR });
  }
  span.end();
}
