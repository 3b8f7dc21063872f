/**
 * Options, their defaults (one frozen object each, a comment per line) and their validation.
 * Everything is checked when the middleware is created, so a typo fails at start-up, not during
 * the first outage.
 */
import { BUDGET_DEFAULTS, type RetryBudgetOptions } from './engine/budget.js';
import { CIRCUIT_DEFAULTS, type CircuitOptions } from './engine/circuit.js';
import type { GatewayHooks, GatewayLogger, MaintenanceHooks } from './observe/events.js';
import type { MaintenanceOptions, MaintenanceWindow } from './answer/maintenance.js';
import { HEALTH_CHECK_DEFAULTS, OUTLIER_DEFAULTS, type HealthCheckOptions, type NormalizedHealthCheck, type NormalizedOutlier, type OutlierOptions, type TargetSpec } from './engine/targets.js';
import { createStaleCache, memoryStore, STALE_DEFAULTS, type StaleCache, type StaleOptions } from './engine/stale.js';
import type { Brand, ExtraStatus } from './types.js';

/** The HTTP methods RFC 9110 §9.2.2 defines as idempotent. */
const IDEMPOTENT_METHODS = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'] as const;

export interface RetryPolicy {
  /** Attempts after the first. @default 2 */
  retries?: number;
  /**
   * Methods that may be replayed. Others are sent once, unless they carry `idempotencyKey`.
   * @default ['GET','HEAD','OPTIONS','PUT','DELETE','TRACE']
   * @see https://www.rfc-editor.org/rfc/rfc9110#name-idempotent-methods
   */
  methods?: readonly string[];
  /**
   * Header whose presence makes any method replayable; `false` disables.
   * @default 'idempotency-key'
   * @see https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/
   */
  idempotencyKey?: string | false;
  /** Upstream statuses that count as a failed attempt and are retried. @default [502, 503, 504] */
  statuses?: readonly number[];
  /** Backoff base in ms: the wait before retry n is uniform in [0, min(maxDelay, baseDelay * 2^(n-1))]. @default 100 */
  baseDelay?: number;
  /** Backoff cap in ms. @default 2000 */
  maxDelay?: number;
  /** An upstream Retry-After (seconds) up to this many ms is waited out, then retried; above it, no retry. @default maxDelay */
  maxRetryAfter?: number;
  /** Request bodies up to this many bytes are kept in memory so they can be replayed; larger ones stream once. @default 1048576 */
  bodyLimit?: number;
}

export interface NormalizedRetryPolicy {
  readonly retries: number;
  readonly methods: ReadonlySet<string>;
  readonly idempotencyKey: string | false;
  readonly statuses: ReadonlySet<number>;
  readonly baseDelay: number;
  readonly maxDelay: number;
  readonly maxRetryAfter: number;
  readonly bodyLimit: number;
}

/** Defaults of {@link RetryPolicy}. */
export const RETRY_DEFAULTS = Object.freeze({
  retries: 2, // three attempts at most: enough to ride out a restart, little extra load
  methods: IDEMPOTENT_METHODS as readonly string[], // replaying these cannot duplicate an effect
  idempotencyKey: 'idempotency-key' as string | false, // the client's promise that a replay is safe
  statuses: [502, 503, 504] as readonly number[], // gateway statuses: another instance may answer
  baseDelay: 100, // ms; first retry waits 0-100 ms
  maxDelay: 2000, // ms; no single wait longer than 2 s
  bodyLimit: 1024 * 1024, // bytes kept for replay; larger bodies stream through once
});

/**
 * Options of `gatewayErrors()`. `TReq` is what the `maintenance.bypass` predicate receives: Express's
 * `req` or Koa's `ctx`.
 */
export interface GatewayErrorsOptions<TReq = unknown> extends MaintenanceHooks {
  /** Brand the page is drawn with. */
  brand?: Brand;
  /** Directory of eta templates overriding the built-in ones file by file. */
  templates?: string;
  /** Name in `Proxy-Status` (an RFC 8941 token; never the host name). @default 'gateway-errors' */
  proxyName?: string;
  /** Seconds sent as Retry-After on a 503 when the upstream gave none. @default 30 */
  retryAfter?: number;
  /** Show upstream error codes and messages (development only). @default false */
  expose?: boolean;
  /**
   * Let an upstream's (or handler's) own 502/503/504 body through untouched — for APIs with their
   * own problem bodies. Status is kept, Retry-After is validated, Proxy-Status is added.
   * @default false
   */
  keepUpstreamBody?: boolean;
  /** Add languages or override messages: `{ 'pt-BR': { statuses: { 503: { title: '...' } } } }`. */
  locales?: Record<string, unknown>;
  /**
   * Bytes of each request body recorded as it is read, so a body that a parser (express.json(),
   * koa-bodyparser) consumed still reaches the upstream byte for byte. @default 1048576
   */
  bodyLimit?: number;
  /**
   * Statuses to brand besides 502/503/504 when a handler of this app answers with them (an
   * upstream's own 429 or 500 is relayed as it is): `[429, 500]`.
   * @default []
   */
  extraStatuses?: readonly ExtraStatus[];
  /**
   * Planned maintenance: paths and requests that still go through, and whether to start in
   * maintenance (`active: true`). Switched at run time with `gateway.maintenance.start()` / `stop()`.
   * @default { active: false, allow: [] }
   */
  maintenance?: MaintenanceOptions<TReq>;
  /** One line when maintenance starts or stops (pino, `console`, ...). @default undefined */
  logger?: GatewayLogger;
  /**
   * The owner's view: for requests this returns true for, the page, the problem+json and the text
   * also carry the diagnosis (which target, each attempt with its failure type and timing, the
   * breaker and target health, the Proxy-Status details) and what to check for the failure. Off by
   * default, and never "local requests": behind a reverse proxy every request comes from
   * loopback. Called only when an error answer is built; a throw counts as false.
   * @example diagnose: (req) => req.get('x-staff-token') === process.env.STAFF_TOKEN
   * @default undefined
   */
  diagnose?: (req: TReq) => boolean;
}

/** Statuses `extraStatuses` may list: each has its own words in every locale and its own template. */
export const EXTRA_STATUSES: readonly ExtraStatus[] = Object.freeze([429, 500]);

/** Defaults of {@link GatewayErrorsOptions}. */
export const GATEWAY_DEFAULTS = Object.freeze({
  proxyName: 'gateway-errors', // RFC 9209 asks for a name that identifies the proxy, not a host
  retryAfter: 30, // seconds: long enough for a restart, short enough that people come back
  expose: false, // upstream internals stay private unless asked for
  keepUpstreamBody: false, // gateway errors get the branded answer by default
  bodyLimit: 1024 * 1024, // bytes recorded per request body for parser-consumed bodies
  extraStatuses: [] as readonly ExtraStatus[], // other statuses keep the app's own answers unless listed
});

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

export const PROXY_DEFAULTS = Object.freeze({
  connectTimeout: 5_000, // ms; a healthy loopback or LAN connect takes well under 100 ms
  responseTimeout: 30_000, // ms; a request hung longer than this is better answered with a 504
  deadline: 60_000, // ms; worst case otherwise: 3 attempts x (connect + response) + waits
  idleTimeout: 60_000, // ms; nginx's proxy_read_timeout: a stream silent for a minute is dead
  maxConcurrent: 0, // no limit unless asked: limits need knowledge of the upstream
});

const TOKEN = /^[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]*$/; // RFC 8941 sf-token
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 token

/** Only `undefined` means "use the default": `null` is a value, and a wrong one. */
function or<T>(value: unknown, fallback: T): unknown {
  return value === undefined ? fallback : value;
}

function fail(name: string, expected: string, value: unknown): never {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  throw new TypeError(`gateway-errors: \`${name}\` must be ${expected}, got ${shown}.`);
}

/** A finite non-negative integer (ms, bytes, counts). */
function checkCount(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    fail(name, `an integer from 0 to ${max}`, value);
  }
  return value;
}

/** Timer values: Node clamps anything above 2^31-1 ms to 1 ms, so reject them here. */
export const MAX_TIMER = 2_147_483_647;

function checkObject(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(name, 'an object', value);
  return value as Record<string, unknown>;
}

function checkKeys(name: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new TypeError(`gateway-errors: unknown option \`${name}.${key}\` (known: ${known.join(', ')}).`);
    }
  }
}

const RETRY_KEYS = ['retries', 'methods', 'idempotencyKey', 'statuses', 'baseDelay', 'maxDelay', 'maxRetryAfter', 'bodyLimit'];

/** Validate and complete a retry policy. Throws a TypeError naming the option. */
export function normalizeRetry(input: RetryPolicy | false, name = 'retry'): NormalizedRetryPolicy | false {
  if (input === false) return false;
  const o = checkObject(name, input);
  checkKeys(name, o, RETRY_KEYS);
  const retries = checkCount(`${name}.retries`, or(o.retries, RETRY_DEFAULTS.retries), 100);
  const methods = or(o.methods, RETRY_DEFAULTS.methods);
  if (!Array.isArray(methods) || !methods.every((m) => typeof m === 'string' && HEADER_NAME.test(m))) {
    fail(`${name}.methods`, 'an array of method names', methods);
  }
  const key = o.idempotencyKey === undefined ? RETRY_DEFAULTS.idempotencyKey : o.idempotencyKey;
  if (key !== false && (typeof key !== 'string' || !HEADER_NAME.test(key))) {
    fail(`${name}.idempotencyKey`, 'a header name or false', key);
  }
  const statuses = or(o.statuses, RETRY_DEFAULTS.statuses);
  if (!Array.isArray(statuses) || !statuses.every((s) => Number.isInteger(s) && s >= 400 && s <= 599)) {
    fail(`${name}.statuses`, 'an array of status codes from 400 to 599', statuses);
  }
  const baseDelay = checkCount(`${name}.baseDelay`, or(o.baseDelay, RETRY_DEFAULTS.baseDelay), MAX_TIMER);
  const maxDelay = checkCount(`${name}.maxDelay`, or(o.maxDelay, RETRY_DEFAULTS.maxDelay), MAX_TIMER);
  const maxRetryAfter = checkCount(`${name}.maxRetryAfter`, or(o.maxRetryAfter, maxDelay), MAX_TIMER);
  const bodyLimit = checkCount(`${name}.bodyLimit`, or(o.bodyLimit, RETRY_DEFAULTS.bodyLimit));
  return Object.freeze({
    retries,
    methods: new Set(methods.map((m: string) => m.toUpperCase())),
    idempotencyKey: key === false ? false : (key as string).toLowerCase(),
    statuses: new Set(statuses as number[]),
    baseDelay,
    maxDelay,
    maxRetryAfter,
    bodyLimit,
  });
}

export interface NormalizedGatewayOptions {
  readonly proxyName: string;
  readonly retryAfter: number;
  readonly expose: boolean;
  readonly keepUpstreamBody: boolean;
  readonly bodyLimit: number;
  readonly extraStatuses: ReadonlySet<number>;
  readonly maintenance: NormalizedMaintenance;
  readonly maintenanceHooks: MaintenanceHooks;
  readonly logger: GatewayLogger | undefined;
  readonly diagnose: ((req: never) => boolean) | undefined;
}

/** The maintenance settings, checked; `window` is the one to start with when `active`. */
export interface NormalizedMaintenance {
  readonly active: boolean;
  readonly window: NormalizedWindow;
  /** Exact paths. */
  readonly exact: ReadonlySet<string>;
  /** Path prefixes, each ending in '/' (from `'/status/*'`). */
  readonly prefixes: readonly string[];
  readonly bypass: ((req: never) => boolean) | undefined;
}

/** A maintenance window, checked: `until` as epoch ms. */
export interface NormalizedWindow {
  readonly until?: number;
  readonly message?: string;
  readonly retryAfter?: number;
}

const GATEWAY_KEYS = [
  'brand', 'templates', 'proxyName', 'retryAfter', 'expose', 'keepUpstreamBody', 'locales', 'bodyLimit',
  'extraStatuses', 'maintenance', 'logger', 'onMaintenanceStart', 'onMaintenanceStop', 'onMaintenanceAnswer', 'diagnose',
];
const MAINTENANCE_KEYS = ['active', 'until', 'message', 'retryAfter', 'allow', 'bypass'];
const WINDOW_KEYS = ['until', 'message', 'retryAfter'];
/** Long enough for a sentence or two; a page is not the place for an essay. */
const MAX_MESSAGE = 500;
/** `/path` or `/prefix/*`: no query, no spaces, `*` only as the last segment. */
const ALLOW_ENTRY = /^\/[^\s?#*]*(?:\/\*)?$/;

/**
 * Validate a maintenance window (`start()`'s argument, or the window part of the `maintenance`
 * option). `until` is a Date or a string `Date.parse` reads (ISO 8601, e.g.
 * '2026-12-07T14:00:00Z'); a time already past is accepted: a restart while the work overruns
 * must not crash the app.
 */
export function normalizeMaintenanceWindow(input: MaintenanceWindow | undefined, name: string, keys = WINDOW_KEYS): NormalizedWindow {
  const o = input === undefined ? {} : checkObject(name, input);
  checkKeys(name, o, keys);
  let until: number | undefined;
  if (o.until !== undefined) {
    until = o.until instanceof Date ? o.until.getTime() : typeof o.until === 'string' ? Date.parse(o.until) : Number.NaN;
    if (Number.isNaN(until)) fail(`${name}.until`, "a valid Date or date string such as '2026-12-07T14:00:00Z'", o.until);
  }
  if (o.message !== undefined && (typeof o.message !== 'string' || o.message.length > MAX_MESSAGE)) {
    fail(`${name}.message`, `a string of at most ${MAX_MESSAGE} characters`, o.message);
  }
  return Object.freeze({
    ...(until !== undefined && { until }),
    ...(o.message !== undefined && o.message !== '' && { message: o.message as string }),
    ...(o.retryAfter !== undefined && { retryAfter: checkCount(`${name}.retryAfter`, o.retryAfter, 86_400) }),
  });
}

function normalizeMaintenance(value: unknown, name: string): NormalizedMaintenance {
  const o = value === undefined ? {} : checkObject(name, value);
  checkKeys(name, o, MAINTENANCE_KEYS);
  const active = or(o.active, false);
  if (typeof active !== 'boolean') fail(`${name}.active`, 'a boolean', active);
  const allow = or(o.allow, []);
  if (!Array.isArray(allow) || !allow.every((p) => typeof p === 'string' && ALLOW_ENTRY.test(p))) {
    fail(`${name}.allow`, "an array of paths ('/healthz') and prefixes ('/status/*')", allow);
  }
  const bypass = checkHook<(req: never) => boolean>(`${name}.bypass`, o.bypass);
  return Object.freeze({
    active,
    window: normalizeMaintenanceWindow({ until: o.until, message: o.message, retryAfter: o.retryAfter } as MaintenanceWindow, name),
    exact: new Set((allow as string[]).filter((p) => !p.endsWith('/*'))),
    prefixes: Object.freeze((allow as string[]).filter((p) => p.endsWith('/*')).map((p) => p.slice(0, -1))),
    bypass,
  });
}

/** Validate the scalar options of `gatewayErrors()`; brand, templates and locales are checked by their owners. */
export function normalizeGateway(input: GatewayErrorsOptions<never> | undefined, name = 'options'): NormalizedGatewayOptions {
  const o = input === undefined ? {} : checkObject(name, input);
  checkKeys(name, o, GATEWAY_KEYS);
  const proxyName = or(o.proxyName, GATEWAY_DEFAULTS.proxyName);
  if (typeof proxyName !== 'string' || !TOKEN.test(proxyName) || proxyName.length > 64) {
    fail(`${name}.proxyName`, 'an RFC 8941 token of at most 64 characters', proxyName);
  }
  const expose = or(o.expose, GATEWAY_DEFAULTS.expose);
  if (typeof expose !== 'boolean') fail(`${name}.expose`, 'a boolean', expose);
  const keep = or(o.keepUpstreamBody, GATEWAY_DEFAULTS.keepUpstreamBody);
  if (typeof keep !== 'boolean') fail(`${name}.keepUpstreamBody`, 'a boolean', keep);
  if (o.templates !== undefined && typeof o.templates !== 'string') fail(`${name}.templates`, 'a directory path', o.templates);
  const extra = or(o.extraStatuses, GATEWAY_DEFAULTS.extraStatuses);
  if (!Array.isArray(extra) || !extra.every((s) => (EXTRA_STATUSES as readonly unknown[]).includes(s))) {
    fail(`${name}.extraStatuses`, `an array of statuses from ${EXTRA_STATUSES.join(', ')} (502, 503 and 504 are always branded)`, extra);
  }
  // A proxy's fallback answers (`errors`) have no middleware in front of the app to turn away requests.
  if (name === 'errors' && o.maintenance !== undefined) {
    throw new TypeError('gateway-errors: `errors.maintenance` has no effect: planned maintenance runs in gatewayErrors().');
  }
  return Object.freeze({
    proxyName,
    retryAfter: checkCount(`${name}.retryAfter`, or(o.retryAfter, GATEWAY_DEFAULTS.retryAfter), 86_400),
    expose,
    keepUpstreamBody: keep,
    bodyLimit: checkCount(`${name}.bodyLimit`, or(o.bodyLimit, GATEWAY_DEFAULTS.bodyLimit)),
    extraStatuses: new Set(extra as number[]),
    maintenance: normalizeMaintenance(o.maintenance, `${name}.maintenance`),
    maintenanceHooks: Object.freeze({
      onMaintenanceStart: checkHook<MaintenanceHooks['onMaintenanceStart']>(`${name}.onMaintenanceStart`, o.onMaintenanceStart),
      onMaintenanceStop: checkHook<MaintenanceHooks['onMaintenanceStop']>(`${name}.onMaintenanceStop`, o.onMaintenanceStop),
      onMaintenanceAnswer: checkHook<MaintenanceHooks['onMaintenanceAnswer']>(`${name}.onMaintenanceAnswer`, o.onMaintenanceAnswer),
    }),
    logger: checkLogger(o.logger),
    diagnose: checkHook<(req: never) => boolean>(`${name}.diagnose`, o.diagnose),
  });
}

export interface NormalizedProxyExtras {
  readonly connectTimeout: number;
  readonly responseTimeout: number;
  readonly deadline: number;
  readonly idleTimeout: number;
  readonly maxConcurrent: number;
  readonly budget: Required<RetryBudgetOptions> | false;
  readonly circuit: Required<CircuitOptions> | false;
  /** The copies for stale-if-error, when `stale` is on. */
  readonly stale: StaleCache | undefined;
  readonly hooks: GatewayHooks;
  readonly logger: GatewayLogger | undefined;
  readonly targets: readonly { readonly url: string; readonly weight: number }[] | undefined;
  readonly outlier: NormalizedOutlier | false;
  readonly healthCheck: NormalizedHealthCheck | undefined;
}

function checkRatio(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) fail(name, 'a number from 0 to 1', value);
  return value;
}

/** cockatiel's SamplingBreaker takes a rate strictly between 0 and 1 (0 would open on anything, 1 never). */
function checkOpenRatio(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value < 1)) fail(name, 'a number greater than 0 and less than 1', value);
  return value;
}

/** cockatiel reads 0 as "guess for me"; a minimum must be a real one. */
function checkPositive(name: string, value: unknown): number {
  const n = checkCount(name, value, 1_000_000);
  if (n < 1) fail(name, 'an integer from 1 to 1000000', value);
  return n;
}

function normalizeBudget(value: unknown): Required<RetryBudgetOptions> | false {
  if (value === false) return false;
  const o = checkObject('budget', or(value, {}));
  checkKeys('budget', o, ['ratio', 'minPerSecond', 'window']);
  return Object.freeze({
    ratio: checkRatio('budget.ratio', or(o.ratio, BUDGET_DEFAULTS.ratio)),
    minPerSecond: checkCount('budget.minPerSecond', or(o.minPerSecond, BUDGET_DEFAULTS.minPerSecond), 1_000_000),
    window: checkCount('budget.window', or(o.window, BUDGET_DEFAULTS.window), 3_600_000),
  });
}

function normalizeCircuit(value: unknown): Required<CircuitOptions> | false {
  if (value === false) return false;
  const o = checkObject('circuit', or(value, {}));
  checkKeys('circuit', o, ['consecutiveFailures', 'failureRate', 'window', 'minimumRps', 'halfOpenAfter']);
  const consecutiveFailures = checkCount('circuit.consecutiveFailures', or(o.consecutiveFailures, CIRCUIT_DEFAULTS.consecutiveFailures), 1_000_000);
  const window = checkCount('circuit.window', or(o.window, CIRCUIT_DEFAULTS.window), 3_600_000);
  if (window < 1000) fail('circuit.window', 'at least 1000 (ms)', window);
  return Object.freeze({
    consecutiveFailures,
    failureRate: checkOpenRatio('circuit.failureRate', or(o.failureRate, CIRCUIT_DEFAULTS.failureRate)),
    window,
    minimumRps: checkPositive('circuit.minimumRps', or(o.minimumRps, CIRCUIT_DEFAULTS.minimumRps)),
    halfOpenAfter: checkCount('circuit.halfOpenAfter', or(o.halfOpenAfter, CIRCUIT_DEFAULTS.halfOpenAfter), MAX_TIMER),
  });
}

/** A year: a longer stale window is a cache, not a fallback. */
const MAX_STALE = 365 * 86_400;

function normalizeStale(value: unknown): StaleCache | undefined {
  if (value === undefined || value === false) return undefined;
  if (value !== true && (typeof value !== 'object' || value === null || Array.isArray(value))) fail('stale', 'true, false or an object', value);
  const o = (value === true ? {} : value) as Record<string, unknown>;
  checkKeys('stale', o, ['maxBytes', 'maxEntryBytes', 'maxStale', 'store']);
  const maxStale = checkCount('stale.maxStale', or(o.maxStale, STALE_DEFAULTS.maxStale), MAX_STALE);
  if (o.store !== undefined) {
    const s = o.store as Record<string, unknown>;
    if (typeof s !== 'object' || s === null || typeof s.get !== 'function' || typeof s.set !== 'function' || typeof s.delete !== 'function') {
      fail('stale.store', 'an object with get(), set() and delete()', o.store);
    }
    if (o.maxBytes !== undefined) {
      throw new TypeError('gateway-errors: `stale.maxBytes` sizes the built-in store; a `stale.store` of your own keeps its own bound.');
    }
  }
  const maxBytes = checkCount('stale.maxBytes', or(o.maxBytes, STALE_DEFAULTS.maxBytes));
  if (maxBytes < 1) fail('stale.maxBytes', 'at least 1', maxBytes);
  const maxEntryBytes = checkCount('stale.maxEntryBytes', or(o.maxEntryBytes, Math.min(STALE_DEFAULTS.maxEntryBytes, maxBytes)), maxBytes);
  const store = (o.store as StaleOptions['store']) ?? memoryStore(maxBytes);
  return createStaleCache({ maxEntryBytes, maxStale, store });
}

function checkHook<T>(name: string, value: unknown): T | undefined {
  if (value !== undefined && typeof value !== 'function') fail(name, 'a function', value);
  return value as T | undefined;
}

function checkLogger(value: unknown): GatewayLogger | undefined {
  if (value === undefined) return undefined;
  const l = value as Partial<GatewayLogger>;
  if (typeof l !== 'object' || l === null || typeof l.info !== 'function' || typeof l.warn !== 'function') {
    fail('logger', 'an object with info() and warn() (pino, console, ...)', value);
  }
  return l as GatewayLogger;
}

/** Validate the options `gatewayProxy` adds. http-proxy's `proxyTimeout` is taken as `responseTimeout`. */
export function normalizeProxyExtras(o: Record<string, unknown>): NormalizedProxyExtras {
  if (typeof o !== 'object' || o === null) fail('options', 'an object with a `target` or `router`', o);
  return Object.freeze({
    connectTimeout: checkCount('connectTimeout', or(o.connectTimeout, PROXY_DEFAULTS.connectTimeout), MAX_TIMER),
    responseTimeout: checkCount('responseTimeout', or(o.responseTimeout, or(o.proxyTimeout, PROXY_DEFAULTS.responseTimeout)), MAX_TIMER),
    deadline: checkCount('deadline', or(o.deadline, PROXY_DEFAULTS.deadline), MAX_TIMER),
    idleTimeout: checkCount('idleTimeout', or(o.idleTimeout, PROXY_DEFAULTS.idleTimeout), MAX_TIMER),
    maxConcurrent: checkCount('maxConcurrent', or(o.maxConcurrent, PROXY_DEFAULTS.maxConcurrent)),
    budget: normalizeBudget(o.budget),
    circuit: normalizeCircuit(o.circuit),
    stale: normalizeStale(o.stale),
    hooks: Object.freeze({
      onRetry: checkHook<GatewayHooks['onRetry']>('onRetry', o.onRetry),
      onGiveUp: checkHook<GatewayHooks['onGiveUp']>('onGiveUp', o.onGiveUp),
      onCircuitOpen: checkHook<GatewayHooks['onCircuitOpen']>('onCircuitOpen', o.onCircuitOpen),
      onCircuitClose: checkHook<GatewayHooks['onCircuitClose']>('onCircuitClose', o.onCircuitClose),
      onTargetEject: checkHook<GatewayHooks['onTargetEject']>('onTargetEject', o.onTargetEject),
      onTargetReturn: checkHook<GatewayHooks['onTargetReturn']>('onTargetReturn', o.onTargetReturn),
      onStale: checkHook<GatewayHooks['onStale']>('onStale', o.onStale),
      onRequestEnd: checkHook<GatewayHooks['onRequestEnd']>('onRequestEnd', o.onRequestEnd),
      onAttemptEnd: checkHook<GatewayHooks['onAttemptEnd']>('onAttemptEnd', o.onAttemptEnd),
    }),
    logger: checkLogger(o.logger),
    targets: normalizeTargets(o.targets, o),
    outlier: normalizeOutlier(o.outlier),
    healthCheck: normalizeHealthCheck(o.healthCheck),
  });
}

function normalizeTargets(value: unknown, o: Record<string, unknown>): { url: string; weight: number }[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0) fail('targets', 'a non-empty array of URLs or { url, weight }', value);
  if (o.target !== undefined || o.router !== undefined) {
    throw new TypeError('gateway-errors: `targets` replaces `target` and `router`; give one of them, not both.');
  }
  const seen = new Set<string>();
  let protocol: string | undefined;
  return value.map((entry: unknown, i: number) => {
    const spec = typeof entry === 'string' ? { url: entry } : checkObject(`targets[${i}]`, entry);
    if (typeof spec !== 'string') checkKeys(`targets[${i}]`, spec as Record<string, unknown>, ['url', 'weight']);
    const { url, weight = 1 } = spec as { url?: unknown; weight?: unknown };
    if (typeof url !== 'string' || !URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
      fail(`targets[${i}]${typeof entry === 'string' ? '' : '.url'}`, 'an http(s) URL', url);
    }
    const origin = new URL(url).href;
    if (seen.has(origin)) fail(`targets[${i}]`, 'a URL not listed before', url);
    // One keep-alive agent per gatewayProxy(), of one protocol.
    protocol ??= new URL(url).protocol;
    if (new URL(url).protocol !== protocol) fail(`targets[${i}]`, `a ${protocol} URL like the first target`, url);
    seen.add(origin);
    const w = checkCount(`targets[${i}].weight`, weight, 1000);
    if (w < 1) fail(`targets[${i}].weight`, 'an integer from 1 to 1000', weight);
    return { url, weight: w };
  });
}

function normalizeOutlier(value: unknown): NormalizedOutlier | false {
  if (value === false) return false;
  const o = checkObject('outlier', or(value, {}));
  checkKeys('outlier', o, ['consecutiveFailures', 'baseEjectionTime', 'maxEjectionTime', 'maxEjectionPercent']);
  const consecutiveFailures = checkCount('outlier.consecutiveFailures', or(o.consecutiveFailures, OUTLIER_DEFAULTS.consecutiveFailures), 1_000_000);
  if (consecutiveFailures < 1) fail('outlier.consecutiveFailures', 'an integer from 1 to 1000000', consecutiveFailures);
  return Object.freeze({
    consecutiveFailures,
    baseEjectionTime: checkCount('outlier.baseEjectionTime', or(o.baseEjectionTime, OUTLIER_DEFAULTS.baseEjectionTime), MAX_TIMER),
    maxEjectionTime: checkCount('outlier.maxEjectionTime', or(o.maxEjectionTime, OUTLIER_DEFAULTS.maxEjectionTime), MAX_TIMER),
    maxEjectionPercent: checkCount('outlier.maxEjectionPercent', or(o.maxEjectionPercent, OUTLIER_DEFAULTS.maxEjectionPercent), 100),
  });
}

function normalizeHealthCheck(value: unknown): NormalizedHealthCheck | undefined {
  if (value === undefined) return undefined;
  const o = checkObject('healthCheck', value);
  checkKeys('healthCheck', o, ['path', 'interval', 'timeout', 'unhealthyThreshold', 'healthyThreshold']);
  if (typeof o.path !== 'string' || !o.path.startsWith('/')) fail('healthCheck.path', 'a path starting with /', o.path);
  const positive = (name: string, v: unknown, max: number) => {
    const n = checkCount(`healthCheck.${name}`, v, max);
    if (n < 1) fail(`healthCheck.${name}`, `an integer from 1 to ${max}`, v);
    return n;
  };
  return Object.freeze({
    path: o.path,
    interval: positive('interval', or(o.interval, HEALTH_CHECK_DEFAULTS.interval), MAX_TIMER),
    timeout: positive('timeout', or(o.timeout, HEALTH_CHECK_DEFAULTS.timeout), MAX_TIMER),
    unhealthyThreshold: positive('unhealthyThreshold', or(o.unhealthyThreshold, HEALTH_CHECK_DEFAULTS.unhealthyThreshold), 1000),
    healthyThreshold: positive('healthyThreshold', or(o.healthyThreshold, HEALTH_CHECK_DEFAULTS.healthyThreshold), 1000),
  });
}

/** Whether a request may be replayed under a policy: an idempotent method, or the idempotency header. */
export function isReplayable(
  method: string | undefined,
  headers: Record<string, string | string[] | undefined>,
  policy: NormalizedRetryPolicy | false,
): boolean {
  const m = (method ?? 'GET').toUpperCase();
  if (policy === false) return IDEMPOTENT_SET.has(m) || headers['idempotency-key'] !== undefined;
  return policy.methods.has(m) || (policy.idempotencyKey !== false && headers[policy.idempotencyKey] !== undefined);
}

const IDEMPOTENT_SET: ReadonlySet<string> = new Set(IDEMPOTENT_METHODS);
