/**
 * Planned maintenance: a switch on the gateway that answers every request with a 503 (the
 * maintenance page, problem+json or text) before it reaches any proxy, until switched off.
 *
 * It runs in gatewayErrors(), in front of every gatewayProxy(), so a maintenance answer never
 * makes an upstream request: it cannot trip a circuit breaker, spend a retry budget or load the
 * upstream that is being worked on. Health checks and the status page stay reachable through
 * the allow-list, staff through the bypass predicate.
 *
 * The end time is an announcement, not a timer: maintenance stays on until `stop()`, because work
 * that overruns must not expose a half-migrated system the moment the clock passes 14:00. After
 * that time the page says the work is taking longer, and Retry-After falls back to a fixed value.
 *
 * @see https://developers.google.com/search/blog/2011/01/how-to-deal-with-planned-site-downtime
 */
import { createMaintenanceEmitter, type MaintenanceEmitter } from '../observe/events.js';
import { normalizeMaintenanceWindow, type MaintenanceWindow, type NormalizedGatewayOptions, type NormalizedWindow } from '../options.js';
import { MAX_RETRY_AFTER } from '../decide/retry-after.js';

// The options are declared with the others, at the base.
export type { MaintenanceOptions, MaintenanceWindow } from '../options.js';

/** What `gateway.maintenance.state()` reports. Plain data, safe to serve as JSON from an admin route. */
export interface MaintenanceState {
  readonly active: boolean;
  /** When it was switched on, ISO 8601. */
  readonly since?: string;
  /** The announced end, ISO 8601. */
  readonly until?: string;
  readonly message?: string;
  /** Seconds a maintenance answer would carry as Retry-After right now. */
  readonly retryAfter?: number;
}

/** The switch each `gatewayErrors()` carries as `.maintenance`. */
export interface MaintenanceSwitch {
  /** Switch maintenance on, or change the window while on. Throws a TypeError for a bad window. */
  start(window?: MaintenanceWindow): MaintenanceState;
  /** Switch maintenance off. Returns whether it was on. */
  stop(): boolean;
  state(): MaintenanceState;
}

/** A window being answered with, as the Responder needs it. */
export interface ActiveMaintenance {
  /** Epoch ms. */
  readonly until?: number;
  readonly message?: string;
  /** Seconds for Retry-After, already clamped to 0-86400. */
  readonly retryAfter: number;
}

export interface Maintenance<TReq> {
  readonly switch: MaintenanceSwitch;
  /**
   * The window to answer this request with, or undefined to let it through. One boolean test
   * while maintenance is off. `url` is the request target as sent (Express `originalUrl`).
   */
  check(url: string | undefined, req: TReq): ActiveMaintenance | undefined;
  /** Report one answered request. */
  answered(method: string | undefined, url: string | undefined, retryAfter: number): void;
}

/** The path of a request target, without the query string. */
function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * Paths that an upstream may read as another path than they spell (dot segments, encoded dots or
 * slashes, backslashes, empty segments): never matched by a prefix, or '/status/../admin' would
 * reach the admin pages during maintenance.
 */
const AMBIGUOUS_PATH = /\/\.\.?(?:\/|$)|%2e|%2f|%5c|\\|\/\//i;

/** Seconds of Retry-After for a window, now. */
function retryAfterOf(window: NormalizedWindow, fallback: number, now: number): number {
  if (window.retryAfter !== undefined) return window.retryAfter;
  if (window.until !== undefined && window.until > now) return Math.min(MAX_RETRY_AFTER, Math.ceil((window.until - now) / 1000));
  // No end announced, or it has passed and the work overruns: come back in a while, not at once.
  return fallback;
}

export function createMaintenance<TReq>(options: NormalizedGatewayOptions, name = 'maintenance'): Maintenance<TReq> {
  const { exact, prefixes, bypass } = options.maintenance;
  const emit: MaintenanceEmitter = createMaintenanceEmitter(options.maintenanceHooks, options.logger);
  let window: NormalizedWindow | undefined;
  let since = 0;
  let warned = false;

  const allowed = (path: string): boolean => {
    if (exact.has(path)) return true;
    if (prefixes.length === 0 || AMBIGUOUS_PATH.test(path)) return false;
    // '/status/*' is stored as '/status/': it also lets '/status' itself through.
    return prefixes.some((p) => path.startsWith(p) || path === p.slice(0, -1));
  };

  const bypassed = (req: TReq): boolean => {
    if (bypass === undefined) return false;
    try {
      return (bypass as (r: TReq) => boolean)(req) === true;
    } catch (error) {
      if (!warned) {
        warned = true;
        process.emitWarning(`gateway-errors: maintenance.bypass threw; the request got the maintenance page: ${String(error)}`);
      }
      return false;
    }
  };

  const state = (): MaintenanceState => {
    if (window === undefined) return Object.freeze({ active: false });
    return Object.freeze({
      active: true,
      since: new Date(since).toISOString(),
      ...(window.until !== undefined && { until: new Date(window.until).toISOString() }),
      ...(window.message !== undefined && { message: window.message }),
      retryAfter: retryAfterOf(window, options.retryAfter, Date.now()),
    });
  };

  const start = (next: NormalizedWindow): MaintenanceState => {
    if (window === undefined) since = Date.now();
    window = next;
    emit.start({
      since: new Date(since).toISOString(),
      ...(next.until !== undefined && { until: new Date(next.until).toISOString() }),
      ...(next.message !== undefined && { message: next.message }),
      ...(next.retryAfter !== undefined && { retryAfter: next.retryAfter }),
    });
    return state();
  };

  if (options.maintenance.active) start(options.maintenance.window);

  return {
    switch: Object.freeze({
      start: (input?: MaintenanceWindow) => start(normalizeMaintenanceWindow(input, `${name}.start()`)),
      stop: () => {
        if (window === undefined) return false;
        window = undefined;
        emit.stop({ since: new Date(since).toISOString(), duration: Date.now() - since });
        return true;
      },
      state,
    }),
    check(url, req) {
      const w = window;
      if (w === undefined) return undefined;
      if (allowed(pathOf(url)) || bypassed(req)) return undefined;
      return {
        ...(w.until !== undefined && { until: w.until }),
        ...(w.message !== undefined && { message: w.message }),
        retryAfter: retryAfterOf(w, options.retryAfter, Date.now()),
      };
    },
    answered(method, url, retryAfter) {
      emit.answer({ method: method ?? 'GET', path: pathOf(url), retryAfter });
    },
  };
}
