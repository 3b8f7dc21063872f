/**
 * Every default, one frozen object per option group, a comment per line saying why that value.
 * The option types that document them are in options.ts and proxy-options.ts.
 */
import type { ExtraStatus } from './types.js';

/** The HTTP methods RFC 9110 §9.2.2 defines as idempotent. */
export const IDEMPOTENT_METHODS: readonly string[] = Object.freeze(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Defaults of `RetryPolicy`. */
export const RETRY_DEFAULTS = Object.freeze({
  retries: 2, // three attempts at most: enough to ride out a restart, little extra load
  methods: IDEMPOTENT_METHODS, // replaying these cannot duplicate an effect
  idempotencyKey: 'idempotency-key' as string | false, // the client's promise that a replay is safe
  statuses: [502, 503, 504] as readonly number[], // gateway statuses: another instance may answer
  baseDelay: 100, // ms; first retry waits 0-100 ms
  maxDelay: 2000, // ms; no single wait longer than 2 s
  bodyLimit: 1024 * 1024, // bytes kept for replay; larger bodies stream through once
});

/** Statuses `extraStatuses` may list: each has its own words in every locale and its own template. */
export const EXTRA_STATUSES: readonly ExtraStatus[] = Object.freeze([429, 500]);

/** Defaults of `GatewayErrorsOptions`. */
export const GATEWAY_DEFAULTS = Object.freeze({
  proxyName: 'gateway-errors', // RFC 9209 asks for a name that identifies the proxy, not a host
  retryAfter: 30, // seconds: long enough for a restart, short enough that people come back
  expose: false, // upstream internals stay private unless asked for
  keepUpstreamBody: false, // gateway errors get the branded answer by default
  bodyLimit: 1024 * 1024, // bytes recorded per request body for parser-consumed bodies
  extraStatuses: [] as readonly ExtraStatus[], // other statuses keep the app's own answers unless listed
});

/** Defaults of the scalar `GatewayProxyExtras`. */
export const PROXY_DEFAULTS = Object.freeze({
  connectTimeout: 5_000, // ms; a healthy loopback or LAN connect takes well under 100 ms
  responseTimeout: 30_000, // ms; a request hung longer than this is better answered with a 504
  deadline: 60_000, // ms; worst case otherwise: 3 attempts x (connect + response) + waits
  idleTimeout: 60_000, // ms; nginx's proxy_read_timeout: a stream silent for a minute is dead
  maxConcurrent: 0, // no limit unless asked: limits need knowledge of the upstream
});

/** Defaults of `RetryBudgetOptions`. */
export const BUDGET_DEFAULTS = Object.freeze({
  ratio: 0.2, // Envoy's and Finagle's default: at most 20% extra load from retries
  minPerSecond: 5, // a trickle of retries for quiet upstreams, small next to steady load
  window: 10_000, // ms: long enough to smooth bursts, short enough to recover fast
});

/** Defaults of `CircuitOptions`. */
export const CIRCUIT_DEFAULTS = Object.freeze({
  consecutiveFailures: 0, // off: a run of failures on one broken route says nothing of the others
  failureRate: 0.5, // Hystrix's errorThresholdPercentage: half of all requests failing is an outage
  window: 10_000, // ms; Hystrix's metrics.rollingStats.timeInMilliseconds
  minimumRps: 2, // 20 requests in the window before the rate counts (Hystrix's requestVolumeThreshold)
  halfOpenAfter: 5_000, // ms; Hystrix's sleep window: quick recovery, little probing load
});

/** Defaults of `OutlierOptions`. */
export const OUTLIER_DEFAULTS = Object.freeze({
  consecutiveFailures: 5, // Envoy's consecutive_5xx / consecutive_gateway_failure
  baseEjectionTime: 30_000, // ms; Envoy's base_ejection_time
  maxEjectionTime: 300_000, // ms; Envoy's max_ejection_time
  maxEjectionPercent: 10, // Envoy's max_ejection_percent (it too ejects one host at least)
});

/** Defaults of `HealthCheckOptions` (its `path` has none). */
export const HEALTH_CHECK_DEFAULTS = Object.freeze({
  interval: 10_000, // ms; Envoy's examples and nginx plus's default (5 s) are of this order
  timeout: 2_000, // ms
  unhealthyThreshold: 2, // nginx plus's fails=1 is twitchy; two in a row is a trend
  healthyThreshold: 2,
});

/** Defaults of `StaleOptions`. */
export const STALE_DEFAULTS = Object.freeze({
  maxBytes: 32 * 1024 * 1024, // a few thousand pages or API answers; small next to a Node heap
  maxEntryBytes: 1024 * 1024, // pages and JSON, not downloads or media
  // s; most incidents (a bad deploy, a restart loop, a database failover) end within an hour, and
  // a copy older than that grows misleading; origins that know better say stale-if-error=N.
  maxStale: 3600,
});
