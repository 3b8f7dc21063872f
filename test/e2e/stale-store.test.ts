/**
 * A `stale.store` that never answers is a miss: the client gets the error answer within 2 s, or
 * by the request's deadline if that comes first, never a hang; and a hook that throws after a
 * miss reaches the framework's error handling, not the process.
 */
import { afterEach, expect, it } from 'vitest';
import { forEachAdapter, type MountedApp } from '../support/apps.js';
import { send } from '../support/client.js';
import { closedPort } from '../support/fault-kit.js';

const open: MountedApp[] = [];
afterEach(async () => {
  for (const a of open.splice(0)) await a.close();
});

const hanging = { get: () => new Promise<never>(() => undefined), set: () => undefined, delete: () => undefined };

forEachAdapter('a stale store that never answers, on $name', ({ mount: mount }) => {
  it('gives the error answer by the deadline', async () => {
    const app = await mount({ proxies: [{ prefix: '/api', options: { target: `http://127.0.0.1:${await closedPort()}`, retry: false, deadline: 300, stale: { store: hanging } } }] });
    open.push(app);
    const started = Date.now();
    const r = await send(`${app.url}/api/x`, { timeout: 5000 });
    expect(r.status).toBe(502);
    expect(r.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('gives the error answer within 2 s when the deadline is the default 60 s', async () => {
    const app = await mount({ proxies: [{ prefix: '/api', options: { target: `http://127.0.0.1:${await closedPort()}`, retry: false, stale: { store: hanging } } }] });
    open.push(app);
    const started = Date.now();
    const r = await send(`${app.url}/api/x`, { timeout: 10_000 });
    expect(r.status).toBe(502);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(5000);
  });

  for (const [kind, store] of [
    ['answers a miss later', { get: async () => undefined, set: () => undefined, delete: () => undefined }],
    ['never answers', hanging],
  ] as const) {
    it(`hands a throwing onGiveUp to the framework when the store ${kind}`, async () => {
      const app = await mount({
        proxies: [{ prefix: '/api', options: { target: `http://127.0.0.1:${await closedPort()}`, retry: false, deadline: 300, stale: { store }, onGiveUp: () => { throw new Error('hook boom'); } } }],
      });
      open.push(app);
      const r = await send(`${app.url}/api/x`, { timeout: 5000 });
      expect(r.status).toBe(500);
      expect(app.errors.map((e) => (e as Error).message)).toEqual(['hook boom']);
    });
  }
});
