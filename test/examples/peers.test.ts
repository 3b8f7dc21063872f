/**
 * The README's "How it compares" table, measured: what http-proxy-middleware alone,
 * express-http-proxy, @fastify/reply-from and nginx (when installed) do with their defaults
 * when the upstream fails, against the same fault kit as our own tests. If a peer changes its
 * behaviour, this fails and the README must be updated with it.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, startFaultKit, type FaultKit } from '../support/fault-kit.js';
import { send, type Answer } from '../support/client.js';
import { NGINX, startNginx } from '../support/nginx.js';

const require = createRequire(import.meta.url);
const hasNginx = NGINX !== undefined;

type Peer = 'hpm' | 'express-http-proxy' | 'reply-from' | 'nginx';
interface Started {
  url: string;
  close(): Promise<void>;
}

async function listen(handler: http.RequestListener): Promise<Started> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function startPeer(peer: Peer, target: string): Promise<Started> {
  if (peer === 'hpm') {
    const app = require('express')();
    app.use(require('http-proxy-middleware').createProxyMiddleware({ target, logger: undefined }));
    return listen(app);
  }
  if (peer === 'express-http-proxy') {
    const app = require('express')();
    app.use(require('express-http-proxy')(target));
    return listen(app);
  }
  if (peer === 'reply-from') {
    const f = require('fastify')();
    f.register(require('@fastify/reply-from'), { base: target });
    f.all('/*', (req: { url: string }, reply: { from(url: string): void }) => reply.from(req.url));
    await f.listen({ port: 0, host: '127.0.0.1' });
    return { url: `http://127.0.0.1:${f.server.address().port}`, close: () => f.close() };
  }
  // nginx, in the foreground, with a bare proxy_pass and every other setting at its default.
  const port = await closedPort();
  const nginx = await startNginx(`server { listen 127.0.0.1:${port}; location / { proxy_pass ${target}; } }`, port);
  return { url: `http://127.0.0.1:${port}`, close: () => nginx.stop() };
}

const PEERS: Peer[] = ['hpm', 'express-http-proxy', 'reply-from', ...(hasNginx ? (['nginx'] as const) : [])];

let kit: FaultKit;
const onKit = new Map<Peer, Started>();
const onRefused = new Map<Peer, Started>();
let n = 0;

beforeAll(async () => {
  kit = await startFaultKit();
  const refused = `http://127.0.0.1:${await closedPort()}`;
  for (const peer of PEERS) {
    onKit.set(peer, await startPeer(peer, kit.url));
    onRefused.set(peer, await startPeer(peer, refused));
  }
});
afterAll(async () => {
  await Promise.all([...onKit.values(), ...onRefused.values()].map((s) => s.close()));
  await kit?.close();
});

/** One request through a peer; `attempts` is how many reached the fault kit. */
async function probe(peer: Peer, pathAndQuery: string, options: Parameters<typeof send>[1] = {}, refused = false): Promise<Answer & { attempts: number }> {
  const key = `peer${++n}`;
  const sep = pathAndQuery.includes('?') ? '&' : '?';
  const server = (refused ? onRefused : onKit).get(peer)!;
  const r = await send(`${server.url}${pathAndQuery}${sep}key=${key}`, { timeout: 10_000, ...options });
  return { ...r, attempts: kit.attempts(`${pathAndQuery.split('?')[0]}?key=${key}`) };
}

describe('http-proxy-middleware alone (defaults)', () => {
  it('answers a refused connection with a 504 and its own text, without Content-Type', async () => {
    const r = await probe('hpm', '/x', {}, true);
    expect(r.status).toBe(504);
    expect(r.headers['content-type']).toBeUndefined();
    expect(r.body).toMatch(/^Error occurred while trying to proxy: /);
  });

  it('answers a reset with 504 and does not retry it', async () => {
    const r = await probe('hpm', '/flaky/1?mode=reset');
    expect([r.status, r.attempts]).toEqual([504, 1]);
  });

  it('passes an upstream 503 through as is, Retry-After included', async () => {
    const r = await probe('hpm', '/status/503?retry-after=120&body=own');
    expect([r.status, r.headers['retry-after'], r.body, r.attempts]).toEqual([503, '120', 'own', 1]);
  });

  it('answers a malformed response with 502', async () => {
    expect((await probe('hpm', '/malformed')).status).toBe(502);
  });
});

describe('express-http-proxy (defaults)', () => {
  it('hands a refused connection to Express’s error handler: a 500 page naming the upstream', async () => {
    const r = await probe('express-http-proxy', '/x', {}, true);
    expect(r.status).toBe(500);
    expect(r.body).toContain('ECONNREFUSED');
  });

  it('answers a reset with an empty 504 and does not retry it', async () => {
    const r = await probe('express-http-proxy', '/flaky/1?mode=reset');
    expect([r.status, r.body, r.attempts]).toEqual([504, '', 1]);
  });

  it('passes an upstream 503 through as is', async () => {
    const r = await probe('express-http-proxy', '/status/503?retry-after=120&body=own');
    expect([r.status, r.headers['retry-after'], r.body]).toEqual([503, '120', 'own']);
  });

  it('answers a malformed response with 500', async () => {
    expect((await probe('express-http-proxy', '/malformed')).status).toBe(500);
  });
});

describe('@fastify/reply-from (defaults)', () => {
  it('answers a refused connection with a 500 JSON naming the upstream address', async () => {
    const r = await probe('reply-from', '/x', {}, true);
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body).message).toMatch(/ECONNREFUSED 127\.0\.0\.1:\d+/);
  });

  it('answers a reset with 500 UND_ERR_SOCKET and does not retry it', async () => {
    const r = await probe('reply-from', '/flaky/1?mode=reset');
    expect([r.status, JSON.parse(r.body).code, r.attempts]).toEqual([500, 'UND_ERR_SOCKET', 1]);
  });

  it('retries a GET’s 503 and recovers', async () => {
    const r = await probe('reply-from', '/flaky/1');
    expect([r.status, r.attempts]).toEqual([200, 2]);
  });

  it('retries a 503 with Retry-After: 120 ten times at once, then passes it through', async () => {
    const r = await probe('reply-from', '/status/503?retry-after=120&body=own');
    expect([r.status, r.headers['retry-after'], r.body, r.attempts]).toEqual([503, '120', 'own', 11]);
  });
});

describe.skipIf(!hasNginx)('nginx (bare proxy_pass)', () => {
  it('answers a refused connection with its own 502 page', async () => {
    const r = await probe('nginx', '/x', {}, true);
    expect(r.status).toBe(502);
    expect(r.body).toContain('<title>502 Bad Gateway</title>');
  });

  it('answers a reset with 502 and does not retry it against a single server', async () => {
    const r = await probe('nginx', '/flaky/1?mode=reset');
    expect([r.status, r.attempts]).toEqual([502, 1]);
  });

  it('passes an upstream 503 through as is', async () => {
    const r = await probe('nginx', '/status/503?retry-after=120&body=own');
    expect([r.status, r.headers['retry-after'], r.body, r.attempts]).toEqual([503, '120', 'own', 1]);
  });

  it('relays a malformed response head to the client as it came', async () => {
    await expect(probe('nginx', '/malformed')).rejects.toMatchObject({ code: 'HPE_INVALID_STATUS' });
  });
});

describe('a response that dies mid-body', () => {
  /** Head and part of the body arrive; then does the connection close, or stay open? */
  async function rawDie(peer: Peer): Promise<'closed' | 'left open'> {
    const { port } = new URL(onKit.get(peer)!.url);
    return new Promise((resolve) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write(`GET /die-mid-body?bytes=100&key=raw${++n} HTTP/1.1\r\nHost: peer\r\n\r\n`);
      });
      let data = '';
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(data.startsWith('HTTP/1.1 200') ? 'left open' : 'closed');
      }, 2000);
      socket.on('data', (d) => (data += d));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve('closed');
      });
    });
  }

  it('is left open by http-proxy-middleware and express-http-proxy: the client waits', async () => {
    expect(await rawDie('hpm')).toBe('left open');
    expect(await rawDie('express-http-proxy')).toBe('left open');
  });

  it('is closed by @fastify/reply-from (and nginx)', async () => {
    expect(await rawDie('reply-from')).toBe('closed');
    if (hasNginx) expect(await rawDie('nginx')).toBe('closed');
  });
});

describe('a POST reset once (no peer replays it)', () => {
  it.each(PEERS)('%s answers an error after one attempt', async (peer) => {
    const r = await probe(peer, '/flaky/1?mode=reset', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBeGreaterThanOrEqual(500);
    expect(r.attempts).toBe(1);
  });
});
