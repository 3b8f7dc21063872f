import { describe, expect, it, vi } from 'vitest';
import { MAX_RETRY_AFTER, formatRetryAfter, parseRetryAfter } from '../../src/core/decide/retry-after.js';

/** Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's own example. */
const EXAMPLE = 'Sun, 06 Nov 1994 08:49:37 GMT';
const EXAMPLE_MS = Date.UTC(1994, 10, 6, 8, 49, 37);

describe('MAX_RETRY_AFTER', () => {
  it('is one day', () => {
    expect(MAX_RETRY_AFTER).toBe(86_400);
  });
});

describe('parseRetryAfter', () => {
  describe('delta-seconds', () => {
    it.each([
      ['0', 0],
      ['1', 1],
      ['120', 120],
      ['007', 7],
      ['000', 0],
      ['86399', 86_399],
      ['86400', MAX_RETRY_AFTER],
    ])('reads %j as %i seconds', (value, expected) => {
      expect(parseRetryAfter(value)).toBe(expected);
    });

    it.each([
      ['86401', MAX_RETRY_AFTER],
      ['100000', MAX_RETRY_AFTER],
      ['99999999999999999999', MAX_RETRY_AFTER],
      ['9'.repeat(400), MAX_RETRY_AFTER],
    ])('clamps %s to one day', (value, expected) => {
      expect(parseRetryAfter(value)).toBe(expected);
    });

    it('reads long runs of leading zeros exactly, not as a huge number', () => {
      expect(parseRetryAfter(`${'0'.repeat(500)}42`)).toBe(42);
    });

    it.each([' 120', '120 ', '\t120\t', '  120  '])('allows surrounding spaces and tabs: %j', (value) => {
      expect(parseRetryAfter(value)).toBe(120);
    });
  });

  describe('IMF-fixdate', () => {
    it('gives the seconds from now to a future date', () => {
      expect(parseRetryAfter(EXAMPLE, EXAMPLE_MS - 30_000)).toBe(30);
    });

    it('rounds a partial second up, so the client never comes back early', () => {
      expect(parseRetryAfter(EXAMPLE, EXAMPLE_MS - 29_001)).toBe(30);
      expect(parseRetryAfter(EXAMPLE, EXAMPLE_MS - 1)).toBe(1);
    });

    it('gives 0 for now', () => {
      expect(parseRetryAfter(EXAMPLE, EXAMPLE_MS)).toBe(0);
    });

    it('gives 0 for a date in the past', () => {
      expect(parseRetryAfter(EXAMPLE, EXAMPLE_MS + 1)).toBe(0);
      expect(parseRetryAfter(EXAMPLE, EXAMPLE_MS + 365 * 86_400_000)).toBe(0);
    });

    it('clamps a date far in the future to one day', () => {
      expect(parseRetryAfter(EXAMPLE, EXAMPLE_MS - 2 * 86_400_000)).toBe(MAX_RETRY_AFTER);
      expect(parseRetryAfter('Fri, 31 Dec 9999 23:59:59 GMT', EXAMPLE_MS)).toBe(MAX_RETRY_AFTER);
    });

    it('measures from the real clock when no `now` is given', () => {
      vi.useFakeTimers({ now: EXAMPLE_MS - 10_000 });
      try {
        expect(parseRetryAfter(EXAMPLE)).toBe(10);
      } finally {
        vi.useRealTimers();
      }
    });

    it('falls back to the real clock for a non-finite `now`', () => {
      vi.useFakeTimers({ now: EXAMPLE_MS - 10_000 });
      try {
        expect(parseRetryAfter(EXAMPLE, Number.NaN)).toBe(10);
      } finally {
        vi.useRealTimers();
      }
    });

    it('allows surrounding whitespace around a date', () => {
      expect(parseRetryAfter(`  ${EXAMPLE}\t`, EXAMPLE_MS - 5000)).toBe(5);
    });

    it('accepts a leap day that exists', () => {
      expect(parseRetryAfter('Thu, 29 Feb 2024 00:00:00 GMT', Date.UTC(2024, 1, 28, 23, 59, 0))).toBe(60);
    });

    it('reads years before 100 as themselves, not as 19xx (a past date gives 0)', () => {
      expect(parseRetryAfter('Mon, 01 Jan 0050 00:00:00 GMT', EXAMPLE_MS)).toBe(0);
      // Were it read as 1950, a `now` in 1900 would give a positive delay.
      expect(parseRetryAfter('Mon, 01 Jan 0050 00:00:00 GMT', Date.UTC(1900, 0, 1))).toBe(0);
    });
  });

  describe('invalid values are dropped', () => {
    it.each([
      ['empty', ''],
      ['only whitespace', '   '],
      ['negative', '-5'],
      ['explicit plus', '+5'],
      ['fractional', '1.5'],
      ['trailing dot', '5.'],
      ['hexadecimal', '0x10'],
      ['exponent', '1e3'],
      ['Infinity', 'Infinity'],
      ['NaN', 'NaN'],
      ['inner space', '1 2'],
      ['a list', '5, 5'],
      ['a unit', '5s'],
      ['full-width digits', '５'],
      ['Arabic-Indic digits', '٥'],
      ['a newline around it', '\n5'],
      ['a no-break space around it', '\u00a05'],
      ['rfc850-date (obsolete)', 'Sunday, 06-Nov-94 08:49:37 GMT'],
      ['asctime-date (obsolete)', 'Sun Nov  6 08:49:37 1994'],
      ['ISO 8601', '1994-11-06T08:49:37Z'],
      ['a date without GMT', 'Sun, 06 Nov 1994 08:49:37'],
      ['a date in UTC instead of GMT', 'Sun, 06 Nov 1994 08:49:37 UTC'],
      ['a date with a numeric zone', 'Sun, 06 Nov 1994 08:49:37 +0000'],
      ['lower-case gmt', 'Sun, 06 Nov 1994 08:49:37 gmt'],
      ['lower-case month', 'Sun, 06 nov 1994 08:49:37 GMT'],
      ['lower-case day name', 'sun, 06 Nov 1994 08:49:37 GMT'],
      ['a one-digit day', 'Sun, 6 Nov 1994 08:49:37 GMT'],
      ['a two-digit year', 'Sun, 06 Nov 94 08:49:37 GMT'],
      ['a long day name', 'Sunday, 06 Nov 1994 08:49:37 GMT'],
      ['31 February', 'Sat, 31 Feb 2024 00:00:00 GMT'],
      ['29 February in a common year', 'Thu, 29 Feb 2023 00:00:00 GMT'],
      ['day 00', 'Sun, 00 Nov 1994 08:49:37 GMT'],
      ['hour 24', 'Sun, 06 Nov 1994 24:00:00 GMT'],
      ['minute 60', 'Sun, 06 Nov 1994 08:60:00 GMT'],
      ['second 60', 'Sun, 06 Nov 1994 08:49:60 GMT'],
      ['double spaces', 'Sun,  06 Nov 1994 08:49:37 GMT'],
      ['garbage after the date', `${EXAMPLE} x`],
    ])('%s: %j', (_name, value) => {
      expect(parseRetryAfter(value, EXAMPLE_MS - 60_000)).toBeUndefined();
    });

    it.each([
      ['a negative number', -1],
      ['a fraction', 1.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
    ])('rejects %s given as a number', (_name, value) => {
      expect(parseRetryAfter(value)).toBeUndefined();
    });

    it.each([
      ['null', null],
      ['undefined', undefined],
      ['an object', { value: '5' }],
      ['a boolean', true],
      ['a bigint', 5n],
    ])('rejects %s', (_name, value) => {
      expect(parseRetryAfter(value)).toBeUndefined();
    });
  });

  describe('numbers', () => {
    it.each([
      [0, 0],
      [-0, 0],
      [5, 5],
      [MAX_RETRY_AFTER, MAX_RETRY_AFTER],
      [MAX_RETRY_AFTER + 1, MAX_RETRY_AFTER],
      [Number.MAX_SAFE_INTEGER, MAX_RETRY_AFTER],
      [1e300, MAX_RETRY_AFTER],
    ])('takes the non-negative integer %d as %d', (value, expected) => {
      expect(Object.is(parseRetryAfter(value), expected)).toBe(true);
    });
  });

  describe('arrays (repeated headers)', () => {
    it('reads a single value', () => {
      expect(parseRetryAfter(['120'])).toBe(120);
    });

    it('reads several values that agree', () => {
      expect(parseRetryAfter(['120', ' 120', '0120'])).toBe(120);
    });

    it('reads a date and a delay that agree', () => {
      expect(parseRetryAfter([EXAMPLE, '30'], EXAMPLE_MS - 30_000)).toBe(30);
    });

    it.each([
      ['differing values', ['120', '60']],
      ['an invalid member', ['120', 'soon']],
      ['a non-string member', ['120', 120]],
      ['a hole', [, '120']],
      ['nothing', []],
    ])('drops %s', (_name, value) => {
      expect(parseRetryAfter(value)).toBeUndefined();
    });
  });
});

describe('formatRetryAfter', () => {
  it.each([
    [0, '0'],
    [1, '1'],
    [30, '30'],
    [0.001, '1'],
    [1.2, '2'],
    [29.999, '30'],
    [MAX_RETRY_AFTER, '86400'],
    [MAX_RETRY_AFTER + 0.5, '86400'],
    [1e21, '86400'],
    [Number.POSITIVE_INFINITY, '86400'],
    [Number.MAX_VALUE, '86400'],
    [Number.MIN_VALUE, '1'],
  ])('formats %d as %j', (seconds, expected) => {
    expect(formatRetryAfter(seconds)).toBe(expected);
  });

  it.each([Number.NaN, -1, -0.5, -0, Number.NEGATIVE_INFINITY])('formats %d as 0', (seconds) => {
    expect(formatRetryAfter(seconds)).toBe('0');
  });

  it('formats a non-number that slipped through as 0', () => {
    expect(formatRetryAfter('30' as unknown as number)).toBe('0');
  });

  it('round-trips through parseRetryAfter', () => {
    for (const seconds of [0, 1, 59, 3600, MAX_RETRY_AFTER]) {
      expect(parseRetryAfter(formatRetryAfter(seconds))).toBe(seconds);
    }
  });
});
