/**
 * The `retry` option in its three forms: a policy, `false`, or a function of the framework's
 * request. Static forms are validated once at setup; the function form per request, with a cache
 * so returning the same object each time costs one Map lookup.
 */
import { normalizeRetry, type NormalizedRetryPolicy, type RetryPolicy } from '../options.js';

export type RetryOption<T> = RetryPolicy | false | ((req: T) => RetryPolicy | false) | undefined;

export function resolvePolicy<T>(option: RetryOption<T>): (req: T) => NormalizedRetryPolicy | false {
  if (typeof option !== 'function') {
    const fixed = normalizeRetry(option === undefined ? {} : option);
    return () => fixed;
  }
  const cache = new WeakMap<object, NormalizedRetryPolicy>();
  return (req) => {
    const p = option(req);
    if (p === false) return false;
    if (typeof p !== 'object' || p === null) return normalizeRetry(p as never, 'retry(req)');
    let n = cache.get(p);
    if (n === undefined) {
      n = normalizeRetry(p, 'retry(req)') as NormalizedRetryPolicy;
      cache.set(p, n);
    }
    return n;
  };
}
