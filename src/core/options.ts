/**
 * The options of `gatewayErrors()` and the retry policy, with their checked forms; the options
 * `gatewayProxy` adds are in proxy-options.ts, every default in defaults.ts. Everything is checked
 * when the middleware is created (validate.ts), so a typo fails at start-up, not during the first
 * outage.
 */
import type { GatewayLogger, MaintenanceHooks } from './hooks.js';
import type { Brand, ExtraStatus } from './types.js';

export * from './defaults.js';
export * from './proxy-options.js';
export { MAX_TIMER } from './validate.js';
export { isReplayable, normalizeGateway, normalizeMaintenanceWindow, normalizeRetry } from './normalize-gateway.js';
export { normalizeProxyExtras } from './normalize-proxy.js';

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

/** One maintenance window: what `gateway.maintenance.start()` takes. */
export interface MaintenanceWindow {
  /**
   * The announced end: a Date or a date string (ISO 8601). Retry-After counts down to it and the
   * page shows it in the visitor's language and time zone. Maintenance does not end by itself.
   */
  until?: Date | string;
  /** Your own words for the page, the JSON (`maintenance.message`) and the text answer. Plain text. */
  message?: string;
  /** Seconds sent as Retry-After instead of the countdown to `until` (0-86400). */
  retryAfter?: number;
}

/** The `maintenance` option of `gatewayErrors()`. */
export interface MaintenanceOptions<TReq = unknown> extends MaintenanceWindow {
  /** Start in maintenance, with the window given next to it. @default false */
  active?: boolean;
  /**
   * Paths that go through as usual: exact (`'/healthz'`), or a prefix (`'/status/*'` lets
   * `/status` and everything under `/status/` through). Matched on the path as sent, without
   * the query string. @default []
   */
  allow?: readonly string[];
  /**
   * Requests that go through as usual (staff by IP, header or cookie). Receives Express's `req`
   * or Koa's `ctx`. A predicate that throws counts as false: the visitor gets the maintenance page.
   */
  bypass?: (req: TReq) => boolean;
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

