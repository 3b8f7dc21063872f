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
