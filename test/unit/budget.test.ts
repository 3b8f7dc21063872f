import { describe, expect, it } from 'vitest';
import { RetryBudget } from '../../src/core/engine/budget.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** Take one retry as the engine does: ask, then withdraw; false when the budget is spent. */
function take(b: RetryBudget): boolean {
  if (!b.hasRoom()) return false;
  b.withdraw();
  return true;
}

describe('RetryBudget', () => {
  it('allows retries up to ratio x requests in the window', () => {
    const c = clock();
    const b = new RetryBudget(0.2, 0, 10_000, c.now);
    for (let i = 0; i < 100; i++) b.deposit();
    let granted = 0;
    while (take(b)) granted++;
    expect(granted).toBe(20);
  });

  it('always allows the floor of minPerSecond over the window', () => {
    const b = new RetryBudget(0.2, 1, 10_000, clock().now);
    let granted = 0;
    while (take(b) && granted < 1000) granted++;
    expect(granted).toBe(10);
  });

  it('forgets requests and retries once they leave the window', () => {
    const c = clock();
    const b = new RetryBudget(0.5, 0, 2_000, c.now);
    for (let i = 0; i < 10; i++) b.deposit();
    let granted = 0;
    while (take(b)) granted++;
    expect(granted).toBe(5);
    c.advance(2_000);
    expect(take(b)).toBe(false); // the deposits are gone too
    b.deposit();
    b.deposit();
    expect(take(b)).toBe(true);
    expect(take(b)).toBe(false);
  });

  it('survives a long idle gap without walking every missed second', () => {
    const c = clock();
    const b = new RetryBudget(1, 0, 10_000, c.now);
    b.deposit();
    c.advance(1e12);
    expect(take(b)).toBe(false);
    b.deposit();
    expect(take(b)).toBe(true);
  });

  it('keeps the attempts per request at or under 1 + ratio when every attempt fails', () => {
    const c = clock();
    const b = new RetryBudget(0.2, 5, 10_000, c.now);
    let attempts = 0;
    // 60 s of 500 requests/s, each wanting 2 retries.
    for (let s = 0; s < 60; s++) {
      for (let i = 0; i < 500; i++) {
        b.deposit();
        attempts++;
        for (let r = 0; r < 2 && take(b); r++) attempts++;
        c.advance(2);
      }
    }
    expect(attempts / 30_000).toBeGreaterThan(1.15);
    expect(attempts / 30_000).toBeLessThanOrEqual(1.25);
  });
});
