/**
 * Retry-After in and out: parse what an upstream sent, format what we send. Nothing else.
 *
 * We only ever send delta-seconds: an HTTP-date depends on the receiver's clock agreeing with
 * ours, a number of seconds does not.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3 RFC 9110 §10.2.3, Retry-After
 */

/**
 * The largest Retry-After we accept or send, in seconds (one day). An upstream asking for
 * longer is told "one day" by us; nobody should be asked to wait weeks by an error page.
 */
export const MAX_RETRY_AFTER = 86_400;

/** delta-seconds = 1*DIGIT (RFC 9110 §10.2.3). No sign, no fraction, no exponent, no hex. */
const DELTA_SECONDS = /^[0-9]+$/;

/**
 * IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT, e.g.
 * `Sun, 06 Nov 1994 08:49:37 GMT`. Case-sensitive, as the grammar is.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
 */
const IMF_FIXDATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT$/;

const MONTHS: Readonly<Record<string, number>> = Object.freeze({
  Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11,
});

/** Digits above this many (after leading zeros) are certainly more than MAX_RETRY_AFTER. */
const MAX_DIGITS = String(MAX_RETRY_AFTER).length;

/**
 * Parse a Retry-After value: delta-seconds (1*DIGIT) or IMF-fixdate only
 * (RFC 9110 §10.2.3, §5.6.7).
 *
 * Returns integer seconds clamped to [0, {@link MAX_RETRY_AFTER}]: a date becomes the seconds
 * from `now`, rounded up (waiting a fraction too long is harmless, too short is not); a date in
 * the past becomes 0.
 *
 * Returns undefined for anything else, so an invalid upstream value is dropped, never echoed:
 * empty, negative, fractional, `0x10`, `1e3`, `Infinity`, `+5`, the obsolete rfc850 and
 * asctime date forms, impossible dates (31 Feb, 24:00:00), and arrays holding several
 * differing values (repeated headers that disagree give no usable answer). The weekday is
 * not cross-checked against the date: it is redundant, and the round trip through Date
 * already rejects every impossible field.
 *
 * Accepts `string | string[] | number | undefined`; a number counts only when it is a
 * non-negative integer. Surrounding spaces and tabs (RFC 9110 OWS) are ignored. Very long
 * digit strings clamp to the maximum by their length, never through floating point.
 *
 * @param now - the current time in epoch milliseconds (injectable for tests).
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
 */
export function parseRetryAfter(value: unknown, now: number = Date.now()): number | undefined {
  const at = Number.isFinite(now) ? now : Date.now();
  if (typeof value === 'string') return parseOne(value, at);
  if (typeof value === 'number') {
    // `+ 0` turns -0 into 0.
    return Number.isInteger(value) && value >= 0 ? Math.min(value, MAX_RETRY_AFTER) + 0 : undefined;
  }
  if (Array.isArray(value) && value.length > 0) {
    let result: number | undefined;
    for (const item of value as unknown[]) {
      if (typeof item !== 'string') return undefined;
      const seconds = parseOne(item, at);
      if (seconds === undefined || (result !== undefined && seconds !== result)) return undefined;
      result = seconds;
    }
    return result;
  }
  return undefined;
}

function parseOne(raw: string, now: number): number | undefined {
  const value = trimOws(raw);
  if (DELTA_SECONDS.test(value)) return parseDeltaSeconds(value);
  const date = IMF_FIXDATE.exec(value);
  if (date === null) return undefined;
  const epoch = epochOf(date);
  if (epoch === undefined) return undefined;
  const seconds = Math.ceil((epoch - now) / 1000);
  return seconds <= 0 ? 0 : Math.min(seconds, MAX_RETRY_AFTER);
}

/** Strip leading and trailing SP / HTAB (RFC 9110 §5.6.3 OWS), nothing else. */
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isOws(value.charCodeAt(start))) start++;
  while (end > start && isOws(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

function isOws(charCode: number): boolean {
  return charCode === 0x20 || charCode === 0x09;
}

/** `digits` is known to match DELTA_SECONDS. */
function parseDeltaSeconds(digits: string): number {
  let start = 0;
  while (start < digits.length - 1 && digits.charCodeAt(start) === 0x30) start++;
  if (digits.length - start > MAX_DIGITS) return MAX_RETRY_AFTER;
  return Math.min(decimal(digits, start, digits.length), MAX_RETRY_AFTER);
}

/** The value of the ASCII digits in [start, end); callers keep it short enough to be exact. */
function decimal(digits: string, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) n = n * 10 + (digits.charCodeAt(i) - 0x30);
  return n;
}

/** Epoch ms of a matched IMF-fixdate, or undefined when the fields name no real instant. */
function epochOf(match: RegExpExecArray): number | undefined {
  const [, dd = '', mon = '', yyyy = '', hh = '', mm = '', ss = ''] = match;
  const day = decimal(dd, 0, 2);
  const month = MONTHS[mon];
  const year = decimal(yyyy, 0, 4);
  const hours = decimal(hh, 0, 2);
  const minutes = decimal(mm, 0, 2);
  const seconds = decimal(ss, 0, 2);
  if (month === undefined) return undefined;
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(hours, minutes, seconds, 0);
  // Date silently rolls 31 Feb into March and 24:00 into tomorrow; a round trip catches it.
  const roundTrips =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hours &&
    date.getUTCMinutes() === minutes &&
    date.getUTCSeconds() === seconds;
  return roundTrips ? date.getTime() : undefined;
}

/**
 * Format seconds as the header value: integer delta-seconds, the ceiling of a fraction,
 * clamped to [0, {@link MAX_RETRY_AFTER}]; NaN and negatives give '0'.
 *
 * Never an HTTP-date and never a fraction: the grammar has no fractions, and a client told
 * "1.5" may ignore the header altogether.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function formatRetryAfter(seconds: number): string {
  if (typeof seconds !== 'number' || !(seconds > 0)) return '0';
  return String(Math.min(Math.ceil(seconds), MAX_RETRY_AFTER));
}
