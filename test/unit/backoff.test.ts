import { afterEach, describe, expect, it, vi } from 'vitest';
import { fullJitterDelay } from '../../src/core/decide/backoff.js';
import { mulberry32 } from '../support/random.js';


const BASE = 100;
const MAX = 2000;
/** The window the contract states: min(maxDelay, baseDelay * 2^(n-1)). */
const cap = (n: number, base = BASE, max = MAX): number => Math.min(max, base * 2 ** (n - 1));
const RETRIES = Array.from({ length: 40 }, (_, i) => i + 1);

describe('fullJitterDelay', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  describe('bounds', () => {
    it.each(RETRIES)('waits 0 ms before retry %i when random() is 0', (n) => {
      expect(fullJitterDelay(n, BASE, MAX, () => 0)).toBe(0);
    });

    it.each(RETRIES)('waits the whole window before retry %i when random() is just under 1', (n) => {
      expect(fullJitterDelay(n, BASE, MAX, () => 0.999999)).toBe(cap(n));
    });

    it('doubles the window with each retry until maxDelay', () => {
      const top = RETRIES.slice(0, 7).map((n) => fullJitterDelay(n, BASE, MAX, () => 0.999999));
      expect(top).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
    });

    it('halves the window for random() = 0.5', () => {
      expect(fullJitterDelay(3, BASE, MAX, () => 0.5)).toBe(200);
    });

    it.each([1000, 1024, 1075, 1e6, Number.MAX_SAFE_INTEGER])('caps at maxDelay for retry %d without overflowing', (n) => {
      const delay = fullJitterDelay(n, BASE, MAX, () => 0.999999);
      expect(delay).toBe(MAX);
      expect(Number.isFinite(delay)).toBe(true);
    });

    it('stays 0 with a zero base delay, even for huge retry numbers', () => {
      expect(fullJitterDelay(1, 0, MAX, () => 0.999999)).toBe(0);
      expect(fullJitterDelay(5000, 0, MAX, () => 0.999999)).toBe(0);
    });

    it('stays 0 with a zero max delay', () => {
      expect(fullJitterDelay(3, BASE, 0, () => 0.999999)).toBe(0);
    });

    it('returns whole milliseconds for fractional delays', () => {
      for (const r of [0, 0.1, 0.37, 0.5, 0.999999]) {
        expect(Number.isInteger(fullJitterDelay(2, 33.3, 1000.5, () => r))).toBe(true);
      }
      expect(fullJitterDelay(2, 33.3, 1000.5, () => 0.999999)).toBe(66);
    });

    it.each([
      ['1', 1],
      ['a negative number', -0.5],
      ['NaN', Number.NaN],
      ['a number above 1', 7],
      ['Infinity', Number.POSITIVE_INFINITY],
    ])('keeps the wait inside the window when random() misbehaves and returns %s', (_name, r) => {
      const delay = fullJitterDelay(4, BASE, MAX, () => r);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(cap(4));
      expect(Number.isInteger(delay)).toBe(true);
    });

    it('uses Math.random by default', () => {
      vi.spyOn(Math, 'random').mockReturnValue(0.5);
      expect(fullJitterDelay(1, BASE, MAX)).toBe(50);
      expect(Math.random).toHaveBeenCalledTimes(1);
    });
  });

  describe('distribution', () => {
    const SAMPLES = 40_000;

    it.each([1, 3, 5, 10])('spreads retry %i evenly over its window', (n) => {
      const random = mulberry32(0xc0ffee + n);
      const window = cap(n);
      const buckets = [0, 0, 0, 0];
      let sum = 0;
      let low = Number.POSITIVE_INFINITY;
      let high = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < SAMPLES; i++) {
        const delay = fullJitterDelay(n, BASE, MAX, random);
        low = Math.min(low, delay);
        high = Math.max(high, delay);
        sum += delay;
        buckets[Math.min(3, Math.floor((delay / (window + 1)) * 4))]! += 1;
      }
      expect(low).toBeGreaterThanOrEqual(0);
      expect(high).toBeLessThanOrEqual(window);
      // Uniform on 0..window: mean window/2, each quarter about a quarter of the samples.
      expect(sum / SAMPLES).toBeGreaterThan(window * 0.48);
      expect(sum / SAMPLES).toBeLessThan(window * 0.52);
      for (const count of buckets) {
        expect(count / SAMPLES).toBeGreaterThan(0.23);
        expect(count / SAMPLES).toBeLessThan(0.27);
      }
    });

    it('reaches both ends of a small window', () => {
      const random = mulberry32(42);
      const seen = new Set<number>();
      for (let i = 0; i < 2000; i++) seen.add(fullJitterDelay(1, 10, MAX, random));
      expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    });

    it('does not keep failing clients in lock-step (same retry, different waits)', () => {
      const random = mulberry32(7);
      const waits = new Set(Array.from({ length: 100 }, () => fullJitterDelay(4, BASE, MAX, random)));
      expect(waits.size).toBeGreaterThan(50);
    });
  });

  describe('invalid arguments are bugs and throw', () => {
    it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects retry %d', (n) => {
      expect(() => fullJitterDelay(n, BASE, MAX, () => 0)).toThrow(RangeError);
    });

    it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('rejects baseDelay %d', (base) => {
      expect(() => fullJitterDelay(1, base, MAX, () => 0)).toThrow(/baseDelay/);
    });

    it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('rejects maxDelay %d', (max) => {
      expect(() => fullJitterDelay(1, BASE, max, () => 0)).toThrow(/maxDelay/);
    });
  });
});
