/**
 * Content and language negotiation for error answers, on top of `negotiator` (the parser
 * Express and Koa use), so q-values, wildcards and specificity follow RFC 9110 exactly as the
 * rest of the app sees them.
 *
 * An error answer is never a 406: when nothing the client lists is on offer, it still gets
 * plain text, because telling it *why* the gateway failed beats telling it nothing.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-12.5.1 Accept
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-12.5.4 Accept-Language
 */

import Negotiator from 'negotiator';
import type { BodyFormat } from '../types.js';

/**
 * Headers longer than this are cut (at a comma) before parsing. Real browsers send a few
 * hundred bytes; negotiator's work grows with the number of ranges, and this runs on every
 * error answer, exactly when the server is under stress.
 */
const MAX_HEADER_LENGTH = 4096;

/**
 * What we can send, best first when the client does not care. text/plain leads so that a
 * missing Accept or a bare `*\/*` (curl, health checkers, most API clients) gets plain text:
 * negotiator breaks ties by this order. problem+json precedes application/json so that
 * `application/*` picks the RFC 9457 type. The charset is the one we actually send; listing it
 * lets a client's `application/json; charset=utf-8` match (negotiator requires every parameter
 * the client names to match the offer's).
 */
const OFFERS: readonly string[] = Object.freeze([
  'text/plain; charset=utf-8',
  'text/html; charset=utf-8',
  'application/problem+json; charset=utf-8',
  'application/json; charset=utf-8',
]);

const FORMAT_OF: Readonly<Record<string, BodyFormat>> = Object.freeze({
  'text/plain; charset=utf-8': 'text',
  'text/html; charset=utf-8': 'html',
  'application/problem+json; charset=utf-8': 'json',
  'application/json; charset=utf-8': 'json',
});

/** Structured-syntax suffix of JSON media types (RFC 6839 §3.1), e.g. application/vnd.api+json. */
const JSON_SUFFIX = /\+json$/i;
/** Cheap pre-check on the raw header: only then is the suffix pass worth its allocations. */
const MENTIONS_JSON_SUFFIX = /\+json/i;

/**
 * 'html' | 'json' | 'text' for an Accept header.
 *
 * - Missing, empty, or only `*\/*` -> 'text' (curl).
 * - text/html -> 'html'; text/* -> 'text'.
 * - application/problem+json, application/json, application/*, and any `+json` type
 *   (RFC 6839) -> 'json': a client that understands some JSON dialect reads ours.
 * - Nothing acceptable -> 'text' (never 406).
 * - q-values are respected: `text/html;q=0.1, *\/*` -> 'text'.
 *
 * Headers longer than 4096 characters are cut at the last comma before 4096 first, so huge
 * headers cost bounded time. Never throws.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-12.5.1
 * @see https://www.rfc-editor.org/rfc/rfc6839#section-3.1
 */
export function negotiateFormat(accept: unknown): BodyFormat {
  try {
    const header = headerValue(accept);
    const negotiator = new Negotiator({ headers: { accept: header } });
    if (header === undefined || !MENTIONS_JSON_SUFFIX.test(header)) {
      return formatOf(negotiator.mediaType(OFFERS));
    }
    // negotiator matches only exact types and wildcards, not suffixes. Offer the client's own
    // +json types as well (they stand for our JSON), so its q-values rank them against HTML.
    const suffixed = negotiator.mediaTypes().filter((type) => JSON_SUFFIX.test(type));
    const best = negotiator.mediaType(OFFERS.concat(suffixed));
    if (best !== undefined) return JSON_SUFFIX.test(best) ? 'json' : formatOf(best);
    // A +json range with parameters matches no bare offer; it still asks for JSON.
    return suffixed.length > 0 ? 'json' : 'text';
  } catch {
    return 'text';
  }
}

function formatOf(type: string | undefined): BodyFormat {
  return (type !== undefined && FORMAT_OF[type]) || 'text';
}

/**
 * Best language from Accept-Language among `available` (first = default).
 *
 * Matches a regional range to its base language ('es-MX' -> 'es') and the reverse, as
 * negotiator does. A missing header or `*` gives the first; nothing acceptable gives the first
 * too (a page in the default language beats no page). With an empty `available`, gives 'en'.
 * Headers longer than 4096 characters are cut at the last comma before 4096 first. Never throws.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-12.5.4
 */
export function negotiateLanguage(acceptLanguage: unknown, available: readonly string[]): string {
  let fallback = 'en';
  try {
    const first = available[0];
    if (typeof first === 'string') fallback = first;
    const header = headerValue(acceptLanguage);
    const best = new Negotiator({ headers: { 'accept-language': header } }).language(available);
    if (typeof best === 'string') return best;
  } catch {
    // A hostile header or a malformed `available` entry: the default language it is.
  }
  return fallback;
}

/**
 * A header as one bounded string, or undefined when absent. Repeated headers (an array) are
 * one comma-separated list (RFC 9110 §5.3); non-strings count as absent.
 */
function headerValue(value: unknown): string | undefined {
  if (typeof value === 'string') return bounded(value);
  if (!Array.isArray(value)) return undefined;
  let joined: string | undefined;
  for (const item of value as unknown[]) {
    if (typeof item !== 'string') continue;
    joined = joined === undefined ? item : `${joined}, ${item}`;
    if (joined.length > MAX_HEADER_LENGTH) break;
  }
  return joined === undefined ? undefined : bounded(joined);
}

/** Cut at the last comma at or before MAX_HEADER_LENGTH, so no range is left half-parsed. */
function bounded(value: string): string {
  if (value.length <= MAX_HEADER_LENGTH) return value;
  const comma = value.lastIndexOf(',', MAX_HEADER_LENGTH);
  return comma === -1 ? '' : value.slice(0, comma);
}
