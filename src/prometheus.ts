/**
 * gateway-errors/prometheus: the gateway's metrics in a prom-client registry, for apps that
 * serve `/metrics` with prom-client and no OpenTelemetry. Same metrics, names and labels as an
 * OpenTelemetry Prometheus exporter would show (core/observe/metrics.ts), so one dashboard fits both.
 *
 * An entry point of its own, not an export of the core: it imports prom-client (an optional peer
 * dependency), which the core must never load, and its types name prom-client's Registry, which
 * must stay out of the core's types for apps that do not have it.
 *
 * It is built on the `gateway-errors:request-end` and `gateway-errors:attempt-end` diagnostics
 * channels, so it counts every gatewayProxy() of the process, however many copies of this package
 * made them, and the proxies pay for these events only while it listens.
 */
import diagnostics from 'node:diagnostics_channel';
import { Counter, Gauge, Histogram, register as globalRegistry, type Registry } from 'prom-client';
import { CHANNELS, type AttemptEndEvent, type RequestEndEvent } from './core/observe/events.js';
import {
  attemptAttrs,
  DURATION_BUCKETS,
  METRICS,
  placeAttrs,
  PROM_LABELS,
  promLabel,
  readGauges,
  requestAttrs,
  requestDurationAttrs,
  targetAttrs,
  type Attributes,
} from './core/observe/metrics.js';

export { METRICS, DURATION_BUCKETS } from './core/observe/metrics.js';

export interface PrometheusMetricsOptions {
  /** The registry to add the metrics to. @default prom-client's global `register` */
  registry?: Registry;
}

export interface PrometheusMetrics {
  /** Stop counting and remove the metrics from the registry. */
  stop(): void;
}

type Labels = Record<string, string | number>;

/** The attribute sets are cached (metrics.ts), so their label forms can be too. */
const labelCache = new WeakMap<object, Labels>();
function labels(attrs: Readonly<Attributes>): Labels {
  let out = labelCache.get(attrs);
  if (out !== undefined) return out;
  out = {};
  for (const key in attrs) out[promLabel(key)] = attrs[key]!;
  labelCache.set(attrs, out);
  return out;
}

const labelNames = (keys: readonly string[]) => keys.map(promLabel);

/**
 * Register the gateway's metrics (README, "Metrics and traces") in `registry` and keep them
 * current. Call once per registry, at start-up.
 *
 * @example
 * import { register } from 'prom-client';
 * import { prometheusMetrics } from 'gateway-errors/prometheus';
 * prometheusMetrics();
 * app.get('/metrics', async (_req, res) => res.type(register.contentType).send(await register.metrics()));
 */
export function prometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const registry = options.registry ?? globalRegistry;
  for (const m of Object.values(METRICS)) {
    if (registry.getSingleMetric(m.prom) !== undefined) {
      throw new Error(`gateway-errors: ${m.prom} is already in this registry: call prometheusMetrics() once per registry.`);
    }
  }
  const registers = [registry];
  type Key = keyof typeof PROM_LABELS & keyof typeof METRICS;
  const about = (k: Key) => ({ name: METRICS[k].prom, help: METRICS[k].description, labelNames: labelNames(PROM_LABELS[k]), registers });
  const counter = (k: Key) => new Counter(about(k));
  const histogram = (k: Key) => new Histogram({ ...about(k), buckets: [...DURATION_BUCKETS] });
  const requests = counter('requests');
  const requestDuration = histogram('requestDuration');
  const attempts = counter('attempts');
  const attemptDuration = histogram('attemptDuration');
  const retries = counter('retries');
  const budgetExhausted = counter('budgetExhausted');
  // Read at scrape time from the proxies' own state, not kept up to date per request.
  new Gauge({
    name: METRICS.circuitState.prom,
    help: METRICS.circuitState.description,
    labelNames: labelNames(PROM_LABELS.circuitState),
    registers,
    collect() {
      this.reset();
      for (const g of readGauges().circuits) this.set(labels(g.attrs), g.value);
    },
  });
  new Gauge({
    name: METRICS.targetUp.prom,
    help: METRICS.targetUp.description,
    labelNames: labelNames(PROM_LABELS.targetUp),
    registers,
    collect() {
      this.reset();
      for (const g of readGauges().targets) this.set(labels(g.attrs), g.value);
    },
  });

  const onRequest = (message: unknown): void => {
    const e = message as RequestEndEvent;
    requests.inc(labels(requestAttrs(e)));
    requestDuration.observe(labels(requestDurationAttrs(e)), e.duration / 1000);
    if (e.reason === 'budget_exhausted') budgetExhausted.inc(labels(placeAttrs(e.upstream)));
  };
  const onAttempt = (message: unknown): void => {
    const e = message as AttemptEndEvent;
    const l = labels(attemptAttrs(e));
    attempts.inc(l);
    attemptDuration.observe(l, e.duration / 1000);
    if (e.attempt > 1) retries.inc(labels(targetAttrs(e.upstream, e.target)));
  };
  diagnostics.subscribe(CHANNELS.requestEnd, onRequest);
  diagnostics.subscribe(CHANNELS.attemptEnd, onAttempt);
  return {
    stop() {
      diagnostics.unsubscribe(CHANNELS.requestEnd, onRequest);
      diagnostics.unsubscribe(CHANNELS.attemptEnd, onAttempt);
      for (const m of Object.values(METRICS)) registry.removeSingleMetric(m.prom);
    },
  };
}
