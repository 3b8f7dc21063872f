/**
 * Checking the options `gatewayProxy` adds to http-proxy-middleware's: defaults filled in, every
 * value validated (validate.ts), the result frozen.
 */
import { BUDGET_DEFAULTS, CIRCUIT_DEFAULTS, HEALTH_CHECK_DEFAULTS, OUTLIER_DEFAULTS, PROXY_DEFAULTS, STALE_DEFAULTS } from './defaults.js';
import type { GatewayHooks } from './hooks.js';
import { HOOK_OPTIONS } from './proxy-options.js';
import type {
  CircuitOptions, NormalizedHealthCheck, NormalizedOutlier, NormalizedProxyExtras, NormalizedStale, RetryBudgetOptions, StaleStore,
} from './proxy-options.js';
import { checkCount, checkHook, checkKeys, checkLogger, checkObject, fail, isPlainObject, MAX_TIMER, or, refuse } from './validate.js';

function checkRatio(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) fail(name, 'a number from 0 to 1', value);
  return value;
}

/** cockatiel's SamplingBreaker takes a rate strictly between 0 and 1 (0 would open on anything, 1 never). */
function checkOpenRatio(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value < 1)) fail(name, 'a number greater than 0 and less than 1', value);
  return value;
}

/** `value` when given, the group's default otherwise; `false` turns the group off. */
function group(name: string, value: unknown, keys: readonly string[]): Record<string, unknown> {
  const o = checkObject(name, or(value, {}));
  checkKeys(name, o, keys);
  return o;
}

function normalizeBudget(value: unknown): Required<RetryBudgetOptions> | false {
  if (value === false) return false;
  const o = group('budget', value, ['ratio', 'minPerSecond', 'window']);
  return Object.freeze({
    ratio: checkRatio('budget.ratio', or(o.ratio, BUDGET_DEFAULTS.ratio)),
    minPerSecond: checkCount('budget.minPerSecond', or(o.minPerSecond, BUDGET_DEFAULTS.minPerSecond), 1_000_000),
    window: checkCount('budget.window', or(o.window, BUDGET_DEFAULTS.window), 3_600_000),
  });
}

function normalizeCircuit(value: unknown): Required<CircuitOptions> | false {
  if (value === false) return false;
  const o = group('circuit', value, ['consecutiveFailures', 'failureRate', 'window', 'minimumRps', 'halfOpenAfter']);
  const consecutiveFailures = checkCount('circuit.consecutiveFailures', or(o.consecutiveFailures, CIRCUIT_DEFAULTS.consecutiveFailures), 1_000_000);
  const window = checkCount('circuit.window', or(o.window, CIRCUIT_DEFAULTS.window), 3_600_000);
  if (window < 1000) fail('circuit.window', 'at least 1000 (ms)', window);
  return Object.freeze({
    consecutiveFailures,
    failureRate: checkOpenRatio('circuit.failureRate', or(o.failureRate, CIRCUIT_DEFAULTS.failureRate)),
    window,
    // cockatiel reads 0 as "guess for me"; a minimum must be a real one.
    minimumRps: checkCount('circuit.minimumRps', or(o.minimumRps, CIRCUIT_DEFAULTS.minimumRps), 1_000_000, 1),
    halfOpenAfter: checkCount('circuit.halfOpenAfter', or(o.halfOpenAfter, CIRCUIT_DEFAULTS.halfOpenAfter), MAX_TIMER),
  });
}

/** A year: a longer stale window is a cache, not a fallback. */
const MAX_STALE = 365 * 86_400;

function normalizeStale(value: unknown): NormalizedStale | undefined {
  if (value === undefined || value === false) return undefined;
  if (value !== true && !isPlainObject(value)) fail('stale', 'true, false or an object', value);
  const o = value === true ? {} : value;
  checkKeys('stale', o, ['maxBytes', 'maxEntryBytes', 'maxStale', 'store']);
  const maxStale = checkCount('stale.maxStale', or(o.maxStale, STALE_DEFAULTS.maxStale), MAX_STALE);
  if (o.store !== undefined) {
    const s = o.store as Record<string, unknown>;
    if (typeof s !== 'object' || s === null || typeof s.get !== 'function' || typeof s.set !== 'function' || typeof s.delete !== 'function') {
      fail('stale.store', 'an object with get(), set() and delete()', o.store);
    }
    if (o.maxBytes !== undefined) refuse('stale.maxBytes', 'sizes the built-in store; a `stale.store` of your own keeps its own bound');
  }
  const maxBytes = checkCount('stale.maxBytes', or(o.maxBytes, STALE_DEFAULTS.maxBytes));
  if (maxBytes < 1) fail('stale.maxBytes', 'at least 1', maxBytes);
  const maxEntryBytes = checkCount('stale.maxEntryBytes', or(o.maxEntryBytes, Math.min(STALE_DEFAULTS.maxEntryBytes, maxBytes)), maxBytes);
  return Object.freeze({ maxBytes, maxEntryBytes, maxStale, store: o.store as StaleStore | undefined });
}

/** Validate the options `gatewayProxy` adds. http-proxy's `proxyTimeout` is taken as `responseTimeout`. */
export function normalizeProxyExtras(o: Record<string, unknown>): NormalizedProxyExtras {
  const hooks: Record<string, unknown> = {};
  for (const name of HOOK_OPTIONS) hooks[name] = checkHook(name, o[name]);
  return Object.freeze({
    connectTimeout: checkCount('connectTimeout', or(o.connectTimeout, PROXY_DEFAULTS.connectTimeout), MAX_TIMER),
    responseTimeout: checkCount('responseTimeout', or(o.responseTimeout, or(o.proxyTimeout, PROXY_DEFAULTS.responseTimeout)), MAX_TIMER),
    deadline: checkCount('deadline', or(o.deadline, PROXY_DEFAULTS.deadline), MAX_TIMER),
    idleTimeout: checkCount('idleTimeout', or(o.idleTimeout, PROXY_DEFAULTS.idleTimeout), MAX_TIMER),
    maxConcurrent: checkCount('maxConcurrent', or(o.maxConcurrent, PROXY_DEFAULTS.maxConcurrent)),
    budget: normalizeBudget(o.budget),
    circuit: normalizeCircuit(o.circuit),
    stale: normalizeStale(o.stale),
    hooks: Object.freeze(hooks as GatewayHooks),
    logger: checkLogger(o.logger),
    targets: normalizeTargets(o.targets, o),
    outlier: normalizeOutlier(o.outlier),
    healthCheck: normalizeHealthCheck(o.healthCheck),
  });
}

function normalizeTargets(value: unknown, o: Record<string, unknown>): { url: string; weight: number }[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0) fail('targets', 'a non-empty array of URLs or { url, weight }', value);
  if (o.target !== undefined || o.router !== undefined) refuse('targets', 'replaces `target` and `router`; give one of them, not both');
  const seen = new Set<string>();
  let protocol: string | undefined;
  return value.map((entry: unknown, i: number) => {
    const spec = typeof entry === 'string' ? { url: entry } : checkObject(`targets[${i}]`, entry);
    if (typeof entry !== 'string') checkKeys(`targets[${i}]`, spec, ['url', 'weight']);
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
    return { url, weight: checkCount(`targets[${i}].weight`, weight, 1000, 1) };
  });
}

function normalizeOutlier(value: unknown): NormalizedOutlier | false {
  if (value === false) return false;
  const o = group('outlier', value, ['consecutiveFailures', 'baseEjectionTime', 'maxEjectionTime', 'maxEjectionPercent']);
  return Object.freeze({
    consecutiveFailures: checkCount('outlier.consecutiveFailures', or(o.consecutiveFailures, OUTLIER_DEFAULTS.consecutiveFailures), 1_000_000, 1),
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
  return Object.freeze({
    path: o.path,
    interval: checkCount('healthCheck.interval', or(o.interval, HEALTH_CHECK_DEFAULTS.interval), MAX_TIMER, 1),
    timeout: checkCount('healthCheck.timeout', or(o.timeout, HEALTH_CHECK_DEFAULTS.timeout), MAX_TIMER, 1),
    unhealthyThreshold: checkCount('healthCheck.unhealthyThreshold', or(o.unhealthyThreshold, HEALTH_CHECK_DEFAULTS.unhealthyThreshold), 1000, 1),
    healthyThreshold: checkCount('healthCheck.healthyThreshold', or(o.healthyThreshold, HEALTH_CHECK_DEFAULTS.healthyThreshold), 1000, 1),
  });
}
