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
import type { AttemptEndEvent, EndSink, RequestEndEvent } from './events.js';
import { attemptAttrs, DURATION_BUCKETS, METRICS, placeAttrs, readGauges, requestAttrs, requestDurationAttrs, targetAttrs, type Attributes } from './metrics.js';

/** The slice of `@opentelemetry/api` used here (its types stay out of ours: it is optional). */
interface Instrument {
  add(value: number, attributes?: Attributes): void;
  record(value: number, attributes?: Attributes): void;
}
interface Observable {
  addCallback(cb: (result: { observe(value: number, attributes?: Attributes): void }) => void): void;
}
interface Meter {
  createCounter(name: string, options: object): Instrument;
  createHistogram(name: string, options: object): Instrument;
  createObservableGauge(name: string, options: object): Observable;
}
export interface Span {
  setAttribute(key: string, value: string | number): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}
interface OtelApi {
  metrics: { getMeterProvider(): { getMeter(name: string, version?: string): Meter } };
  trace: {
    getTracer(name: string, version?: string): { startSpan(name: string, options: object, context?: unknown): Span };
    setSpan(context: unknown, span: Span): unknown;
  };
  context: { active(): unknown };
  propagation: { inject(context: unknown, carrier: object, setter?: { set(carrier: object, key: string, value: string): void }): void };
  SpanKind: { CLIENT: number };
  SpanStatusCode: { ERROR: number };
}

const NAME = 'gateway-errors';
/** Kept in step with package.json by hand: the instrumentation scope's version. */
const VERSION = '0.1.0';

/** Where the API keeps registered providers: `Symbol.for('opentelemetry.js.api.<major>')`. */
const GLOBAL = Symbol.for('opentelemetry.js.api.1');
type Slot = { metrics?: object; trace?: object } | undefined;
const slot = (): Slot => (globalThis as { [GLOBAL]?: Slot })[GLOBAL];

let api: OtelApi | null | undefined;

/** `@opentelemetry/api`, or null when it cannot be loaded. `load` is replaceable for tests. */
export function loadApi(load: (id: string) => unknown = createRequire(import.meta.url)): OtelApi | null {
  if (api !== undefined) return api;
  try {
    api = load('@opentelemetry/api') as OtelApi;
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

interface Instruments {
  readonly provider: object;
  readonly requests: Instrument;
  readonly requestDuration: Instrument;
  readonly attempts: Instrument;
  readonly attemptDuration: Instrument;
  readonly retries: Instrument;
  readonly budgetExhausted: Instrument;
}

let instruments: Instruments | undefined;

/** The instruments of the provider registered now; made again when the app registers another. */
function current(): Instruments {
  const provider = slot()!.metrics!;
  if (instruments?.provider === provider) return instruments;
  const meter = api!.metrics.getMeterProvider().getMeter(NAME, VERSION);
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
  return (instruments = {
    provider,
    requests: meter.createCounter(METRICS.requests.name, opts(METRICS.requests)),
    requestDuration: meter.createHistogram(METRICS.requestDuration.name, opts(METRICS.requestDuration, buckets)),
    attempts: meter.createCounter(METRICS.attempts.name, opts(METRICS.attempts)),
    attemptDuration: meter.createHistogram(METRICS.attemptDuration.name, opts(METRICS.attemptDuration, buckets)),
    retries: meter.createCounter(METRICS.retries.name, opts(METRICS.retries)),
    budgetExhausted: meter.createCounter(METRICS.budgetExhausted.name, opts(METRICS.budgetExhausted)),
  });
}

/** Records request and attempt ends into the registered MeterProvider (events.ts calls it). */
export const otelMetrics: EndSink = {
  active: metricsOn,
  requestEnd(e: RequestEndEvent): void {
    const m = current();
    m.requests.add(1, requestAttrs(e));
    m.requestDuration.record(e.duration / 1000, requestDurationAttrs(e));
    if (e.reason === 'budget_exhausted') m.budgetExhausted.add(1, { ...placeAttrs(e.upstream) });
  },
  attemptEnd(e: AttemptEndEvent): void {
    const m = current();
    const attrs = attemptAttrs(e);
    m.attempts.add(1, attrs);
    m.attemptDuration.record(e.duration / 1000, attrs);
    if (e.attempt > 1) m.retries.add(1, targetAttrs(e.upstream, e.target));
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

/**
 * Start an attempt's span under `parent` and hand its trace context (traceparent, and whatever
 * else the app's propagator writes) to `setHeader`, before the upstream request's head is made.
 */
export function startAttemptSpan(parent: unknown, attrs: Attributes, setHeader: SetHeader | undefined): Span {
  const tracer = api!.trace.getTracer(NAME, VERSION);
  const span = tracer.startSpan(String(attrs['http.request.method'] === '_OTHER' ? 'HTTP' : attrs['http.request.method']), { kind: api!.SpanKind.CLIENT, attributes: attrs }, parent);
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
