/**
 * A `stale.store` that never answers is a miss: the client gets the error answer by the request's
 * deadline, never a hang.
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
});
