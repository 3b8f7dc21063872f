/**
 * Options, their defaults (one frozen object each, a comment per line) and their validation.
 * Everything is checked when the middleware is created, so a typo fails at start-up, not during
 * the first outage.
 */
import type { Brand, Failure } from './types.js';

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

export interface GatewayErrorsOptions {
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
}

/** Defaults of {@link GatewayErrorsOptions}. */
export const GATEWAY_DEFAULTS = Object.freeze({
  proxyName: 'gateway-errors', // RFC 9209 asks for a name that identifies the proxy, not a host
  retryAfter: 30, // seconds: long enough for a restart, short enough that people come back
  expose: false, // upstream internals stay private unless asked for
  keepUpstreamBody: false, // gateway errors get the branded answer by default
  bodyLimit: 1024 * 1024, // bytes recorded per request body for parser-consumed bodies
});

/** Options `gatewayProxy` adds to http-proxy-middleware's. */
export interface GatewayProxyExtras<TReq = unknown> {
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
  /** Options of the `gatewayErrors()` whose answers this proxy gives when none is installed before it. */
  errors?: GatewayErrorsOptions;
  /** Called before each retry's wait. Costs nothing when absent. */
  onRetry?: (event: RetryEvent) => void;
  /** Called when a request fails for good (the answer is a gateway error). */
  onGiveUp?: (event: GiveUpEvent) => void;
}

/** Payload of `onRetry`. */
export interface RetryEvent {
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  /** ms waited before the next attempt. */
  readonly delay: number;
  /** `retry_after`: the upstream's Retry-After replaced the backoff. */
  readonly reason: 'backoff' | 'retry_after';
  readonly failure: Failure;
  readonly method: string;
  /** Request path as the client sent it (no query string). */
  readonly path: string;
}

/** Payload of `onGiveUp`. */
export interface GiveUpEvent {
  /** Attempts made. */
  readonly attempts: number;
  /** Why no further attempt was made. */
  readonly reason: string;
  readonly failure: Failure;
  readonly method: string;
  readonly path: string;
}

export const PROXY_DEFAULTS = Object.freeze({
  connectTimeout: 5_000, // ms; a healthy loopback or LAN connect takes well under 100 ms
  responseTimeout: 30_000, // ms; a request hung longer than this is better answered with a 504
});

const TOKEN = /^[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]*$/; // RFC 8941 sf-token
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 token

function fail(name: string, expected: string, value: unknown): never {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  throw new TypeError(`gateway-errors: \`${name}\` must be ${expected}, got ${shown}.`);
}

/** A finite non-negative integer (ms, bytes, counts). */
export function checkCount(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    fail(name, `an integer from 0 to ${max}`, value);
  }
  return value;
}

/** Timer values: Node clamps anything above 2^31-1 ms to 1 ms, so reject them here. */
export const MAX_TIMER = 2_147_483_647;

export function checkObject(name: string, value: unknown): Record<string, unknown> {
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
  const retries = checkCount(`${name}.retries`, o.retries ?? RETRY_DEFAULTS.retries, 100);
  const methods = o.methods ?? RETRY_DEFAULTS.methods;
  if (!Array.isArray(methods) || !methods.every((m) => typeof m === 'string' && HEADER_NAME.test(m))) {
    fail(`${name}.methods`, 'an array of method names', methods);
  }
  const key = o.idempotencyKey === undefined ? RETRY_DEFAULTS.idempotencyKey : o.idempotencyKey;
  if (key !== false && (typeof key !== 'string' || !HEADER_NAME.test(key))) {
    fail(`${name}.idempotencyKey`, 'a header name or false', key);
  }
  const statuses = o.statuses ?? RETRY_DEFAULTS.statuses;
  if (!Array.isArray(statuses) || !statuses.every((s) => Number.isInteger(s) && s >= 400 && s <= 599)) {
    fail(`${name}.statuses`, 'an array of status codes from 400 to 599', statuses);
  }
  const baseDelay = checkCount(`${name}.baseDelay`, o.baseDelay ?? RETRY_DEFAULTS.baseDelay, MAX_TIMER);
  const maxDelay = checkCount(`${name}.maxDelay`, o.maxDelay ?? RETRY_DEFAULTS.maxDelay, MAX_TIMER);
  const maxRetryAfter = checkCount(`${name}.maxRetryAfter`, o.maxRetryAfter ?? maxDelay, MAX_TIMER);
  const bodyLimit = checkCount(`${name}.bodyLimit`, o.bodyLimit ?? RETRY_DEFAULTS.bodyLimit);
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
}

const GATEWAY_KEYS = ['brand', 'templates', 'proxyName', 'retryAfter', 'expose', 'keepUpstreamBody', 'locales', 'bodyLimit'];

/** Validate the scalar options of `gatewayErrors()`; brand, templates and locales are checked by their owners. */
export function normalizeGateway(input: GatewayErrorsOptions | undefined, name = 'options'): NormalizedGatewayOptions {
  const o = input === undefined ? {} : checkObject(name, input);
  checkKeys(name, o, GATEWAY_KEYS);
  const proxyName = o.proxyName ?? GATEWAY_DEFAULTS.proxyName;
  if (typeof proxyName !== 'string' || !TOKEN.test(proxyName) || proxyName.length > 64) {
    fail(`${name}.proxyName`, 'an RFC 8941 token of at most 64 characters', proxyName);
  }
  const expose = o.expose ?? GATEWAY_DEFAULTS.expose;
  if (typeof expose !== 'boolean') fail(`${name}.expose`, 'a boolean', expose);
  const keep = o.keepUpstreamBody ?? GATEWAY_DEFAULTS.keepUpstreamBody;
  if (typeof keep !== 'boolean') fail(`${name}.keepUpstreamBody`, 'a boolean', keep);
  if (o.templates !== undefined && typeof o.templates !== 'string') fail(`${name}.templates`, 'a directory path', o.templates);
  return Object.freeze({
    proxyName,
    retryAfter: checkCount(`${name}.retryAfter`, o.retryAfter ?? GATEWAY_DEFAULTS.retryAfter, 86_400),
    expose,
    keepUpstreamBody: keep,
    bodyLimit: checkCount(`${name}.bodyLimit`, o.bodyLimit ?? GATEWAY_DEFAULTS.bodyLimit),
  });
}

export interface NormalizedProxyExtras {
  readonly connectTimeout: number;
  readonly responseTimeout: number;
  readonly onRetry: ((event: RetryEvent) => void) | undefined;
  readonly onGiveUp: ((event: GiveUpEvent) => void) | undefined;
}

function checkHook<T>(name: string, value: unknown): T | undefined {
  if (value !== undefined && typeof value !== 'function') fail(name, 'a function', value);
  return value as T | undefined;
}

/** Validate the timing options `gatewayProxy` adds. http-proxy's `proxyTimeout` is taken as `responseTimeout`. */
export function normalizeProxyExtras(o: Record<string, unknown>): NormalizedProxyExtras {
  return Object.freeze({
    connectTimeout: checkCount('connectTimeout', o.connectTimeout ?? PROXY_DEFAULTS.connectTimeout, MAX_TIMER),
    responseTimeout: checkCount(
      'responseTimeout',
      o.responseTimeout ?? o.proxyTimeout ?? PROXY_DEFAULTS.responseTimeout,
      MAX_TIMER,
    ),
    onRetry: checkHook<(event: RetryEvent) => void>('onRetry', o.onRetry),
    onGiveUp: checkHook<(event: GiveUpEvent) => void>('onGiveUp', o.onGiveUp),
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
