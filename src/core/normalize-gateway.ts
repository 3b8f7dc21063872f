/**
 * Checking the options of `gatewayErrors()` and the retry policy: defaults filled in, every value
 * validated (validate.ts), the result frozen. Brand, templates and locales are checked by the
 * answer modules that use them.
 */
import { EXTRA_STATUSES, GATEWAY_DEFAULTS, IDEMPOTENT_METHODS, RETRY_DEFAULTS } from './defaults.js';
import type { MaintenanceHooks } from './hooks.js';
import type {
  GatewayErrorsOptions, MaintenanceWindow, NormalizedGatewayOptions, NormalizedMaintenance, NormalizedRetryPolicy, NormalizedWindow, RetryPolicy,
} from './options.js';
import { checkBoolean, checkCount, checkHook, checkKeys, checkLogger, checkObject, fail, MAX_TIMER, or, refuse } from './validate.js';

const TOKEN = /^[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]*$/; // RFC 8941 sf-token
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 token

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
  const key = or(o.idempotencyKey, RETRY_DEFAULTS.idempotencyKey);
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

const GATEWAY_KEYS = [
  'brand', 'templates', 'proxyName', 'retryAfter', 'expose', 'keepUpstreamBody', 'locales', 'bodyLimit',
  'extraStatuses', 'maintenance', 'logger', 'onMaintenanceStart', 'onMaintenanceStop', 'onMaintenanceAnswer', 'diagnose',
];
const MAINTENANCE_KEYS = ['active', 'until', 'message', 'retryAfter', 'allow', 'bypass'];
const WINDOW_KEYS = ['until', 'message', 'retryAfter'];
/** Long enough for a sentence or two; a page is not the place for an essay. */
export const MAX_MESSAGE = 500;
/** `/path` or `/prefix/*`: no query, no spaces, `*` only as the last segment. */
const ALLOW_ENTRY = /^\/[^\s?#*]*(?:\/\*)?$/;

/**
 * Epoch ms of a maintenance end: a Date or a string `Date.parse` reads (ISO 8601, e.g.
 * '2026-12-07T14:00:00Z'). A time already past is accepted: a restart while the work overruns
 * must not crash the app.
 */
export function checkUntil(name: string, value: unknown): number {
  const until = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(until)) fail(name, "a valid Date or date string such as '2026-12-07T14:00:00Z'", value);
  return until;
}

/** The operator's own words on a maintenance page. */
export function checkMessage(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length > MAX_MESSAGE) fail(name, `a string of at most ${MAX_MESSAGE} characters`, value);
  return value;
}

/** Validate a maintenance window: `start()`'s argument, or the window part of the `maintenance` option. */
export function normalizeMaintenanceWindow(input: MaintenanceWindow | undefined, name: string, keys = WINDOW_KEYS): NormalizedWindow {
  const o = input === undefined ? {} : checkObject(name, input);
  checkKeys(name, o, keys);
  const until = o.until === undefined ? undefined : checkUntil(`${name}.until`, o.until);
  const message = o.message === undefined ? undefined : checkMessage(`${name}.message`, o.message);
  return Object.freeze({
    ...(until !== undefined && { until }),
    ...(message !== undefined && message !== '' && { message }),
    ...(o.retryAfter !== undefined && { retryAfter: checkCount(`${name}.retryAfter`, o.retryAfter, 86_400) }),
  });
}

function normalizeMaintenance(value: unknown, name: string): NormalizedMaintenance {
  const o = value === undefined ? {} : checkObject(name, value);
  checkKeys(name, o, MAINTENANCE_KEYS);
  const active = checkBoolean(`${name}.active`, or(o.active, false));
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
  if (o.templates !== undefined && typeof o.templates !== 'string') fail(`${name}.templates`, 'a directory path', o.templates);
  const extra = or(o.extraStatuses, GATEWAY_DEFAULTS.extraStatuses);
  if (!Array.isArray(extra) || !extra.every((s) => (EXTRA_STATUSES as readonly unknown[]).includes(s))) {
    fail(`${name}.extraStatuses`, `an array of statuses from ${EXTRA_STATUSES.join(', ')} (502, 503 and 504 are always branded)`, extra);
  }
  // A proxy's fallback answers (`errors`) have no middleware in front of the app to turn away requests.
  if (name === 'errors' && o.maintenance !== undefined) {
    refuse('errors.maintenance', 'has no effect: planned maintenance runs in gatewayErrors()');
  }
  return Object.freeze({
    proxyName,
    retryAfter: checkCount(`${name}.retryAfter`, or(o.retryAfter, GATEWAY_DEFAULTS.retryAfter), 86_400),
    expose: checkBoolean(`${name}.expose`, or(o.expose, GATEWAY_DEFAULTS.expose)),
    keepUpstreamBody: checkBoolean(`${name}.keepUpstreamBody`, or(o.keepUpstreamBody, GATEWAY_DEFAULTS.keepUpstreamBody)),
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

const IDEMPOTENT_SET: ReadonlySet<string> = new Set(IDEMPOTENT_METHODS);

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
