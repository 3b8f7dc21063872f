/**
 * Failure classification: anything thrown, or a status someone answered, becomes one
 * {@link Failure}. The tables in error-types.ts decide everything; the functions only walk
 * errors and look codes up.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9209#section-2.3 RFC 9209 §2.3, Proxy Error Types
 */
import { ERROR_TYPES, typeOfCode } from './error-types.js';
import { parseRetryAfter } from './retry-after.js';
import type { BrandedStatus, Failure, GatewayStatus, ProxyErrorType } from '../types.js';
import { fail } from '../validate.js';

export { ERROR_CODES, ERROR_TYPES, type ErrorTypeRow } from './error-types.js';

/** How far down `cause` / `errors` to look: enough for fetch -> AggregateError -> errno. */
const MAX_DEPTH = 8;
/** How many errors to inspect at most, so a huge AggregateError costs bounded time. */
const MAX_NODES = 64;

/**
 * Read a property without trusting the object: getters and Proxy traps may throw, and a
 * classifier that throws inside an error handler turns one failure into two.
 */
function read(obj: object, key: string): unknown {
  try {
    return (obj as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** The RFC 9209 type one error object names by itself (not looking at its causes). */
function typeOfNode(node: object): ProxyErrorType | undefined {
  const code = read(node, 'code');
  if (typeof code === 'string') {
    const type = typeOfCode(code);
    if (type !== undefined) return type;
  }
  // AbortSignal.timeout() rejects fetch with a DOMException named TimeoutError: the deadline
  // the application set for the whole exchange passed. (AbortError, a cancellation, is
  // deliberately absent: an aborted request is not an upstream failure.)
  if (read(node, 'name') === 'TimeoutError') return 'http_response_timeout';
  // Node 24's fetch (undici 7) throws a malformed response head as HTTPParserError with no code.
  if (read(node, 'name') === 'HTTPParserError') return 'http_protocol_error';
  return undefined;
}

/**
 * Push what an error wraps: `cause` (fetch's `TypeError('fetch failed')` carries the real
 * code there) and AggregateError's `errors` (Happy Eyeballs reports one error per address).
 */
function pushChildren(node: object, depth: number, queue: [object, number][]): void {
  const cause = read(node, 'cause');
  if (isObjectLike(cause)) queue.push([cause, depth + 1]);

  const errors = read(node, 'errors');
  let isArray = false;
  try {
    isArray = Array.isArray(errors); // throws for a revoked Proxy
  } catch {
    return;
  }
  if (!isArray) return;
  const length = read(errors as object, 'length');
  if (typeof length !== 'number') return;
  const n = Math.min(length, MAX_NODES);
  for (let i = 0; i < n; i++) {
    const item = read(errors as object, String(i));
    if (isObjectLike(item)) queue.push([item, depth + 1]);
  }
}

/** Errors are objects; a thrown function with a `code` is odd but still inspected. */
function isObjectLike(value: unknown): value is object {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

/**
 * Classify anything thrown. Returns undefined when it is not an upstream failure (those keep
 * their normal 500 handling).
 *
 * Looks at the error, then breadth-first at what it wraps (`cause`, AggregateError
 * `errors`), so the outermost code wins: a library's own timeout code beats the errno it
 * wraps. Only string `code` values count (DOMException's numeric `code` is a legacy constant,
 * not a failure kind).
 *
 * Never throws: strings, null, numbers, frozen objects, objects with throwing getters or
 * Proxies, cyclic `cause` chains, AggregateError, and deep chains (bounded at 8 levels and
 * 64 errors, so a hostile error costs bounded time) all end in a Failure or undefined.
 *
 * The returned Failure's `cause` is `err` itself, as thrown.
 */
export function classifyError(err: unknown): Failure | undefined {
  if (!isObjectLike(err)) return undefined;
  try {
    const queue: [object, number][] = [[err, 0]];
    const seen = new Set<object>();
    for (let i = 0; i < queue.length && seen.size < MAX_NODES; i++) {
      const [node, depth] = queue[i]!;
      if (seen.has(node)) continue;
      seen.add(node);
      const type = typeOfNode(node);
      if (type !== undefined) return failureOf(type, err);
      if (depth < MAX_DEPTH) pushChildren(node, depth, queue);
    }
  } catch {
    // Defensive: every read above is already guarded; nothing we do here may throw.
  }
  return undefined;
}

/** True for 502, 503 and 504: the statuses this library owns. */
export function isGatewayStatus(status: unknown): status is GatewayStatus {
  return status === 502 || status === 503 || status === 504;
}

/**
 * The one way a failure is made from a status someone answered, with its Retry-After header
 * (an invalid value is dropped, never echoed):
 *
 * - `'upstream'`: the upstream's own answer, reported as `received-status` rather than an error
 *   type, because RFC 9209 reserves error types for failures the intermediary observed itself.
 *   A status the retry policy lists that is not a gateway one (a 429) is answered as 502.
 *   `retryable` is whether the policy retries it.
 * - `'handler'`: a handler's own answer (502/503/504, or a listed 429/500), no upstream involved,
 *   so no Proxy-Status and nothing to retry. A 429 turned the request away unprocessed
 *   (RFC 6585), so even a POST is safe to send again: the page must not say it may have gone
 *   through.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9209#section-2.1.4 received-status
 */
export function statusFailure(status: number, retryAfterHeader: unknown, from: 'upstream', retryable?: boolean): Failure;
export function statusFailure(status: BrandedStatus, retryAfterHeader: unknown, from: 'handler'): Failure<BrandedStatus>;
export function statusFailure(status: number, retryAfterHeader: unknown, from: 'upstream' | 'handler', retryable = true): Failure<BrandedStatus> {
  const retryAfter = parseRetryAfter(retryAfterHeader);
  const base: Failure<BrandedStatus> =
    from === 'upstream'
      ? { status: isGatewayStatus(status) ? status : 502, receivedStatus: status, retryable }
      : { status: status as BrandedStatus, retryable: false, ...(status === 429 && { unsent: true }) };
  return retryAfter === undefined ? base : { ...base, retryAfter };
}

/**
 * The upstream answered a gateway status itself: `{ status, receivedStatus: status,
 * retryable: true, retryAfter }`; returns undefined for any other status.
 *
 * `retryAfter` is expected from {@link parseRetryAfter}; anything that is not a finite,
 * non-negative number is left out, and a fractional or too-large one is rounded up and clamped
 * like the header value would be.
 */
export function classifyStatus(status: number, retryAfter?: number): Failure | undefined {
  if (!isGatewayStatus(status)) return undefined;
  const seconds = typeof retryAfter === 'number' && Number.isFinite(retryAfter) && retryAfter >= 0 ? Math.ceil(retryAfter) : undefined;
  return statusFailure(status, seconds, 'upstream');
}

/**
 * Build a Failure for a known type (the engine's own timers and limits, e.g.
 * 'http_response_timeout'). Status and retryability come from {@link ERROR_TYPES} only.
 *
 * @throws TypeError for a type that is not in {@link ERROR_TYPES}: that is a programming
 * error, and answering with a made-up status would hide it.
 */
export function failureOf(type: ProxyErrorType, cause?: unknown): Failure {
  const entry = Object.hasOwn(ERROR_TYPES, type) ? ERROR_TYPES[type] : undefined;
  if (entry === undefined) fail('type', 'an RFC 9209 error type from ERROR_TYPES', type);
  const failure = { status: entry.status, error: type, retryable: entry.retryable };
  return cause === undefined ? failure : { ...failure, cause };
}
