/**
 * WebSockets through gatewayProxy(), with the `ws` package on both ends: `server.on('upgrade',
 * proxy.upgrade)` as http-proxy-middleware documents it, an echo through the gateway, and every
 * way an upstream can fail a handshake answered with a real HTTP/1.1 answer on the socket
 * (never a bare reset, never a hang), on Express 5 and Koa 3.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { forEachAdapter, type Adapter } from '../support/apps.js';
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

/**
 * The row's app with one gatewayProxy on /ws, as a ws:// base URL. With `upgrade` (the default),
 * `server.on('upgrade', proxy.upgrade)` as http-proxy-middleware documents it; without, only the
 * proxy's own `ws: true`.
 */
async function gatewayOn({ mount }: Adapter, options: Record<string, unknown>, upgrade = true): Promise<{ url: string }> {
  const app = await mount({ proxies: [{ prefix: '/ws', options }], upgrade });
  cleanup.push(() => app.close());
  return { url: app.url.replace(/^http:/, 'ws:') };
}

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

forEachAdapter('WebSockets on $name', (adapter) => {
  const gateway = (options: Record<string, unknown>) => gatewayOn(adapter, options);
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

  it.each([
    ['retry: false makes one attempt', { retry: false }, 0],
    ['retries: 1 makes two', { retry: { retries: 1, baseDelay: 1, maxDelay: 2 } }, 1],
    ['the default policy makes three', { retry: { baseDelay: 1, maxDelay: 2 } }, 2],
  ] as const)('follows the proxy\'s retry policy for a refused handshake: %s', async (_what, retry, retries) => {
    const seen: unknown[] = [];
    const g = await gateway({ target: `http://127.0.0.1:${await closedPort()}`, ws: true, circuit: false, ...retry, onRetry: (e: unknown) => seen.push(e) });
    expect(await tryOpen(`${g.url}/ws`)).toMatchObject({ opened: false, status: 502 });
    expect(seen).toHaveLength(retries);
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

forEachAdapter('ws: true without proxy.upgrade attached, on $name', (adapter) => {
  const gateway = async (options: Record<string, unknown>) => (await gatewayOn(adapter, { ws: true, ...options }, false)).url;
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

/** A masked client text frame (RFC 6455 §5.2), as a browser sends it. */
function maskedText(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

const HANDSHAKE = 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

forEachAdapter('the edges of an upgrade on $name', (adapter) => {
  const gateway = (options: Record<string, unknown>) => gatewayOn(adapter, options);
  it('delivers a frame the client sent in the same packet as its handshake', async () => {
    const g = await gateway({ target: await echoUpstream(), ws: true });
    const [host, port] = g.url.slice('ws://'.length).split(':');
    const got = await new Promise<string>((resolve) => {
      const s = net.connect(Number(port), host!);
      let seen = '';
      s.on('data', (c) => {
        seen += c.toString('latin1');
        if (seen.includes('echo: hello')) s.destroy();
      });
      s.on('close', () => resolve(seen));
      s.on('error', () => undefined);
      setTimeout(() => s.destroy(), 3000);
      s.write(Buffer.concat([Buffer.from(HANDSHAKE), maskedText('hello')]));
    });
    expect(got.startsWith('HTTP/1.1 101')).toBe(true);
    expect(got).toContain('echo: hello');
  });

  it('stops the handshake with a hanging upstream when the client leaves', async () => {
    let open = 0;
    const hang = net.createServer((s) => {
      open++;
      s.resume(); // read, so the gateway's close is seen
      s.on('close', () => open--);
      s.on('error', () => undefined);
    });
    const upstream = `http://${await listen(hang)}`;
    const retries: number[] = [];
    const g = await gateway({ target: upstream, ws: true, responseTimeout: 60_000, onRetry: (e: { attempt: number }) => retries.push(e.attempt) });
    const [host, port] = g.url.slice('ws://'.length).split(':');
    const s = net.connect(Number(port), host!);
    s.on('error', () => undefined);
    s.write(HANDSHAKE);
    for (let i = 0; i < 100 && open === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(open).toBe(1);
    s.end(); // a clean close: only a reader of the socket sees it
    for (let i = 0; i < 100 && open > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(open).toBe(0);
    expect(retries).toEqual([]);
  });

  it('closes the connection, not the process, when on.open throws', async () => {
    const g = await gateway({ target: await echoUpstream(), ws: true, on: { open: () => { throw new Error('a bug'); } } });
    const r = await tryOpen(`${g.url}/ws`);
    expect(r).not.toMatchObject({ opened: true });
  });
});
