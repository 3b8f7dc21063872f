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
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) ([0-9]{2}:[0-9]{2}:[0-9]{2}) GMT$/;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

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
  // RFC 9110 OWS is spaces and tabs only.
  const value = raw.replace(/^[ \t]+|[ \t]+$/g, '');
  if (DELTA_SECONDS.test(value)) {
    const digits = value.replace(/^0+(?=[0-9])/, '');
    return digits.length > MAX_DIGITS ? MAX_RETRY_AFTER : Math.min(Number(digits), MAX_RETRY_AFTER);
  }
  const epoch = epochOf(value);
  if (epoch === undefined) return undefined;
  const seconds = Math.ceil((epoch - now) / 1000);
  return seconds <= 0 ? 0 : Math.min(seconds, MAX_RETRY_AFTER);
}

/** Epoch ms of an IMF-fixdate, or undefined when it is not one or names no real instant. */
function epochOf(value: string): number | undefined {
  const match = IMF_FIXDATE.exec(value);
  if (match === null) return undefined;
  const [, day, month, year, time] = match as unknown as [string, string, string, string, string];
  // ISO 8601 reads the year as written (the RFC 2822 form of Date.parse maps 0050 to 1950). Date
  // rolls 31 Feb into March and 24:00 into the next day; the round trip catches both. The
  // weekday is redundant and not compared.
  const date = new Date(`${year}-${String(MONTHS.indexOf(month) + 1).padStart(2, '0')}-${day}T${time}Z`);
  return date.toUTCString().slice(4) === value.slice(4) ? date.getTime() : undefined;
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
