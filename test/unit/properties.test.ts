import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_TYPES, classifyError, classifyStatus } from '../../src/core/decide/classify.js';
import { negotiateFormat, negotiateLanguage } from '../../src/core/answer/negotiate.js';
import { REQUEST_ID_PATTERN, requestIdFrom } from '../../src/core/answer/request-id.js';
import { MAX_RETRY_AFTER, formatRetryAfter, parseRetryAfter } from '../../src/core/decide/retry-after.js';
import type { ProxyErrorType } from '../../src/core/types.js';

/** Any string at all: lone surrogates, controls, NUL, astral characters. */
const anyString = fc.string({ unit: 'binary', maxLength: 300 });

/** Long strings without making fast-check generate megabytes character by character. */
const hugeString = fc
  .tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.integer({ min: 100, max: 3000 }))
  .map(([chunk, times]) => chunk.repeat(times));

/** Pieces Accept-style headers are made of, so strings get near the parser's edge cases. */
const headerish = fc
  .array(
    fc.oneof(
      fc.constantFrom('text/html', 'text/plain', '*/*', 'application/*', 'application/json', 'application/vnd.x+json', 'text/*', 'en', 'es-MX', '*', 'x'),
      fc.constantFrom(';q=0', ';q=1', ';q=0.5', ';q=', ';q=abc', ';q=1e-3', ';charset=utf-8', ';x="', '"', '\\', ',', ', ', ';', '=', ' ', '\t', '+json', '/'),
      anyString,
    ),
    { maxLength: 30 },
  )
  .map((parts) => parts.join(''));

const anyHeader = fc.oneof(anyString, headerish, hugeString, fc.array(fc.oneof(anyString, headerish)), fc.anything());

describe('properties: Retry-After', () => {
  it('round-trips every integer from 0 to MAX_RETRY_AFTER through format and parse', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_RETRY_AFTER }), (seconds) => {
        const formatted = formatRetryAfter(seconds);
        expect(formatted).toBe(String(seconds));
        expect(parseRetryAfter(formatted)).toBe(seconds);
      }),
    );
  });

  it('never parses any value into a negative, fractional, NaN or too large number', () => {
    const value = fc.oneof(anyString, headerish, hugeString, fc.stringMatching(/^[ \t]*[0-9]{1,40}[ \t]*$/), fc.anything(), fc.double());
    fc.assert(
      fc.property(value, fc.integer({ min: -8.64e15, max: 8.64e15 }), (input, now) => {
        const seconds = parseRetryAfter(input, now);
        if (seconds === undefined) return;
        expect(Number.isInteger(seconds)).toBe(true);
        expect(seconds).toBeGreaterThanOrEqual(0);
        expect(seconds).toBeLessThanOrEqual(MAX_RETRY_AFTER);
        expect(Object.is(seconds, -0)).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('reads any digit string exactly, however long (BigInt as the oracle)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{1,60}$/), (digits) => {
        const exact = BigInt(digits);
        const expected = exact > BigInt(MAX_RETRY_AFTER) ? MAX_RETRY_AFTER : Number(exact);
        expect(parseRetryAfter(digits)).toBe(expected);
      }),
    );
  });

  it('reads any IMF-fixdate as the whole seconds until it, rounded up and clamped', () => {
    const instant = fc.integer({ min: Date.UTC(1000, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59) });
    fc.assert(
      fc.property(instant, fc.integer({ min: -3 * 86_400_000, max: 3 * 86_400_000 }), (ms, offset) => {
        const header = new Date(ms).toUTCString(); // "Sun, 06 Nov 1994 08:49:37 GMT"
        const whole = Math.floor(ms / 1000) * 1000;
        const now = whole - offset;
        const expected = Math.min(MAX_RETRY_AFTER, Math.max(0, Math.ceil(offset / 1000)));
        expect(parseRetryAfter(header, now)).toBe(expected);
      }),
    );
  });

  it('formats any double as delta-seconds no larger than MAX_RETRY_AFTER', () => {
    fc.assert(
      fc.property(fc.double(), (seconds) => {
        const formatted = formatRetryAfter(seconds);
        expect(formatted).toMatch(/^(?:0|[1-9][0-9]*)$/);
        expect(Number(formatted)).toBeLessThanOrEqual(MAX_RETRY_AFTER);
        if (seconds > 0 && seconds <= MAX_RETRY_AFTER) expect(Number(formatted)).toBe(Math.ceil(seconds));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('properties: negotiation', () => {
  it('negotiateFormat never throws and always names a format', () => {
    fc.assert(
      fc.property(anyHeader, (accept) => {
        expect(['html', 'json', 'text']).toContain(negotiateFormat(accept));
      }),
      { numRuns: 500 },
    );
  });

  it('negotiateLanguage never throws and always answers one of the available languages', () => {
    const available = fc.array(fc.constantFrom('en', 'es', 'fr', 'de-CH', 'pt-BR', 'zh-Hant-TW'), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(anyHeader, available, (header, languages) => {
        expect(languages).toContain(negotiateLanguage(header, languages));
      }),
      { numRuns: 500 },
    );
  });

  it('negotiateLanguage never throws even for arbitrary available lists', () => {
    fc.assert(
      fc.property(anyHeader, fc.array(anyString), (header, languages) => {
        expect(negotiateLanguage(header, languages)).toBeTypeOf('string');
      }),
      { numRuns: 300 },
    );
  });
});

describe('properties: request ids', () => {
  const SAFE = /^[\x21-\x7e]{1,128}$/;

  it('never returns CR, LF, non-ASCII or more than 128 characters, whatever comes in', () => {
    const header = fc.oneof(anyString, hugeString, fc.array(anyString, { maxLength: 3 }), fc.anything(), fc.stringMatching(REQUEST_ID_PATTERN));
    fc.assert(
      fc.property(header, (value) => {
        const id = requestIdFrom(value);
        expect(id).toMatch(SAFE);
        expect(id).toMatch(REQUEST_ID_PATTERN);
      }),
      { numRuns: 1000 },
    );
  });

  it('returns every well-formed id unchanged', () => {
    fc.assert(
      fc.property(fc.stringMatching(REQUEST_ID_PATTERN), (id) => {
        expect(requestIdFrom(id)).toBe(id);
        expect(requestIdFrom([id])).toBe(id);
      }),
    );
  });
});

describe('properties: classification', () => {
  const KNOWN_CODES = Object.keys(ERROR_CODES);
  const code = fc.oneof(
    fc.constantFrom(...KNOWN_CODES, 'HPE_X', 'ERR_SSL_X', 'ERR_TLS_X', '__proto__', 'constructor', 'toString'),
    anyString,
    fc.anything(),
  );
  const name = fc.oneof(fc.constantFrom('Error', 'TimeoutError', 'AbortError', 'AggregateError'), anyString);

  /** Error-shaped trees: code, name, cause and errors at any depth. */
  const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.anything(),
      fc.record(
        { code, name, cause: tie('tree'), errors: fc.oneof(fc.array(tie('tree'), { maxLength: 4 }), fc.anything()) },
        { requiredKeys: [] },
      ),
    ),
  }));

  /** Make some nodes hostile: cycles, frozen objects, throwing getters, throwing Proxies. */
  function sabotage(root: unknown, plan: readonly number[]): unknown {
    const nodes: object[] = [];
    const visit = (value: unknown, depth: number): void => {
      if (typeof value !== 'object' || value === null || depth > 10 || nodes.includes(value)) return;
      nodes.push(value);
      const record = value as { cause?: unknown; errors?: unknown };
      visit(record.cause, depth + 1);
      if (Array.isArray(record.errors)) for (const item of record.errors) visit(item, depth + 1);
    };
    visit(root, 0);
    if (nodes.length === 0) return root;
    plan.forEach((step, i) => {
      const node = nodes[i % nodes.length]!;
      if (Object.isFrozen(node)) return;
      switch (step % 4) {
        case 0: // a cycle back to the root
          Object.defineProperty(node, 'cause', { value: root, configurable: true });
          break;
        case 1: // a getter that throws
          Object.defineProperty(node, 'code', { get: () => { throw new Error('getter'); }, configurable: true });
          break;
        case 2: // a Proxy whose traps throw
          Object.defineProperty(node, 'cause', {
            value: new Proxy({}, { get: () => { throw new Error('trap'); }, getPrototypeOf: () => { throw new Error('trap'); } }),
            configurable: true,
          });
          break;
        default:
          Object.freeze(node);
      }
    });
    return root;
  }

  it('never throws on anything, and answers only with rows of ERROR_TYPES', () => {
    fc.assert(
      fc.property(tree, fc.array(fc.nat(), { maxLength: 6 }), (input, plan) => {
        const failure = classifyError(sabotage(input, plan));
        if (failure === undefined) return;
        expect(failure.error).toBeDefined();
        const row = ERROR_TYPES[failure.error as ProxyErrorType];
        expect(failure.status).toBe(row.status);
        expect(failure.retryable).toBe(row.retryable);
        expect(failure.cause).toBe(input);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on fc.anything() with every option turned on', () => {
    const everything = fc.anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
      withUnicodeString: true,
    });
    fc.assert(
      fc.property(everything, (input) => {
        const failure = classifyError(input);
        expect(failure === undefined || typeof failure.status === 'number').toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it("classifies an error the same after fetch wraps it in TypeError('fetch failed')", () => {
    const shallow = fc.record({ code: fc.constantFrom(...KNOWN_CODES, 'ENOENT', 'HPE_X'), depth: fc.integer({ min: 0, max: 5 }) });
    fc.assert(
      fc.property(shallow, ({ code: c, depth }) => {
        let err: Error = Object.assign(new Error('inner'), { code: c });
        for (let i = 0; i < depth; i++) err = new Error('wrapper', { cause: err });
        const wrapped = new TypeError('fetch failed', { cause: err });
        expect(classifyError(wrapped)?.error).toBe(classifyError(err)?.error);
      }),
    );
  });

  it('classifyStatus answers only 502, 503 and 504, and keeps Retry-After in range', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.constantFrom(502, 503, 504)), fc.option(fc.double()), (status, retryAfter) => {
        const failure = classifyStatus(status, retryAfter ?? undefined);
        if (failure === undefined) {
          expect([502, 503, 504]).not.toContain(status);
          return;
        }
        expect(failure.receivedStatus).toBe(status);
        if (failure.retryAfter !== undefined) {
          expect(Number.isInteger(failure.retryAfter)).toBe(true);
          expect(failure.retryAfter).toBeGreaterThanOrEqual(0);
          expect(failure.retryAfter).toBeLessThanOrEqual(MAX_RETRY_AFTER);
        }
      }),
      { numRuns: 500 },
    );
  });
});
