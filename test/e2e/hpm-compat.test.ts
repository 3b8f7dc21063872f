/**
 * Where gatewayProxy() must behave as http-proxy-middleware does (README, "Differences from
 * http-proxy-middleware" lists where it does not, on purpose).
 */
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import * as expressAdapter from '../../src/express/index.js';
import * as koaAdapter from '../../src/koa/index.js';
import { ADAPTERS, forEachAdapter, listen } from '../support/apps.js';
import { delay, send } from '../support/client.js';

/** One request on its own connection, written as given; what came back until the server closed. */
function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(got));
    socket.write(head);
  });
}

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

forEachAdapter('a request target starting with // on $name, after the first request', ({ mount }) => {
  it('goes where http-proxy-middleware sends it: url.parse() may read a host in it', async () => {
    const seen: string[] = [];
    const upstream = await listen((req, res) => {
      seen.push(req.url!);
      res.end('up');
    });
    const app = await mount({ errors: false, proxy: { target: upstream.url } });
    try {
      expect((await send(`${app.url}/warm`)).body).toBe('up');
      // url.parse('//a@b?x=1') has the pathname null: pathFilter '/' does not match, next() it is.
      const answer = await rawRequest(app.port, 'GET //a@b?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(answer.slice(0, 12)).toBe('HTTP/1.1 404');
      // Its pathname is '/c': proxied, as the middleware does.
      const proxied = await rawRequest(app.port, 'GET //a@b/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(proxied.slice(0, 12)).toBe('HTTP/1.1 200');
      // setupOutgoing's url.parse() drops what it read as a host.
      expect(seen).toEqual(['/warm', '/c']);
    } finally {
      await Promise.all([app.close(), upstream.close()]);
    }
  });
});

describe('a response made in-process, with no connection behind it', () => {
  it.each([
    ['no socket at all', () => null],
    ['an unconnected socket', () => new net.Socket()],
  ])('is proxied on Express (%s): nothing to wait for', async (_label, socketOf) => {
    const upstream = await listen((req, res) => res.end(`up:${req.url}`));
    try {
      const proxy = expressAdapter.gatewayProxy({ target: upstream.url });
      const req = new http.IncomingMessage(socketOf() as never);
      Object.assign(req, { method: 'GET', url: '/fake', headers: { host: 'x' } });
      req.push(null);
      const res = new http.ServerResponse(req);
      let body = '';
      const ended = new Promise<void>((resolve) => {
        const end = res.end.bind(res);
        res.end = ((chunk?: unknown) => {
          if (chunk) body += String(chunk);
          resolve();
          return end();
        }) as typeof res.end;
      });
      const nexts: unknown[] = [];
      proxy(req as never, res as never, (err?: unknown) => nexts.push(err));
      await Promise.race([ended, delay(2000)]);
      expect([res.statusCode, body, nexts]).toEqual([200, 'up:/fake', []]);
    } finally {
      await upstream.close();
    }
  });
});
