/**
 * WebSockets through gatewayProxy(), with the `ws` package on both ends: `server.on('upgrade',
 * proxy.upgrade)` as http-proxy-middleware documents it, an echo through the gateway, and every
 * way an upstream can fail a handshake answered with a real HTTP/1.1 answer on the socket
 * (never a bare reset, never a hang), on Express 5 and Koa 3.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import express from 'express';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import * as expressAdapter from '../../src/express/index.js';
import * as koaAdapter from '../../src/koa/index.js';
import { closedPort } from '../support/fault-kit.js';
import { handleCensus, handlesSettled } from '../reliability/harness.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function listen(server: http.Server | net.Server): Promise<string> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(`127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

/** A real WebSocket echo upstream. */
async function echoUpstream(): Promise<string> {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo: ${m.toString()}`)));
  cleanup.push(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
  });
  return `http://${await listen(server)}`;
}

/** A raw upstream that does `fault` to every upgrade request. */
async function faultyUpstream(fault: 'reset' | 'hang' | '503' | '401'): Promise<string> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      if (fault === 'reset') socket.destroy();
      else if (fault === '503') socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy');
      else if (fault === '401') socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\r\nwho?\r\n');
    });
  });
  return `http://${await listen(server)}`;
}

type Gateway = { url: string; proxy: { upgrade: (...a: never[]) => void } };

const ADAPTERS: Record<string, (options: Record<string, unknown>) => Promise<Gateway>> = {
  'Express 5': async (options) => {
    const app = express();
    app.use(expressAdapter.gatewayErrors());
    const proxy = expressAdapter.gatewayProxy({ pathFilter: '/ws', ...options } as never);
    app.use(proxy);
    const server = http.createServer(app);
    server.on('upgrade', proxy.upgrade);
    return { url: `ws://${await listen(server)}`, proxy };
  },
  'Koa 3': async (options) => {
    const app = new Koa();
    app.silent = true;
    app.use(koaAdapter.gatewayErrors());
    const proxy = koaAdapter.gatewayProxy({ pathFilter: '/ws', ...options } as never);
    app.use(proxy);
    const server = http.createServer(app.callback());
    server.on('upgrade', proxy.upgrade);
    return { url: `ws://${await listen(server)}`, proxy };
  },
};

/** Open a WebSocket; resolves with the echo of one message, or the HTTP answer the handshake got. */
function tryOpen(url: string): Promise<{ opened: true; echo: string } | { opened: false; status: number; headers: http.IncomingHttpHeaders; body: string } | { opened: false; error: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ opened: false, error: 'no answer within 5 s' });
    }, 5000);
    ws.on('open', () => ws.send('hello'));
    ws.on('message', (m) => {
      clearTimeout(timer);
      ws.close();
      resolve({ opened: true, echo: m.toString() });
    });
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ opened: false, status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() });
      });
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      resolve({ opened: false, error: err.message });
    });
  });
}

describe.each(Object.entries(ADAPTERS))('WebSockets on %s', (_name, gateway) => {
  it('echoes through the gateway', async () => {
    const g = await gateway({ target: await echoUpstream(), ws: true });
    expect(await tryOpen(`${g.url}/ws`)).toEqual({ opened: true, echo: 'echo: hello' });
  });

  it('opens on another of several targets when one refuses', async () => {
    const up = await echoUpstream();
    const g = await gateway({ targets: [`http://127.0.0.1:${await closedPort()}`, up], ws: true });
    for (let i = 0; i < 6; i++) expect(await tryOpen(`${g.url}/ws`)).toEqual({ opened: true, echo: 'echo: hello' });
  });

  it.each([
    ['refuses', async (): Promise<string> => `http://127.0.0.1:${await closedPort()}`, 502, 'error=connection_refused', {}],
    ['resets', (): Promise<string> => faultyUpstream('reset'), 502, 'error=connection_terminated', {}],
    ['never answers', (): Promise<string> => faultyUpstream('hang'), 504, 'error=http_response_timeout', { responseTimeout: 200 }],
    ['answers 503', (): Promise<string> => faultyUpstream('503'), 503, 'received-status=503', {}],
    ['does not resolve', async (): Promise<string> => 'http://upstream.invalid', 502, 'error=dns_error', {}],
  ] as const)('answers a handshake whose upstream %s with a real HTTP answer', async (_what, upstream, status, proxyStatus, extra) => {
    const g = await gateway({ target: await upstream(), ws: true, retry: { baseDelay: 1, maxDelay: 2 }, ...extra });
    const r = await tryOpen(`${g.url}/ws`);
    expect(r).toMatchObject({ opened: false, status });
    if (!('status' in r)) return;
    expect(r.headers['proxy-status']).toBe(`gateway-errors; ${proxyStatus}`);
    expect(r.headers.connection).toBe('close');
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(r.body.length).toBeGreaterThan(0);
    if (status === 503) expect(r.headers['retry-after']).toBe('7');
  });

  it('relays an upstream\'s own refusal (401) as it is', async () => {
    const g = await gateway({ target: await faultyUpstream('401'), ws: true });
    expect(await tryOpen(`${g.url}/ws`)).toMatchObject({ opened: false, status: 401, body: 'who?\r\n' });
  });

  it('answers 503 at once with Retry-After while the circuit is open', async () => {
    const g = await gateway({ target: `http://127.0.0.1:${await closedPort()}`, ws: true, retry: false, circuit: { consecutiveFailures: 2, halfOpenAfter: 60_000 } });
    await tryOpen(`${g.url}/ws`);
    await tryOpen(`${g.url}/ws`);
    const r = await tryOpen(`${g.url}/ws`);
    expect(r).toMatchObject({ opened: false, status: 503 });
    if ('status' in r) {
      expect(r.headers['proxy-status']).toBe('gateway-errors; error=destination_unavailable');
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
  });

  it('leaves no socket, listener or timer behind after 1,000 failing upgrades', { timeout: 60_000 }, async () => {
    const g = await gateway({ target: `http://127.0.0.1:${await closedPort()}`, ws: true, retry: false, circuit: false });
    const baseline = handleCensus();
    const [host, port] = g.url.slice('ws://'.length).split(':');
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, () =>
          new Promise<string>((resolve) => {
            const s = net.connect(Number(port), host!);
            let got = '';
            s.on('data', (c) => (got += c.toString()));
            s.on('close', () => resolve(got));
            s.on('error', () => undefined);
            s.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
          }).then((got) => expect(got.split('\r\n')[0]).toBe('HTTP/1.1 502 Bad Gateway')),
        ),
      );
    }
    expect(await handlesSettled(baseline)).toEqual({});
  });
});

/** Like ADAPTERS, but without `server.on('upgrade', ...)`: only `ws: true`. */
const WS_ONLY: Record<string, (options: Record<string, unknown>) => Promise<string>> = {
  'Express 5': async (options) => {
    const app = express();
    app.use(expressAdapter.gatewayErrors());
    app.use(expressAdapter.gatewayProxy({ pathFilter: '/ws', ws: true, ...options } as never));
    return `ws://${await listen(http.createServer(app))}`;
  },
  'Koa 3': async (options) => {
    const app = new Koa();
    app.silent = true;
    app.use(koaAdapter.gatewayErrors());
    app.use(koaAdapter.gatewayProxy({ pathFilter: '/ws', ws: true, ...options } as never));
    return `ws://${await listen(http.createServer(app.callback()))}`;
  },
};

describe.each(Object.entries(WS_ONLY))('ws: true without proxy.upgrade attached, on %s', (_name, gateway) => {
  it('answers an upgrade that comes before any plain request 503 with Retry-After at once; the next one opens', async () => {
    const url = await gateway({ target: await echoUpstream() });
    const started = Date.now();
    const first = await tryOpen(`${url}/ws`);
    expect(first).toMatchObject({ opened: false, status: 503 });
    if ('status' in first) expect(first.headers['retry-after']).toBe('1');
    expect(Date.now() - started).toBeLessThan(2000);
    // That request let http-proxy-middleware subscribe to the server's upgrades.
    expect(await tryOpen(`${url}/ws`)).toEqual({ opened: true, echo: 'echo: hello' });
  });
});
