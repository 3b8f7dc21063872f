/**
 * Metrics and traces an operator can put on a dashboard (README, "Metrics and traces"): a scripted
 * outage through real Express 5 and Koa 3 apps, recorded at once by the real OpenTelemetry SDK
 * (an in-memory metric reader, an in-memory span exporter) and by a real prom-client registry that
 * the app serves on /metrics, scraped over HTTP. Both must give the same exact counts.
 */
import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { context, metrics, propagation, trace, SpanKind, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { DataPointType, MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type express from 'express';
import type Koa from 'koa';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { CHANNELS, type RequestEndEvent } from '../../src/core/observe/events.js';
import { promLabel } from '../../src/core/observe/metrics.js';
import { prometheusMetrics, type PrometheusMetrics } from '../../src/prometheus.js';
import { forEachAdapter, type Adapter } from '../support/apps.js';
import { delay, eventually, send } from '../support/client.js';
import { startTarget, type TargetServer } from '../support/target.js';

/** Collects on demand: the SDK's pull reader without an exporter. */
class TestReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function listen(handler: http.RequestListener): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server = http.createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  cleanup.push(close);
  return { url: `http://127.0.0.1:${port}`, port, close };
}

/**
 * The scripted upstream: `/x/ok` 200, `/x/down` 503, `/x/flaky/<id>/<n>` 503 for the first n
 * requests of that id then 200, anything else 404. Records each request's traceparent.
 */
async function scriptedUpstream() {
  const seen = new Map<string, number>();
  const traceparents: string[] = [];
  const server = await listen((req, res) => {
    traceparents.push(String(req.headers.traceparent ?? ''));
    const path = (req.url ?? '/').split('?')[0]!.split('/').slice(2);
    req.resume();
    const answer = (status: number) => {
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    };
    if (path[0] === 'ok') return answer(200);
    if (path[0] === 'down') return answer(503);
    if (path[0] === 'flaky') {
      const n = (seen.get(path[1]!) ?? 0) + 1;
      seen.set(path[1]!, n);
      return answer(n <= Number(path[2]) ? 503 : 200);
    }
    answer(404);
  });
  return { ...server, traceparents };
}

interface Upstreams {
  a: string;
  b: string;
  c: TargetServer;
}

/** The three proxies of the outage script: a plain one, one with no retry budget, one with a quick breaker. */
function proxies(u: Upstreams): { prefix: string; options: Record<string, unknown> }[] {
  const retry = { retries: 2, baseDelay: 0, maxDelay: 0 };
  return [
    { prefix: '/a', options: { target: u.a, retry, circuit: false } },
    { prefix: '/b', options: { target: u.b, retry, circuit: false, budget: { ratio: 0, minPerSecond: 0 } } },
    { prefix: '/c', options: { target: u.c.url, retry: { ...retry, retries: 1 }, circuit: { consecutiveFailures: 2, halfOpenAfter: 300 } } },
    // Through http-proxy's own web() (followRedirects): the trace context is set on its request.
    { prefix: '/w', options: { target: u.a, retry, circuit: false, followRedirects: true } },
  ];
}


/** The app's own server span around everything, as @opentelemetry/instrumentation-http makes one. */
const TRACING: Record<Adapter['kind'], (tracer: Tracer) => unknown> = {
  express: (tracer) =>
    ((_req, res, next) => {
      tracer.startActiveSpan('incoming', { kind: SpanKind.SERVER }, (span) => {
        res.on('close', () => span.end());
        next();
      });
    }) satisfies express.RequestHandler,
  koa: (tracer) =>
    ((_ctx, next) =>
      tracer.startActiveSpan('incoming', { kind: SpanKind.SERVER }, async (span) => {
        try {
          await next();
        } finally {
          span.end();
        }
      })) satisfies Koa.Middleware,
};

/** The app serves the prom-client registry on /metrics, after gatewayErrors(). */
const METRICS_ROUTE: Record<Adapter['kind'], (registry: Registry) => unknown> = {
  express: (registry) =>
    ((req, res, next) => {
      if (req.method !== 'GET' || req.path !== '/metrics') return next();
      void registry.metrics().then((text) => res.type(registry.contentType).send(text));
    }) satisfies express.RequestHandler,
  koa: (registry) =>
    (async (ctx, next) => {
      if (ctx.path !== '/metrics') return next();
      ctx.type = registry.contentType;
      ctx.body = await registry.metrics();
    }) satisfies Koa.Middleware,
};

/** The row's app in front of the scripted upstreams; returns its URL. */
async function makeApp({ kind, mount }: Adapter, u: Upstreams, registry: Registry, tracer: Tracer): Promise<string> {
  const app = await mount({ before: [TRACING[kind](tracer)], between: [METRICS_ROUTE[kind](registry)], proxies: proxies(u) });
  cleanup.push(() => app.close());
  return app.url;
}

/** Series as `name{label="v",...}` (labels sorted) to value: the shape both exporters are compared in. */
type Series = Record<string, number>;

const key = (name: string, labels: Record<string, string | number>) =>
  `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`)
    .join(',')}}`;

/** prom-client's exposition text: every sample line of the named metrics. */
function parseProm(text: string, names: readonly string[]): Series {
  const out: Series = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || !names.includes(m[1]!)) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)) labels[k!] = v!;
    out[key(m[1]!, labels)] = Number(m[3]);
  }
  return out;
}

/** The SDK's collection in the same shape: counters and gauges by value, histograms as `_count`. */
function fromOtel(rm: ResourceMetrics): Series {
  const out: Series = {};
  for (const sm of rm.scopeMetrics) {
    if (sm.scope.name !== 'gateway-errors') continue;
    for (const m of sm.metrics) {
      const base = m.descriptor.name.replaceAll('.', '_');
      for (const dp of m.dataPoints) {
        const labels: Record<string, string | number> = {};
        for (const [k, v] of Object.entries(dp.attributes)) labels[promLabel(k)] = v as string | number;
        const v = dp.value as number | { count: number };
        if (typeof v === 'number') out[key(m.dataPointType === DataPointType.SUM ? `${base}_total` : base, labels)] = v;
        else out[key(`${base}_seconds_count`, labels)] = v.count;
      }
    }
  }
  return out;
}

const PROM_NAMES = [
  'gateway_errors_requests_total',
  'gateway_errors_attempts_total',
  'gateway_errors_retries_total',
  'gateway_errors_retry_budget_exhausted_total',
  'gateway_errors_request_duration_seconds_count',
  'gateway_errors_attempt_duration_seconds_count',
  'gateway_errors_circuit_state',
];

forEachAdapter('metrics and traces on $name', (adapter) => {
  let reader: TestReader;
  let spans: InMemorySpanExporter;
  let registry: Registry;
  let prom: PrometheusMetrics;
  let ends: RequestEndEvent[];

  beforeEach(() => {
    reader = new TestReader();
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    spans = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    registry = new Registry();
    prom = prometheusMetrics({ registry });
    ends = [];
    const onEnd = (e: unknown) => ends.push(e as RequestEndEvent);
    diagnostics.subscribe(CHANNELS.requestEnd, onEnd);
    cleanup.push(() => {
      diagnostics.unsubscribe(CHANNELS.requestEnd, onEnd);
      prom.stop();
      metrics.disable();
      trace.disable();
      context.disable();
      propagation.disable();
    });
  });

  async function outage() {
    const a = await scriptedUpstream();
    const b = await scriptedUpstream();
    const c = await startTarget('c');
    cleanup.push(() => c.close());
    const url = await makeApp(adapter, { a: a.url, b: b.url, c }, registry, trace.getTracer('test-app'));
    const statuses: number[] = [];
    const get = async (path: string, method = 'GET') => statuses.push((await send(`${url}${path}`, { method, headers: { accept: 'application/json' } })).status);
    // a: three fine, two recover after one 503, one gives up after three, a POST is not replayed, a 404 is the app's.
    for (let i = 0; i < 3; i++) await get('/a/ok');
    await get('/a/flaky/r1/1');
    await get('/a/flaky/r2/1');
    await get('/a/flaky/g1/5');
    await get('/a/down', 'POST');
    await get('/a/nothing');
    // b: no retry budget at all.
    await get('/b/down');
    await get('/b/down');
    // c: refuses; two failed requests open the breaker, two are refused at once, then it is back.
    await c.kill();
    await get('/c/x');
    await get('/c/x');
    await get('/c/x');
    await get('/c/x');
    expect(await eventually(() => ends.length === 14)).toBe(true);
    const open = parseProm((await send(`${url}/metrics`)).body, ['gateway_errors_circuit_state'])[key('gateway_errors_circuit_state', { gateway_errors_upstream: c.url, server_address: '127.0.0.1', server_port: c.port })];
    await c.restart();
    await delay(350);
    await get('/c/x');
    expect(await eventually(() => ends.length === 15)).toBe(true);
    return { a, b, c, url, statuses, open };
  }

  it('counts a scripted outage exactly, the same in OpenTelemetry and on /metrics', async () => {
    const { a, b, c, url, statuses, open } = await outage();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 503, 503, 404, 503, 503, 502, 502, 503, 503, 200]);
    const A = { gateway_errors_upstream: a.url, server_address: '127.0.0.1', server_port: a.port };
    const B = { gateway_errors_upstream: b.url, server_address: '127.0.0.1', server_port: b.port };
    const C = { gateway_errors_upstream: c.url, server_address: '127.0.0.1', server_port: c.port };
    const GET = { http_request_method: 'GET' };
    const expected: Series = {
      [key('gateway_errors_requests_total', { ...A, ...GET, gateway_errors_outcome: 'ok', http_response_status_code: 200 })]: 3,
      [key('gateway_errors_requests_total', { ...A, ...GET, gateway_errors_outcome: 'recovered', http_response_status_code: 200 })]: 2,
      [key('gateway_errors_requests_total', { ...A, ...GET, gateway_errors_outcome: 'gave_up', gateway_errors_reason: 'retries_exhausted', http_response_status_code: 503, error_type: '503' })]: 1,
      [key('gateway_errors_requests_total', { ...A, http_request_method: 'POST', gateway_errors_outcome: 'gave_up', gateway_errors_reason: 'not_replayable', http_response_status_code: 503, error_type: '503' })]: 1,
      [key('gateway_errors_requests_total', { ...A, ...GET, gateway_errors_outcome: 'ok', http_response_status_code: 404 })]: 1,
      [key('gateway_errors_requests_total', { ...B, ...GET, gateway_errors_outcome: 'gave_up', gateway_errors_reason: 'budget_exhausted', http_response_status_code: 503, error_type: '503' })]: 2,
      [key('gateway_errors_requests_total', { ...C, ...GET, gateway_errors_outcome: 'gave_up', gateway_errors_reason: 'retries_exhausted', http_response_status_code: 502, error_type: 'connection_refused' })]: 2,
      [key('gateway_errors_requests_total', { ...C, ...GET, gateway_errors_outcome: 'fast_fail', gateway_errors_reason: 'circuit_open', http_response_status_code: 503, error_type: 'destination_unavailable' })]: 2,
      [key('gateway_errors_requests_total', { ...C, ...GET, gateway_errors_outcome: 'ok', http_response_status_code: 200 })]: 1,
      [key('gateway_errors_request_duration_seconds_count', { ...A, ...GET, gateway_errors_outcome: 'ok', http_response_status_code: 200 })]: 3,
      [key('gateway_errors_request_duration_seconds_count', { ...A, ...GET, gateway_errors_outcome: 'recovered', http_response_status_code: 200 })]: 2,
      [key('gateway_errors_request_duration_seconds_count', { ...A, ...GET, gateway_errors_outcome: 'gave_up', http_response_status_code: 503 })]: 1,
      [key('gateway_errors_request_duration_seconds_count', { ...A, http_request_method: 'POST', gateway_errors_outcome: 'gave_up', http_response_status_code: 503 })]: 1,
      [key('gateway_errors_request_duration_seconds_count', { ...A, ...GET, gateway_errors_outcome: 'ok', http_response_status_code: 404 })]: 1,
      [key('gateway_errors_request_duration_seconds_count', { ...B, ...GET, gateway_errors_outcome: 'gave_up', http_response_status_code: 503 })]: 2,
      [key('gateway_errors_request_duration_seconds_count', { ...C, ...GET, gateway_errors_outcome: 'gave_up', http_response_status_code: 502 })]: 2,
      [key('gateway_errors_request_duration_seconds_count', { ...C, ...GET, gateway_errors_outcome: 'fast_fail', http_response_status_code: 503 })]: 2,
      [key('gateway_errors_request_duration_seconds_count', { ...C, ...GET, gateway_errors_outcome: 'ok', http_response_status_code: 200 })]: 1,
      // a: 3 + 2 + 1 answers; 2 + 3 + 1 upstream 503s. c: 2 x 2 refused, then the probe.
      [key('gateway_errors_attempts_total', { ...A, gateway_errors_attempt_result: 'ok' })]: 6,
      [key('gateway_errors_attempts_total', { ...A, gateway_errors_attempt_result: 'received_5xx' })]: 6,
      [key('gateway_errors_attempts_total', { ...B, gateway_errors_attempt_result: 'received_5xx' })]: 2,
      [key('gateway_errors_attempts_total', { ...C, gateway_errors_attempt_result: 'connection_refused' })]: 4,
      [key('gateway_errors_attempts_total', { ...C, gateway_errors_attempt_result: 'ok' })]: 1,
      [key('gateway_errors_attempt_duration_seconds_count', { ...A, gateway_errors_attempt_result: 'ok' })]: 6,
      [key('gateway_errors_attempt_duration_seconds_count', { ...A, gateway_errors_attempt_result: 'received_5xx' })]: 6,
      [key('gateway_errors_attempt_duration_seconds_count', { ...B, gateway_errors_attempt_result: 'received_5xx' })]: 2,
      [key('gateway_errors_attempt_duration_seconds_count', { ...C, gateway_errors_attempt_result: 'connection_refused' })]: 4,
      [key('gateway_errors_attempt_duration_seconds_count', { ...C, gateway_errors_attempt_result: 'ok' })]: 1,
      [key('gateway_errors_retries_total', A)]: 4,
      [key('gateway_errors_retries_total', C)]: 2,
      [key('gateway_errors_retry_budget_exhausted_total', B)]: 2,
      [key('gateway_errors_circuit_state', C)]: 0,
    };
    // The gauges also read the proxies of this file's earlier apps (alive until collected): this app's only.
    const ours = (series: Series) => Object.fromEntries(Object.entries(series).filter(([k]) => [a.url, b.url, c.url].some((u) => k.includes(`"${u}"`))));
    const scraped = parseProm((await send(`${url}/metrics`)).body, PROM_NAMES);
    expect(ours(scraped)).toEqual(expected);
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    expect(ours(fromOtel(resourceMetrics))).toEqual(expected);
    // While it was open, the breaker showed as 2.
    expect(open).toBe(2);
  });

  it('makes one CLIENT span per attempt under the incoming span, and sends its trace context upstream', async () => {
    const a = await scriptedUpstream();
    const b = await scriptedUpstream();
    const c = await startTarget('c');
    cleanup.push(() => c.close());
    const url = await makeApp(adapter, { a: a.url, b: b.url, c }, registry, trace.getTracer('test-app'));
    expect((await send(`${url}/a/flaky/t1/1`)).status).toBe(200);
    await eventually(() => spans.getFinishedSpans().some((s) => s.name === 'incoming'));
    const finished = spans.getFinishedSpans();
    const incoming = finished.find((s) => s.name === 'incoming')!;
    const attempts = finished.filter((s) => s.kind === SpanKind.CLIENT);
    expect(attempts).toHaveLength(2);
    for (const s of attempts) {
      expect(s.parentSpanContext?.spanId).toBe(incoming.spanContext().spanId);
      expect(s.spanContext().traceId).toBe(incoming.spanContext().traceId);
      expect(s.name).toBe('GET');
      expect(s.attributes['server.address']).toBe('127.0.0.1');
      expect(s.attributes['server.port']).toBe(a.port);
    }
    const [first, second] = attempts.sort((x, y) => Number(x.attributes['http.request.resend_count'] ?? 0) - Number(y.attributes['http.request.resend_count'] ?? 0));
    expect(first!.attributes['http.request.resend_count']).toBeUndefined();
    expect(first!.attributes['http.response.status_code']).toBe(503);
    expect(first!.attributes['error.type']).toBe('503');
    expect(first!.status.code).toBe(2); // ERROR
    expect(second!.attributes['http.request.resend_count']).toBe(1);
    expect(second!.attributes['http.response.status_code']).toBe(200);
    expect(second!.attributes['error.type']).toBeUndefined();
    // Each upstream request carried its own attempt's span as the parent, in the incoming trace.
    const traceId = incoming.spanContext().traceId;
    expect(a.traceparents).toEqual([`00-${traceId}-${first!.spanContext().spanId}-01`, `00-${traceId}-${second!.spanContext().spanId}-01`]);
  });

  it("sends the trace context upstream on the web() path too (followRedirects)", async () => {
    const a = await scriptedUpstream();
    const b = await scriptedUpstream();
    const c = await startTarget('c');
    cleanup.push(() => c.close());
    const url = await makeApp(adapter, { a: a.url, b: b.url, c }, registry, trace.getTracer('test-app'));
    expect((await send(`${url}/w/flaky/w1/1`)).status).toBe(200);
    await eventually(() => spans.getFinishedSpans().some((s) => s.name === 'incoming'));
    const incoming = spans.getFinishedSpans().find((s) => s.name === 'incoming')!;
    const attempts = spans.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
    expect(attempts.map((s) => s.parentSpanContext?.spanId)).toEqual([incoming.spanContext().spanId, incoming.spanContext().spanId]);
    const traceId = incoming.spanContext().traceId;
    expect(a.traceparents).toEqual(attempts.map((s) => `00-${traceId}-${s.spanContext().spanId}-01`));
  });

  it('reports an unknown method as _OTHER, with the original on the span', async () => {
    const a = await scriptedUpstream();
    const b = await scriptedUpstream();
    const c = await startTarget('c');
    cleanup.push(() => c.close());
    const url = await makeApp(adapter, { a: a.url, b: b.url, c }, registry, trace.getTracer('test-app'));
    await send(`${url}/a/ok`, { method: 'PURGE' });
    await eventually(() => ends.length === 1);
    const [span] = spans.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
    expect(span!.name).toBe('HTTP');
    expect(span!.attributes['http.request.method']).toBe('_OTHER');
    expect(span!.attributes['http.request.method_original']).toBe('PURGE');
    expect(await registry.metrics()).toContain('http_request_method="_OTHER"');
  });

  it('names the refused connection on the attempt span, and spans none for a request the breaker refused', async () => {
    const a = await scriptedUpstream();
    const b = await scriptedUpstream();
    const c = await startTarget('c');
    cleanup.push(() => c.close());
    const url = await makeApp(adapter, { a: a.url, b: b.url, c }, registry, trace.getTracer('test-app'));
    await c.kill();
    for (let i = 0; i < 3; i++) await send(`${url}/c/x`);
    await eventually(() => spans.getFinishedSpans().filter((s) => s.name === 'incoming').length === 3);
    const attempts = spans.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
    expect(attempts.map((s) => s.attributes['error.type'])).toEqual(['connection_refused', 'connection_refused', 'connection_refused', 'connection_refused']);
  });
});
