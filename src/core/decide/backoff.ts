/**
 * How long to wait before a retry. A pure function: no timers, no state.
 *
 * @see https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */

/**
 * Exponents past this add nothing (2^64 times any sane base is far beyond any sane maxDelay)
 * and keep `baseDelay * 2 ** exponent` finite, so `0 * Infinity = NaN` cannot happen.
 */
const MAX_EXPONENT = 64;

/**
 * Full jitter (AWS architecture blog "Exponential Backoff And Jitter"): the wait before retry
 * `retry` (n >= 1) is uniform in [0, min(maxDelay, baseDelay * 2^(n-1))], in whole ms.
 *
 * Why full jitter: when an upstream falls over, every gateway request fails at once. Plain
 * exponential backoff keeps those retries in lock-step, so they hit the recovering upstream
 * as the same spike again; spreading each wait over the whole window breaks the spike up and,
 * in AWS's measurements, does the least total work of the common schemes.
 *
 * Never overflows: a large `retry` simply caps at `maxDelay`. Both bounds are reachable:
 * `random() === 0` gives 0, a `random()` just under 1 gives the cap.
 *
 * @param retry - which retry this is: 1 for the first retry (the second attempt).
 * @param baseDelay - ms; the cap of the first retry's window.
 * @param maxDelay - ms; no window is wider than this.
 * @param random - returns a number in [0, 1), like Math.random (injectable for tests).
 * @throws RangeError for a `retry` that is not an integer >= 1, or delays that are not
 * finite non-negative numbers: those are bugs in the caller, and a silent default would
 * hide them (options are validated at setup; this is the last line).
 * @see https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
export function fullJitterDelay(
  retry: number,
  baseDelay: number,
  maxDelay: number,
  random: () => number = Math.random,
): number {
  if (!Number.isInteger(retry) || retry < 1) {
    throw new RangeError(`Expected \`retry\` to be an integer >= 1, got ${retry}.`);
  }
  if (!Number.isFinite(baseDelay) || baseDelay < 0) {
    throw new RangeError(`Expected \`baseDelay\` to be a finite number >= 0, got ${baseDelay}.`);
  }
  if (!Number.isFinite(maxDelay) || maxDelay < 0) {
    throw new RangeError(`Expected \`maxDelay\` to be a finite number >= 0, got ${maxDelay}.`);
  }
  const ceiling = baseDelay * 2 ** Math.min(retry - 1, MAX_EXPONENT);
  const cap = Math.floor(Math.min(maxDelay, ceiling));
  // floor(r * (cap + 1)) maps [0, 1) onto the integers 0..cap with equal weight.
  const delay = Math.floor(random() * (cap + 1));
  // A misbehaving `random` (NaN, negative, >= 1) must not push the wait out of the window.
  return delay >= 0 ? Math.min(delay, cap) : 0;
}
