/**
 * The one validation helper every option goes through, and its one message format:
 * "gateway-errors: `name` must be <expected>, got <value>." and
 * "gateway-errors: unknown option `name.key` (known: ...).".
 */
import { describe, expect, it } from 'vitest';
import { checkBoolean, checkCount, checkHook, checkKeys, checkLogger, checkObject, fail, MAX_TIMER, or, refuse } from '../../src/core/validate.js';

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TypeError);
    return (err as TypeError).message;
  }
  throw new Error('expected a TypeError');
}

describe('fail', () => {
  it.each([
    ['a string, quoted', 'x', '"x"'],
    ['a number', -1, '-1'],
    ['null', null, 'null'],
    ['undefined', undefined, 'undefined'],
    ['an array, as JSON', [1, 'a'], '[1,"a"]'],
    ['a symbol', Symbol('s'), 'Symbol(s)'],
    ['an object without a prototype', Object.create(null), '[object Object]'],
    ['a long string, cut', 'a'.repeat(200), `"${'a'.repeat(79)}...`],
  ])('shows %s', (_, value, shown) => {
    expect(messageOf(() => fail('opt.name', 'a thing', value))).toBe(`gateway-errors: \`opt.name\` must be a thing, got ${shown}.`);
  });

  it('refuses a combination with its reason, in the same voice', () => {
    expect(messageOf(() => refuse('targets', 'replaces `target`'))).toBe('gateway-errors: `targets` replaces `target`.');
  });
});

describe('checkCount', () => {
  it.each([
    [0, 0, 10, true],
    [10, 0, 10, true],
    [11, 0, 10, false],
    [-1, 0, 10, false],
    [0, 1, 10, false],
    [1.5, 0, 10, false],
    [Number.NaN, 0, 10, false],
    ['1', 0, 10, false],
    [MAX_TIMER, 0, MAX_TIMER, true],
    [MAX_TIMER + 1, 0, MAX_TIMER, false],
  ])('%j in [%i, %i]: accepted %s', (value, min, max, ok) => {
    if (ok) expect(checkCount('n', value, max, min)).toBe(value);
    else expect(messageOf(() => checkCount('n', value, max, min))).toContain(`\`n\` must be an integer from ${min} to ${max}, got`);
  });
});

describe('the other checks', () => {
  it.each([
    ['checkObject, an array', () => checkObject('o', []), '`o` must be an object, got []'],
    ['checkObject, null', () => checkObject('o', null), '`o` must be an object, got null'],
    ['checkBoolean', () => checkBoolean('b', 'yes'), '`b` must be a boolean, got "yes"'],
    ['checkHook', () => checkHook('onRetry', 'log'), '`onRetry` must be a function, got "log"'],
    ['checkLogger', () => checkLogger({ info() {} }), '`logger` must be an object with info() and warn()'],
    ['checkKeys', () => checkKeys('stale', { maxAge: 1 }, ['maxBytes', 'maxStale']), 'unknown option `stale.maxAge` (known: maxBytes, maxStale)'],
  ])('%s', (_, fn, message) => {
    expect(messageOf(fn)).toContain(`gateway-errors: ${message}`);
  });

  it('accepts what it checks for', () => {
    const logger = { info() {}, warn() {} };
    expect(checkObject('o', { a: 1 })).toEqual({ a: 1 });
    expect(checkBoolean('b', false)).toBe(false);
    expect(checkHook('h', undefined)).toBeUndefined();
    expect(checkLogger(logger)).toBe(logger);
    expect(() => checkKeys('o', { a: 1 }, ['a'])).not.toThrow();
  });

  it('takes only undefined as "use the default": null is a value', () => {
    expect(or(undefined, 5)).toBe(5);
    expect(or(null, 5)).toBeNull();
    expect(or(0, 5)).toBe(0);
  });
});
