/**
 * The options `gatewayProxy` adds to http-proxy-middleware's, and their checked forms. Their
 * defaults are in defaults.ts; the engine modules that use them import them from here.
 */
import type { GatewayHooks, GatewayLogger } from './hooks.js';
import type { GatewayErrorsOptions, RetryPolicy } from './options.js';

export interface RetryBudgetOptions {
  /** Retries as a fraction of requests in the window. @default 0.2 */
  ratio?: number;
  /** Retries per second always allowed, so low traffic can still retry. @default 5 */
  minPerSecond?: number;
  /** Window length in ms, kept as one-second buckets. @default 10000 */
  window?: number;
}

export interface CircuitOptions {
  /** Also open after this many failed requests in a row; `0` leaves it to the rate. @default 0 */
  consecutiveFailures?: number;
  /** Open when more than this fraction (strictly between 0 and 1) of requests fails within `window`... @default 0.5 */
  failureRate?: number;
  /** ...measured over this many ms... @default 10000 */
  window?: number;
  /** ...once at least this many requests per second were seen (no verdicts on a trickle). @default 2 */
  minimumRps?: number;
  /** ms the circuit stays open before one probe is let through. @default 5000 */
  halfOpenAfter?: number;
}

export interface TargetSpec {
  url: string;
  /** Relative share of the traffic. @default 1 */
  weight?: number;
}

export interface OutlierOptions {
  /** Failed attempts in a row (connection failures, 502/503/504) that eject a target. @default 5 */
  consecutiveFailures?: number;
  /** ms of the first ejection; each further one lasts this times the count. @default 30000 */
  baseEjectionTime?: number;
  /** ms an ejection lasts at most. @default 300000 */
  maxEjectionTime?: number;
  /** Share of the targets (0-100) ejected at once at most; at least one is always allowed. @default 10 */
  maxEjectionPercent?: number;
}

export interface HealthCheckOptions {
  /** Path probed with GET on each target; a 2xx or 3xx answer is healthy. */
  path: string;
  /** ms between probes of a target. @default 10000 */
  interval?: number;
  /** ms a probe may take. @default 2000 */
  timeout?: number;
  /** Failed probes in a row that take a target out. @default 2 */
  unhealthyThreshold?: number;
  /** Good probes in a row that bring it back. @default 2 */
  healthyThreshold?: number;
}

export type NormalizedOutlier = Required<OutlierOptions>;
export type NormalizedHealthCheck = Required<HealthCheckOptions>;

/**
 * One stored answer. Plain data (JSON-serialisable but for the body), so a shared store can keep
 * it anywhere.
 */
export interface StaleEntry {
  /** http-cache-semantics' `CachePolicy#toObject()`: the stored request and response heads. */
  readonly policy: Readonly<Record<string, unknown>>;
  readonly status: number;
  readonly body: Buffer;
  /** Bytes the entry takes: body plus heads, an estimate. */
  readonly size: number;
}

/**
 * Where copies are kept. The default is an in-memory LRU bounded in bytes; a team can plug a
 * shared one (Redis, ...). Every method may return a promise. `ttl` is in ms: after it the entry
 * is of no use and may be dropped.
 */
export interface StaleStore {
  get(key: string): StaleEntry | undefined | Promise<StaleEntry | undefined>;
  set(key: string, entry: StaleEntry, ttl: number): void | Promise<void>;
  delete(key: string): void | Promise<void>;
}

/** The `stale` option of `gatewayProxy`. */
export interface StaleOptions {
  /** Bytes all copies of the built-in store may take together (not with `store`). @default 33554432 (32 MiB) */
  maxBytes?: number;
  /** A larger answer is not kept (it still streams to the client untouched). @default 1048576 (1 MiB) */
  maxEntryBytes?: number;
  /**
   * Seconds past its freshness a copy may still be sent when the upstream gave no
   * `stale-if-error`; the upstream's own `stale-if-error=N` wins when present.
   * @default 3600
   * @see https://www.rfc-editor.org/rfc/rfc5861#section-4
   */
  maxStale?: number;
  /** A store of your own instead of the in-memory LRU. @default an lru-cache of `maxBytes` */
  store?: StaleStore;
}

/** Options `gatewayProxy` adds to http-proxy-middleware's. */
export interface GatewayProxyExtras<TReq = unknown> extends GatewayHooks {
  /** Retry policy, `false` to never retry, or a function of the framework's request (Express `req`, Koa `ctx`). */
  retry?: RetryPolicy | false | ((req: TReq) => RetryPolicy | false);
  /** ms to establish the upstream connection before failing with 504 `connection_timeout`. @default 5000 */
  connectTimeout?: number;
  /**
   * ms from a connected socket to the upstream's response head before failing with 504
   * `http_response_timeout`. Unlike http-proxy's `proxyTimeout` it never cuts a streaming body.
   * @default 30000
   */
  responseTimeout?: number;
  /**
   * ms for the whole request up to the response head, across all attempts and waits: no wait
   * starts that would end after it, and the client has its answer by then. `0` disables.
   * @default 60000
   */
  deadline?: number;
  /**
   * ms a streaming response body may stay silent before the connection is ended (the head has
   * left, so no error page: the client sees an incomplete response). `0` disables.
   * @default 60000
   */
  idleTimeout?: number;
  /** Retry budget per upstream; `false` disables. @default { ratio: 0.2, minPerSecond: 5, window: 10000 } */
  budget?: RetryBudgetOptions | false;
  /** Circuit breaker per upstream; `false` disables. @default see CIRCUIT_DEFAULTS */
  circuit?: CircuitOptions | false;
  /**
   * Requests in flight per upstream; beyond it, answer 503 `connection_limit_reached` at once
   * instead of queueing without bound. `0` means no limit. @default 0
   */
  maxConcurrent?: number;
  /**
   * Serve the last good copy of a GET when the upstream fails (RFC 5861 stale-if-error): answers
   * that RFC 9111 lets a shared cache store are copied as they stream; when a request later ends
   * in a 502/503/504, the copy is sent instead, with `Age` and `Cache-Status`. `true` for the
   * defaults. @default false
   * @see https://www.rfc-editor.org/rfc/rfc5861#section-4
   */
  stale?: boolean | StaleOptions;
  /** Options of the `gatewayErrors()` whose answers this proxy gives when none is installed before it. */
  errors?: GatewayErrorsOptions;
  /**
   * Several upstream targets, load-balanced (power of two choices on requests in flight, by
   * weight), with retries going to a target not yet tried and passive ejection of failing ones.
   * Mutually exclusive with `target` and `router`.
   */
  targets?: ReadonlyArray<string | TargetSpec>;
  /** Outlier detection for `targets`; `false` never ejects. @default see OUTLIER_DEFAULTS */
  outlier?: OutlierOptions | false;
  /** Active health checks of each of `targets`. @default none */
  healthCheck?: HealthCheckOptions;
}

/** Checked `stale` settings; without a `store`, the engine keeps copies in an LRU of `maxBytes`. */
export interface NormalizedStale {
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  readonly maxStale: number;
  readonly store: StaleStore | undefined;
}

export interface NormalizedProxyExtras {
  readonly connectTimeout: number;
  readonly responseTimeout: number;
  readonly deadline: number;
  readonly idleTimeout: number;
  readonly maxConcurrent: number;
  readonly budget: Required<RetryBudgetOptions> | false;
  readonly circuit: Required<CircuitOptions> | false;
  /** Settings of the copies for stale-if-error, when `stale` is on. */
  readonly stale: NormalizedStale | undefined;
  readonly hooks: GatewayHooks;
  readonly logger: GatewayLogger | undefined;
  readonly targets: readonly { readonly url: string; readonly weight: number }[] | undefined;
  readonly outlier: NormalizedOutlier | false;
  readonly healthCheck: NormalizedHealthCheck | undefined;
}

/** The hooks `gatewayProxy` takes. */
export const HOOK_OPTIONS = [
  'onRetry', 'onGiveUp', 'onCircuitOpen', 'onCircuitClose', 'onTargetEject', 'onTargetReturn', 'onStale', 'onRequestEnd', 'onAttemptEnd',
] as const satisfies readonly (keyof GatewayHooks)[];

/**
 * Every option `gatewayProxy` adds, and http-proxy's `proxyTimeout` it takes over as
 * `responseTimeout`: removed before the rest goes to http-proxy-middleware. (`logger` is shared
 * with it and stays.)
 */
export const PROXY_OPTIONS = [
  'retry', 'connectTimeout', 'responseTimeout', 'deadline', 'idleTimeout', 'budget', 'circuit', 'maxConcurrent', 'stale', 'errors',
  'targets', 'outlier', 'healthCheck', ...HOOK_OPTIONS, 'proxyTimeout',
] as const;

// The list and the interface cannot drift apart: a key of GatewayProxyExtras missing above fails to compile.
type Unlisted = Exclude<keyof GatewayProxyExtras, (typeof PROXY_OPTIONS)[number]>;
const listed: [Unlisted] extends [never] ? true : Unlisted = true;
void listed;

