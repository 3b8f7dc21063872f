/**
 * Where gatewayProxy() must behave as http-proxy-middleware does (README, "Differences from
 * http-proxy-middleware" lists where it does not, on purpose).
 */
import { describe, expect, it } from 'vitest';
import * as expressAdapter from '../../src/express/index.js';
import * as koaAdapter from '../../src/koa/index.js';
import { ADAPTERS, forEachAdapter, listen } from '../support/apps.js';
import { send } from '../support/client.js';

describe('a request pathFilter does not match', () => {
  it('is handed to next() on Express without touching req or res, even minimal ones', async () => {
    const proxy = expressAdapter.gatewayProxy({ target: 'http://127.0.0.1:9', pathFilter: '/api' });
    const calls: unknown[][] = [];
    // What http-proxy-middleware's own tests pass: no headers, no socket, no event emitter.
    proxy({ url: '/other', method: 'GET' } as never, {} as never, (...args: unknown[]) => calls.push(args));
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([[undefined]]);
  });

  it('is handed to next() on Koa without touching ctx.req, ctx.res or ctx.request', async () => {
    const proxy = koaAdapter.gatewayProxy({ target: 'http://127.0.0.1:9', pathFilter: '/api' });
    let nexts = 0;
    await proxy({ req: { url: '/other', method: 'GET' }, res: {} } as never, async () => void nexts++);
    expect(nexts).toBe(1);
  });
});

describe('upgrade, as on http-proxy-middleware\'s middleware', () => {
  it.each(ADAPTERS)('is a function on what $name\'s gatewayProxy() returns, for server.on(\'upgrade\', proxy.upgrade)', ({ api }) => {
    expect(api.gatewayProxy({ target: 'http://127.0.0.1:9', ws: true }).upgrade).toBeTypeOf('function');
  });
});

forEachAdapter('an h2c upgrade offer (curl --http2 on http://) on $name', ({ mount }) => {
  it('goes on as a plain request: the upstream answers it as HTTP/1.1', async () => {
    const upstream = await listen((_req, res) => res.end('plain'));
    const app = await mount({ errors: false, proxy: { target: upstream.url } });
    try {
      const r = await send(`${app.url}/x`, {
        headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA' },
      });
      expect([r.status, r.body]).toEqual([200, 'plain']);
    } finally {
      await Promise.all([app.close(), upstream.close()]);
    }
  });
});
