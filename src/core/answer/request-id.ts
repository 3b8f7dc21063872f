/**
 * The request id a visitor can quote to support, and that ties our logs to the upstream's.
 */

import { randomUUID } from 'node:crypto';

/**
 * What an incoming X-Request-Id must look like to be reused: 1 to 128 characters from a set
 * that is safe in a header, in HTML, in JSON and in log lines without escaping (no spaces,
 * quotes, angle brackets, CR or LF). UUIDs, ULIDs, base64 and `host:pid/seq` ids all fit.
 * Anything else is replaced rather than repaired: a trimmed or escaped id would no longer match
 * what the client logged.
 */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._~:@+=/-]{1,128}$/;

/**
 * The incoming X-Request-Id when it matches {@link REQUEST_ID_PATTERN}, else a fresh
 * `crypto.randomUUID()`.
 *
 * Reusing the caller's id lets one request be followed across a chain of proxies; checking it
 * first keeps header injection and page-breaking markup out of our own answer.
 *
 * Accepts `unknown` because header values arrive as `string | string[] | undefined`. An array
 * is used only when it holds exactly one value and that value matches: with several ids there
 * is no telling which one the client will look for.
 */
export function requestIdFrom(header: unknown): string {
  const value = Array.isArray(header) && header.length === 1 ? (header as unknown[])[0] : header;
  return typeof value === 'string' && REQUEST_ID_PATTERN.test(value) ? value : randomUUID();
}
