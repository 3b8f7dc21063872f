/**
 * Where gatewayProxy() must behave as http-proxy-middleware does (README, "Differences from
 * http-proxy-middleware" lists where it does not, on purpose).
 */
import { describe, expect, it } from 'vitest';
import * as expressAdapter from '../../src/express/index.js';
import * as koaAdapter from '../../src/koa/index.js';

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
  it.each([
    ['Express', () => expressAdapter.gatewayProxy({ target: 'http://127.0.0.1:9', ws: true })],
    ['Koa', () => koaAdapter.gatewayProxy({ target: 'http://127.0.0.1:9', ws: true })],
  ] as const)('is a function on what %s\'s gatewayProxy() returns, for server.on(\'upgrade\', proxy.upgrade)', (_name, make) => {
    expect(make().upgrade).toBeTypeOf('function');
  });
});

describe('an h2c upgrade offer (curl --http2 on http://)', () => {
  it('goes on as a plain request: the upstream answers it as HTTP/1.1', async () => {
    const http = await import('node:http');
    const upstream = http.createServer((_req, res) => res.end('plain'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const express = (await import('express')).default;
    const app = express();
    app.use(expressAdapter.gatewayProxy({ target: `http://127.0.0.1:${(upstream.address() as import('node:net').AddressInfo).port}` }));
    const server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { send } = await import('../support/client.js');
      const r = await send(`http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}/x`, {
        headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA' },
      });
      expect([r.status, r.body]).toEqual([200, 'plain']);
    } finally {
      server.closeAllConnections();
      upstream.closeAllConnections();
      await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => upstream.close(r))]);
    }
  });
});
