/**
 * The `stale` option of gatewayProxy: checked at setup, loudly, and absent unless asked for.
 */
import { describe, expect, it } from 'vitest';
import { normalizeProxyExtras } from '../../src/core/options.js';
import { memoryStore } from '../../src/core/engine/stale.js';
import { STALE_DEFAULTS } from '../../src/core/defaults.js';
import type { StaleEntry } from '../../src/core/proxy-options.js';

describe('stale option', () => {
  it('is off unless asked for: no store, nothing for the exchange to call', () => {
    expect(normalizeProxyExtras({}).stale).toBeUndefined();
    expect(normalizeProxyExtras({ stale: false }).stale).toBeUndefined();
  });

  it('takes true for the defaults, or an object', () => {
    expect(normalizeProxyExtras({ stale: true }).stale).toBeDefined();
    expect(normalizeProxyExtras({ stale: { maxBytes: 1024, maxEntryBytes: 512, maxStale: 60 } }).stale).toBeDefined();
    expect(STALE_DEFAULTS).toEqual({ maxBytes: 32 * 1024 * 1024, maxEntryBytes: 1024 * 1024, maxStale: 3600 });
  });

  it.each([
    [{ stale: 'yes' }, /`stale` must be true, false or an object, got "yes"/],
    [{ stale: null }, /`stale` must be true, false or an object/],
    [{ stale: { maxAge: 5 } }, /unknown option `stale.maxAge`/],
    [{ stale: { maxStale: -1 } }, /`stale.maxStale` must be an integer from 0 to 31536000/],
    [{ stale: { maxStale: 1.5 } }, /`stale.maxStale` must be an integer/],
    [{ stale: { maxBytes: 0 } }, /`stale.maxBytes` must be at least 1/],
    [{ stale: { maxBytes: 1024, maxEntryBytes: 2048 } }, /`stale.maxEntryBytes` must be an integer from 0 to 1024/],
    [{ stale: { store: {} } }, /`stale.store` must be an object with get\(\), set\(\) and delete\(\)/],
    [{ stale: { store: { get() {}, set() {}, delete() {} }, maxBytes: 10 } }, /`stale.maxBytes` sizes the built-in store/],
    [{ onStale: 'log' }, /`onStale` must be a function/],
  ])('rejects %j at setup', (options, message) => {
    expect(() => normalizeProxyExtras(options as Record<string, unknown>)).toThrow(message);
  });

  it('caps the default entry limit at a smaller maxBytes', () => {
    expect(() => normalizeProxyExtras({ stale: { maxBytes: 1000 } })).not.toThrow();
  });
});

describe('the built-in store', () => {
  const entry = (size: number): StaleEntry => ({ policy: {}, status: 200, body: Buffer.alloc(size), size });

  it('keeps entries within maxBytes, dropping the least recently used', () => {
    const store = memoryStore(1000);
    store.set('a', entry(400), 60_000);
    store.set('b', entry(400), 60_000);
    store.get('a');
    store.set('c', entry(400), 60_000);
    expect(store.get('a')).toBeDefined();
    expect(store.get('b')).toBeUndefined();
    expect(store.get('c')).toBeDefined();
  });

  it('refuses an entry larger than the whole store', () => {
    const store = memoryStore(1000);
    store.set('big', entry(2000), 60_000);
    expect(store.get('big')).toBeUndefined();
  });

  it('forgets an entry once its ttl has passed', async () => {
    const store = memoryStore(1000);
    store.set('brief', entry(10), 5);
    await new Promise((r) => setTimeout(r, 20));
    expect(store.get('brief')).toBeUndefined();
  });
});
