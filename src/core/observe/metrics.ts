/**
 * The metric catalogue, shared by the OpenTelemetry recorder (telemetry.ts) and the prom-client
 * helper (../prometheus.ts): names, units, attributes, buckets, and how one request-end or
 * attempt-end event becomes attributes. Both exporters read the same table, so a dashboard built
 * on one works on the other (the Prometheus names are what OpenTelemetry's Prometheus exporter
 * makes of the OpenTelemetry ones: dots to underscores, `_total` on counters, `_seconds` on
 * durations).
 *
 * Cardinality is bounded by construction: the upstream (a configured target or group), the
 * method (the HTTP semantic conventions' known methods, others as `_OTHER`), the outcome and
 * reason, the status and the error type. Never a path, a query or an id.
 * @see https://opentelemetry.io/docs/specs/semconv/http/http-metrics/
 */
import type { AttemptEndEvent, RequestEndEvent } from './events.js';

export type Attributes = Record<string, string | number>;

/** OTel's advice for HTTP durations, in seconds (semconv http.client.request.duration). */
export const DURATION_BUCKETS = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]);

/** The instruments, by role. `prom` is the Prometheus name. */
export const METRICS = Object.freeze({
  requests: {
    name: 'gateway_errors.requests',
    prom: 'gateway_errors_requests_total',
    unit: '{request}',
    description: 'Client requests through the proxy, by how they ended and the status the client got.',
  },
  requestDuration: {
    name: 'gateway_errors.request.duration',
    prom: 'gateway_errors_request_duration_seconds',
    unit: 's',
    description: 'Time from a request reaching the proxy to the end of its response, retries and waits included.',
  },
  attempts: {
    name: 'gateway_errors.attempts',
    prom: 'gateway_errors_attempts_total',
    unit: '{attempt}',
    description: 'Tries against an upstream target, by result.',
  },
  attemptDuration: {
    name: 'gateway_errors.attempt.duration',
    prom: 'gateway_errors_attempt_duration_seconds',
    unit: 's',
    description: "Time from an attempt's start to the upstream's response head or the failure.",
  },
  retries: {
    name: 'gateway_errors.retries',
    prom: 'gateway_errors_retries_total',
    unit: '{retry}',
    description: 'Attempts after the first of their request (Envoy upstream_rq_retry).',
  },
  budgetExhausted: {
    name: 'gateway_errors.retry_budget.exhausted',
    prom: 'gateway_errors_retry_budget_exhausted_total',
    unit: '{request}',
    description: 'Requests refused a retry because the retry budget was spent (Envoy upstream_rq_retry_overflow).',
  },
  circuitState: {
    name: 'gateway_errors.circuit.state',
    prom: 'gateway_errors_circuit_state',
    unit: '',
    description: "The upstream's circuit breaker: 0 closed, 1 half-open, 2 open.",
  },
  targetUp: {
    name: 'gateway_errors.target.up',
    prom: 'gateway_errors_target_up',
    unit: '',
    description: 'One of `targets`: 1 when it gets traffic, 0 when ejected or failing its health checks.',
  },
});

/** Attribute keys (OpenTelemetry spelling; Prometheus labels replace dots with underscores). */
export const ATTR = Object.freeze({
  upstream: 'gateway_errors.upstream',
  outcome: 'gateway_errors.outcome',
  reason: 'gateway_errors.reason',
  result: 'gateway_errors.attempt.result',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  method: 'http.request.method',
  status: 'http.response.status_code',
  errorType: 'error.type',
});

/** Labels each Prometheus metric carries, in the catalogue's order. */
export const PROM_LABELS = Object.freeze({
  requests: [ATTR.upstream, ATTR.serverAddress, ATTR.serverPort, ATTR.method, ATTR.outcome, ATTR.reason, ATTR.status, ATTR.errorType],
  requestDuration: [ATTR.upstream, ATTR.serverAddress, ATTR.serverPort, ATTR.method, ATTR.outcome, ATTR.status],
  attempts: [ATTR.upstream, ATTR.serverAddress, ATTR.serverPort, ATTR.result],
  attemptDuration: [ATTR.upstream, ATTR.serverAddress, ATTR.serverPort, ATTR.result],
  retries: [ATTR.upstream, ATTR.serverAddress, ATTR.serverPort],
  budgetExhausted: [ATTR.upstream, ATTR.serverAddress, ATTR.serverPort],
  circuitState: [ATTR.upstream, ATTR.serverAddress, ATTR.serverPort],
  targetUp: [ATTR.upstream, ATTR.serverAddress, ATTR.serverPort],
} satisfies Record<keyof typeof METRICS, readonly string[]>);

export const promLabel = (key: string): string => key.replaceAll('.', '_');

/** semconv: `http.request.method` is one of these, as sent; anything else is `_OTHER`. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE']);
export const methodAttr = (method: string): string => (KNOWN_METHODS.has(method) ? method : '_OTHER');

const places = new Map<string, Attributes>();

/**
 * `gateway_errors.upstream`, plus `server.address` and `server.port` when it is one origin (a
 * group of `targets` is several: its name stands for them). Cached: a handful of upstreams.
 */
export function placeAttrs(upstream: string): Readonly<Attributes> {
  let a = places.get(upstream);
  if (a !== undefined) return a;
  a = { [ATTR.upstream]: upstream };
  if (!upstream.includes(',') && URL.canParse(upstream)) {
    const u = new URL(upstream);
    a[ATTR.serverAddress] = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    a[ATTR.serverPort] = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  }
  // Bounded like the upstreams themselves (upstream.ts): a router inventing targets cannot grow it.
  if (places.size >= 1000) places.delete(places.keys().next().value!);
  places.set(upstream, Object.freeze(a));
  return a;
}

/**
 * Attribute sets are few (bounded above) and asked for on every request and attempt: each is
 * built once and handed out again, frozen. They are found by walking nested Maps one value at a
 * time (upstream, then method, ...), so a lookup builds no key string; a set for a new
 * combination is made once. Bounded: past ATTR_CACHE_MAX sets, all are forgotten and rebuilt.
 */
type Level = Map<unknown, unknown>;
let sets = new Map<string, Level>();
let setCount = 0;
const ATTR_CACHE_MAX = 4096;

function child(m: Level, key: unknown): Level {
  let c = m.get(key) as Level | undefined;
  if (c === undefined) m.set(key, (c = new Map()));
  return c;
}

/** The Map where the set for (kind, a, b, c) is kept under its last value. */
function levelOf(kind: string, a: unknown, b: unknown, c: unknown): Level {
  let root = sets.get(kind);
  if (root === undefined) sets.set(kind, (root = new Map()));
  return child(child(child(root, a), b), c);
}

function remember<T extends object>(level: Level, key: unknown, value: T): Readonly<T> {
  if (++setCount > ATTR_CACHE_MAX) {
    sets = new Map();
    setCount = 1;
  }
  level.set(key, Object.freeze(value));
  return value;
}

/** The place of one attempt: its target, within the upstream (group) it belongs to. */
export function targetAttrs(upstream: string, target: string): Readonly<Attributes> {
  if (upstream === target) return placeAttrs(target);
  const level = levelOf('target', upstream, '', '');
  return (level.get(target) as Readonly<Attributes> | undefined) ?? remember(level, target, { ...placeAttrs(target), [ATTR.upstream]: upstream });
}

/** `error.type` of a request: the Proxy-Status error type, or the upstream's failing status. */
export function errorTypeOf(e: RequestEndEvent): string | undefined {
  return e.error ?? (e.receivedStatus === undefined ? undefined : String(e.receivedStatus));
}

export function requestAttrs(e: RequestEndEvent): Readonly<Attributes> {
  const level = levelOf('request', e.upstream, e.method, e.outcome);
  // A request that did not fail (the common case) has no failure to tell apart.
  const key = e.reason === undefined && e.error === undefined && e.receivedStatus === undefined ? e.status : `${e.status} ${e.reason} ${e.error} ${e.receivedStatus}`;
  const hit = level.get(key) as Readonly<Attributes> | undefined;
  if (hit !== undefined) return hit;
  const a: Attributes = { ...placeAttrs(e.upstream), [ATTR.method]: methodAttr(e.method), [ATTR.outcome]: e.outcome };
  if (e.reason !== undefined) a[ATTR.reason] = e.reason;
  if (e.status !== undefined) a[ATTR.status] = e.status;
  const type = errorTypeOf(e);
  if (type !== undefined) a[ATTR.errorType] = type;
  return remember(level, key, a);
}

/** The duration histogram's smaller set: no reason, no error type (they live on the counter). */
export function requestDurationAttrs(e: RequestEndEvent): Readonly<Attributes> {
  const level = levelOf('duration', e.upstream, e.method, e.outcome);
  const hit = level.get(e.status) as Readonly<Attributes> | undefined;
  if (hit !== undefined) return hit;
  const a: Attributes = { ...placeAttrs(e.upstream), [ATTR.method]: methodAttr(e.method), [ATTR.outcome]: e.outcome };
  if (e.status !== undefined) a[ATTR.status] = e.status;
  return remember(level, e.status, a);
}

/** `ok`, the RFC 9209 type, or `received_5xx` / `received_4xx` for a failing upstream status. */
export function attemptResult(e: AttemptEndEvent): string {
  if (e.result === 'received_status') return `received_${Math.floor((e.status ?? 500) / 100)}xx`;
  return e.result;
}

export function attemptAttrs(e: AttemptEndEvent): Readonly<Attributes> {
  const level = levelOf('attempt', e.upstream, e.target, e.result);
  // Only a failing status changes the set (received_4xx / received_5xx).
  const key = e.result === 'received_status' ? e.status : undefined;
  return (level.get(key) as Readonly<Attributes> | undefined) ?? remember(level, key, { ...targetAttrs(e.upstream, e.target), [ATTR.result]: attemptResult(e) });
}

/**
 * An attempt's span: its name (the method, `HTTP` for one outside the known set) and attributes
 * (where it went, the method, the resend count), the same for every attempt alike.
 */
export function spanOf(target: string, method: string, resends: number): { readonly name: string; readonly attrs: Readonly<Attributes> } {
  const level = levelOf('span', target, method, '');
  const hit = level.get(resends) as { name: string; attrs: Readonly<Attributes> } | undefined;
  if (hit !== undefined) return hit;
  const { [ATTR.upstream]: _, ...place } = placeAttrs(target);
  const known = methodAttr(method);
  const attrs: Attributes = { ...place, [ATTR.method]: known };
  // semconv: a method outside the known set is `_OTHER`, the original kept beside it on spans.
  if (known === '_OTHER') attrs['http.request.method_original'] = method;
  if (resends > 0) attrs['http.request.resend_count'] = resends;
  return remember(level, resends, { name: known === '_OTHER' ? 'HTTP' : known, attrs: Object.freeze(attrs) });
}

/** Circuit state as a number: what a gauge can carry and a PromQL comparison can test. */
export const CIRCUIT_VALUE = Object.freeze({ closed: 0, 'half-open': 1, open: 2 } as const);

/** What the gauges read: an upstream's circuit and, for `targets`, each target's health. */
export interface Tracked {
  readonly name: string;
  readonly circuit?: { state(): 'closed' | 'open' | 'half-open' } | undefined;
  readonly targets?: { state(): readonly { url: string; healthy: boolean }[] } | undefined;
}

/**
 * Upstreams seen by an observed request, for the gauges. Weakly held (an app that drops a
 * gatewayProxy() drops its upstreams), and kept on globalThis so the ES module and CommonJS
 * copies of this package, loaded side by side, report into one list.
 */
interface Registry {
  readonly refs: Set<WeakRef<Tracked>>;
  readonly seen: WeakSet<Tracked>;
}
const REGISTRY = Symbol.for('gateway-errors.tracked-upstreams');
const registry: Registry = ((globalThis as { [REGISTRY]?: Registry })[REGISTRY] ??= { refs: new Set(), seen: new WeakSet() });

export function track(t: Tracked): void {
  if (registry.seen.has(t)) return;
  registry.seen.add(t);
  registry.refs.add(new WeakRef(t));
}

/** One reading per upstream name (two gatewayProxy() to one origin: the worse circuit) and per target. */
export function readGauges(): { circuits: { attrs: Attributes; value: number }[]; targets: { attrs: Attributes; value: number }[] } {
  const circuits = new Map<string, number>();
  const targets = new Map<string, { attrs: Attributes; value: number }>();
  for (const ref of registry.refs) {
    const t = ref.deref();
    if (t === undefined) {
      registry.refs.delete(ref);
      continue;
    }
    if (t.circuit !== undefined) {
      const v = CIRCUIT_VALUE[t.circuit.state()];
      circuits.set(t.name, Math.max(v, circuits.get(t.name) ?? 0));
    }
    for (const s of t.targets?.state() ?? []) {
      const key = `${t.name}\u0000${s.url}`;
      const value = s.healthy ? 1 : 0;
      const prev = targets.get(key);
      if (prev === undefined || value < prev.value) targets.set(key, { attrs: targetAttrs(t.name, new URL(s.url).origin), value });
    }
  }
  return { circuits: [...circuits].map(([name, value]) => ({ attrs: { ...placeAttrs(name) }, value })), targets: [...targets.values()] };
}
