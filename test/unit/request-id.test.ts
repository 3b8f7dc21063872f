import { describe, expect, it } from 'vitest';
import { REQUEST_ID_PATTERN, requestIdFrom } from '../../src/core/answer/request-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('REQUEST_ID_PATTERN', () => {
  it('is the pattern the contract states', () => {
    expect(REQUEST_ID_PATTERN.source).toBe('^[A-Za-z0-9._~:@+=/-]{1,128}$');
    expect(REQUEST_ID_PATTERN.flags).toBe('');
  });
});

describe('requestIdFrom', () => {
  describe('reuses a well-formed incoming id', () => {
    it.each([
      ['a UUID', '3f2c9a7e-8d41-4c1b-9f7a-2b6e5d4c3a21'],
      ['a ULID', '01ARZ3NDEKTSV4RRFFQ69G5FAV'],
      ['base64 with padding', 'dGhpcyBpcyBhbiBpZA=='],
      ['a host:pid/seq id', 'edge-7.fra:4711/19'],
      ['every allowed punctuation mark', 'a._~:@+=/-z'],
      ['a single character', 'x'],
      ['128 characters', 'a'.repeat(128)],
    ])('%s', (_name, id) => {
      expect(requestIdFrom(id)).toBe(id);
    });

    it('gives the same answer for the same id twice (the pattern keeps no state)', () => {
      expect(requestIdFrom('abc')).toBe('abc');
      expect(requestIdFrom('abc')).toBe('abc');
    });

    it('uses an array holding exactly one valid id', () => {
      expect(requestIdFrom(['abc-123'])).toBe('abc-123');
    });
  });

  describe('replaces anything else with a fresh UUID', () => {
    it.each([
      ['missing', undefined],
      ['null', null],
      ['empty', ''],
      ['129 characters', 'a'.repeat(129)],
      ['a space', 'abc def'],
      ['a comma-joined repeat', 'abc, def'],
      ['CR LF header injection', 'abc\r\nSet-Cookie: x=1'],
      ['a bare LF', 'abc\n'],
      ['a NUL', 'abc\u0000'],
      ['markup', '<script>alert(1)</script>'],
      ['quotes', '"abc"'],
      ['non-ASCII letters', 'café'],
      ['an emoji', 'id-🙂'],
      ['a percent sign', 'a%0d%0a'],
      ['a number', 12345],
      ['an object', { toString: () => 'abc' }],
      ['an empty array', []],
      ['an array with two valid ids', ['abc', 'def']],
      ['an array with the same id twice', ['abc', 'abc']],
      ['an array with one invalid id', ['abc def']],
      ['an array with a non-string', [42]],
    ])('%s', (_name, header) => {
      expect(requestIdFrom(header)).toMatch(UUID_V4);
    });

    it('makes a new id every time', () => {
      const ids = new Set(Array.from({ length: 100 }, () => requestIdFrom(undefined)));
      expect(ids.size).toBe(100);
    });

    it('always returns something the pattern accepts, so ids are safe to echo', () => {
      expect(requestIdFrom('bad id\r\n')).toMatch(REQUEST_ID_PATTERN);
    });
  });
});
