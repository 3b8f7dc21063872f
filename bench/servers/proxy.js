/**
 * One proxy under test, in its own process: `node proxy.js <kind> <target> [json extra options]`.
 * Listens on 127.0.0.1 port 0 and reports { type: 'ready', port } over IPC.
 *
 * Each peer is set up the way its README shows, with its defaults, unless the kind's name says
 * otherwise ("keep-alive agent"). Ours is the BUILT package (dist/): the run's private copy when
 * BENCH_PACKAGE_DIR is set, else imported by the package's own name, as users import it.
 *
 * IPC: { id, cmd: 'rss-start' } records the baseline RSS (after a GC) and samples RSS every
 * 20 ms; { id, cmd: 'rss-stop' } -> { id, baseline, peak, heap, majorGCs, minorGCs }: bytes, the
 * live JS heap at the baseline, and the collections V8 ran in between. { cmd: 'exit' } exits
 * (which also writes a --cpu-prof profile). { id, cmd: 'cpu' } -> { id, us }: CPU time used so far.
 * { id, cmd: 'otel-off' | 'otel-on' } -> { id, on }: switch the BENCH_OTEL SDK off and on again.
 *
 * BENCH_APP_HEAP_MIB=N: before the server starts, the process builds about N MiB of live objects
 * and keeps them, standing in for what a real app holds (routes, config, caches, its other
 * modules). V8 collects a process with an old generation of a few MiB differently from a real
 * one (see the memory section of bench/README.md); this puts every subject in the same regime.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import { PerformanceObserver, constants as perf } from 'node:perf_hooks';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const [kind, target, extraJson] = process.argv.slice(2);

/**
 * BENCH_OTEL=metrics|traces|both: register an OpenTelemetry SDK before anything else, as an app
 * that uses it does, exporting to nowhere (a periodic metric reader every 10 s, spans batched and
 * dropped, AsyncLocalStorage context), so a healthy run measures what recording costs. Every
 * subject gets it; only ours records. BENCH_OTEL=events: no SDK, a no-op subscriber to ours's
 * request-end and attempt-end channels instead.
 */
/**
 * The SDK registerOtel() registered, switched off and on again over IPC ('otel-off', 'otel-on'),
 * so that scenario 9 measures one process with and without it: two processes of the same code
 * differ by more than what recording costs. Off unregisters the providers from the API (ours
 * then records nothing, as with none registered) and stops the floor's recording (`on`).
 */
const otel = { on: false, enable() {}, disable() {} };

async function registerOtel(what) {
  if (what === 'events') {
    // No SDK: a no-op subscriber to the request-end and attempt-end channels, so ours observes
    // every request (what observing costs apart from any SDK).
    const diagnostics = require('node:diagnostics_channel');
    for (const name of ['gateway-errors:request-end', 'gateway-errors:attempt-end']) diagnostics.subscribe(name, () => {});
    return;
  }
  const api = require('@opentelemetry/api');
  const nowhere = { export: (_items, done) => done({ code: 0 }), shutdown: async () => {}, forceFlush: async () => {} };
  let meterProvider;
  if (what === 'metrics' || what === 'both') {
    const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
    const reader = new PeriodicExportingMetricReader({ exporter: nowhere, exportIntervalMillis: 10_000 });
    meterProvider = new MeterProvider({ readers: [reader] });
  }
  let traces;
  if (what === 'traces' || what === 'both') {
    const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
    const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
    const { W3CTraceContextPropagator } = require('@opentelemetry/core');
    traces = {
      contextManager: new AsyncLocalStorageContextManager(),
      propagator: new W3CTraceContextPropagator(),
      provider: new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(nowhere)] }),
    };
  }
  otel.enable = () => {
    if (meterProvider) api.metrics.setGlobalMeterProvider(meterProvider);
    if (traces) {
      api.context.setGlobalContextManager(traces.contextManager.enable());
      api.propagation.setGlobalPropagator(traces.propagator);
      api.trace.setGlobalTracerProvider(traces.provider);
    }
    otel.on = true;
  };
  otel.disable = () => {
    // context.disable() also disables the context manager: enable() enables it again.
    api.metrics.disable();
    api.trace.disable();
    api.propagation.disable();
    api.context.disable();
    otel.on = false;
  };
  otel.enable();
}
if (process.env.BENCH_OTEL) await registerOtel(process.env.BENCH_OTEL);
const extra = extraJson ? JSON.parse(extraJson) : {};
const targetUrl = new URL(target);

/** The run's private copy of the built package (see run.js), else the package by its own name. */
function ours(entry) {
  const dir = process.env.BENCH_PACKAGE_DIR;
  return import(dir ? pathToFileURL(join(dir, 'dist', entry, 'index.js')).href : `gateway-errors/${entry}`);
}

/** The floor: a hand-written hop with a keep-alive agent, no framework, no error page. */
function bareHop() {
  const agent = new http.Agent({ keepAlive: true });
  return (req, res) => {
    const upstream = http.request(
      { hostname: targetUrl.hostname, port: targetUrl.port, path: req.url, method: req.method, headers: req.headers, agent },
      (upRes) => {
        res.writeHead(upRes.statusCode, upRes.headers);
        upRes.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(502, { 'content-type': 'text/plain', 'content-length': 11 });
      res.end('Bad Gateway');
    });
    req.pipe(upstream);
  };
}

/**
 * The SDK's own floor: the bare hop recording what ours records on a healthy request, with all
 * that can be made once made once — the two duration histograms with fixed attribute sets of the
 * same shape, and (with a TracerProvider) one CLIENT span per request with its traceparent sent
 * upstream. Our counters are observable (read at collection), so they cost the SDK nothing per
 * request. What this process pays over the bare hop is what any instrumentation pays.
 */
function bareRecording() {
  const api = require('@opentelemetry/api');
  const hop = bareHop();
  const place = { 'gateway_errors.upstream': target, 'server.address': targetUrl.hostname, 'server.port': Number(targetUrl.port) };
  const requestAttrs = Object.freeze({ ...place, 'http.request.method': 'GET', 'gateway_errors.outcome': 'ok', 'http.response.status_code': 200 });
  const attemptAttrs = Object.freeze({ ...place, 'gateway_errors.attempt.result': 'ok' });
  const meter = api.metrics.getMeter('bench-floor');
  const requestDuration = meter.createHistogram('gateway_errors.request.duration', { unit: 's' });
  const attemptDuration = meter.createHistogram('gateway_errors.attempt.duration', { unit: 's' });
  const tracer = process.env.BENCH_OTEL === 'traces' || process.env.BENCH_OTEL === 'both' ? api.trace.getTracer('bench-floor') : undefined;
  const spanAttrs = Object.freeze({ 'server.address': place['server.address'], 'server.port': place['server.port'], 'http.request.method': 'GET' });
  const setter = { set: (headers, key, value) => (headers[key] = value) };
  return (req, res) => {
    if (!otel.on) return hop(req, res);
    const start = performance.now();
    if (tracer !== undefined) {
      const parent = api.context.active();
      const span = tracer.startSpan('GET', { kind: api.SpanKind.CLIENT, attributes: spanAttrs }, parent);
      api.propagation.inject(api.trace.setSpan(parent, span), req.headers, setter);
      res.once('finish', () => {
        span.setAttribute('http.response.status_code', res.statusCode);
        span.end();
      });
    }
    res.once('finish', () => {
      const d = (performance.now() - start) / 1000;
      attemptDuration.record(d, attemptAttrs);
      requestDuration.record(d, requestAttrs);
    });
    hop(req, res);
  };
}

function hpm(keepAlive) {
  const { createProxyMiddleware } = require('http-proxy-middleware');
  return createProxyMiddleware({ target, ...(keepAlive && { agent: new http.Agent({ keepAlive: true }) }) });
}

function expressApp(mount) {
  const express = require('express');
  const app = express();
  mount(app);
  return app;
}

/** Koa in front of a hop that writes the answer itself. */
function koaApp(hop) {
  const Koa = require('koa');
  const app = new Koa();
  app.silent = true;
  app.use((ctx) => {
    ctx.respond = false;
    hop(ctx.req, ctx.res);
  });
  return app.callback();
}

/** Each kind returns a request listener or, for Fastify, a listening server. */
const KINDS = {
  bare: async () => bareHop(),
  hpm: async () => hpm(true),
  fastify: async () => {
    const Fastify = require('fastify');
    const app = Fastify({ logger: false });
    await app.register(require('@fastify/reply-from'), { base: target });
    app.all('/*', (request, reply) => reply.from(request.url));
    await app.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
    return app.server;
  },
  'express-bare': async () => expressApp((app) => app.use(bareHop())),
  'express-bare-recording': async () => expressApp((app) => app.use(bareRecording())),
  'express-hpm': async () => expressApp((app) => app.use(hpm(true))),
  'express-hpm-defaults': async () => expressApp((app) => app.use(hpm(false))),
  'express-http-proxy': async () => expressApp((app) => app.use(require('express-http-proxy')(target))),
  'koa-bare': async () => koaApp(bareHop()),
  'koa-bare-recording': async () => koaApp(bareRecording()),
  // Diagnostics for bench/ab.js (not in the full run): Koa with http-proxy-middleware alone, what
  // proxying through it costs before anything of ours.
  'koa-hpm': async () => {
    const proxy = hpm(true);
    return koaApp((req, res) => proxy(req, res, () => {}));
  },
  'koa-proxies': async () => {
    const Koa = require('koa');
    const app = new Koa();
    app.silent = true; // no stack traces on stderr when a client hangs up at the end of a run
    app.use(require('koa-proxies')('/', { target }));
    return app.callback();
  },
  'ours-express': async () => {
    const { gatewayErrors, gatewayProxy } = await ours('express');
    return expressApp((app) => {
      const gateway = gatewayErrors();
      app.use(gateway);
      // `targets` in the extra options stand instead of `target`.
      app.use(gatewayProxy(extra.targets ? extra : { target, ...extra }));
      app.use(gateway.errorHandler);
    });
  },
  // Diagnostics for bench/ab.js (not in the full run): what one more Express layer costs, and
  // ours without gatewayErrors() in front.
  'express-noop-hpm': async () => expressApp((app) => {
    app.use((req, res, next) => next());
    app.use(hpm(true));
  }),
  'ours-express-proxy-only': async () => {
    const { gatewayProxy } = await ours('express');
    return expressApp((app) => app.use(gatewayProxy({ target, ...extra })));
  },
  'ours-koa': async () => {
    const Koa = require('koa');
    const { gatewayErrors, gatewayProxy } = await ours('koa');
    const app = new Koa();
    app.silent = true;
    app.use(gatewayErrors());
    app.use(gatewayProxy({ target, ...extra }));
    return app.callback();
  },
  // Diagnostics for bench/ab.js (not in the full run): ours on Koa without gatewayErrors() in front.
  'ours-koa-proxy-only': async () => {
    const Koa = require('koa');
    const { gatewayProxy } = await ours('koa');
    const app = new Koa();
    app.silent = true;
    app.use(gatewayProxy({ target, ...extra }));
    return app.callback();
  },
};

/** Live objects standing in for an app's own heap (BENCH_APP_HEAP_MIB); kept until exit. */
const appHeap = [];
function buildAppHeap(mibs) {
  if (!(mibs > 0)) return;
  const live = () => {
    globalThis.gc(); // the bench starts every server with --expose-gc: live bytes, not garbage
    return process.memoryUsage().heapUsed;
  };
  const start = live();
  while (live() - start < mibs * 1048576) {
    for (let i = 0; i < 10_000; i++) appHeap.push({ id: appHeap.length, path: `/route/${appHeap.length}`, methods: ['GET', 'POST'] });
  }
}
buildAppHeap(Number(process.env.BENCH_APP_HEAP_MIB ?? 0));

const make = KINDS[kind];
if (make === undefined) throw new Error(`unknown proxy kind ${kind}`);
const made = await make();
let server;
if (made instanceof http.Server) server = made;
else {
  server = http.createServer(made);
  await new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
}
server.keepAliveTimeout = 60_000;
server.headersTimeout = 61_000;

let sampler;
let baseline = 0;
let peak = 0;
let heap = 0;
const gcs = { major: 0, minor: 0 };
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if (e.detail?.kind === perf.NODE_PERFORMANCE_GC_MAJOR) gcs.major++;
    else if (e.detail?.kind === perf.NODE_PERFORMANCE_GC_MINOR) gcs.minor++;
  }
});
process.on('message', (m) => {
  if (m.cmd === 'rss-start') {
    globalThis.gc?.();
    baseline = process.memoryUsage.rss();
    heap = process.memoryUsage().heapUsed;
    peak = baseline;
    gcs.major = 0;
    gcs.minor = 0;
    gcObserver.observe({ entryTypes: ['gc'] });
    clearInterval(sampler);
    sampler = setInterval(() => {
      const rss = process.memoryUsage.rss();
      if (rss > peak) peak = rss;
    }, 20);
    process.send({ id: m.id, baseline });
  } else if (m.cmd === 'rss-stop') {
    clearInterval(sampler);
    const rss = process.memoryUsage.rss();
    if (rss > peak) peak = rss;
    // A GC's entry reaches the observer two turns of the event loop later: let the last ones arrive.
    setImmediate(() =>
      setImmediate(() => {
        gcObserver.disconnect();
        process.send({ id: m.id, baseline, peak, heap, majorGCs: gcs.major, minorGCs: gcs.minor });
      }),
    );
  } else if (m.cmd === 'cpu') {
    const u = process.cpuUsage();
    process.send({ id: m.id, us: u.user + u.system });
  } else if (m.cmd === 'otel-on' || m.cmd === 'otel-off') {
    if (m.cmd === 'otel-on') otel.enable();
    else otel.disable();
    process.send({ id: m.id, on: otel.on });
  } else if (m.cmd === 'exit') process.exit(0);
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready', port: server.address().port });
