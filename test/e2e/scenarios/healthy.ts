/** A healthy upstream: answers stream through untouched, pooled connections are reused, the request reaches the upstream as the client sent it. */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { responseInterceptor } from 'http-proxy-middleware';
import { describe, expect, it } from 'vitest';
import { send } from '../../support/client.js';
import type { ScenarioContext } from './context.js';

/**
 * A test's own upstream on 127.0.0.1, for what the fault kit does not answer: `run` gets its URL
 * and the connections it has taken so far; it is closed afterwards, whatever `run` does.
 */
async function withUpstream(handler: http.RequestListener, run: (target: string, connections: () => number) => Promise<void>): Promise<void> {
  let connections = 0;
  const upstream = http.createServer(handler);
  upstream.on('connection', () => connections++);
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  try {
    await run(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, () => connections);
  } finally {
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
  }
}

/** One HTTP/1.0 request without keep-alive on a raw connection, read until the server closes it. */
function http10(url: string, path: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.0\r\nHost: gateway.test\r\n\r\n`));
    let got = '';
    socket.setEncoding('latin1').on('data', (c: string) => (got += c)).on('close', () => resolve(got)).on('error', reject);
  });
}

export function describeHealthyUpstream({ fx, k, gateway }: ScenarioContext): void {
  describe('healthy upstream', () => {
    it('streams a 200 through untouched, in one attempt', async () => {
      const url = await gateway();
      const key = k();
      const r = await send(`${url}/ok?size=2048&key=${key}`);
      expect(r.status).toBe(200);
      expect(r.body).toBe('x'.repeat(2048));
      expect(r.headers['proxy-status']).toBeUndefined();
      expect(fx.kit.attempts(`/ok?key=${key}`)).toBe(1);
    });

    it('relays a 404 from the upstream as it is', async () => {
      const url = await gateway();
      const r = await send(`${url}/status/404?body=nope`);
      expect(r.status).toBe(404);
      expect(r.body).toBe('nope');
    });

    it.each([
      ['', {}],
      [' (followRedirects: through http-proxy\'s web())', { followRedirects: true }],
    ])('reuses one pooled upstream connection, also for clients that send Connection: close%s', async (_label, extra) => {
      // An upstream that counts its connections and answers in the shapes a small answer comes
      // in: with a length, chunked, empty (204), and a HEAD.
      const hopByHop: unknown[] = [];
      const handler: http.RequestListener = (req, res) => {
        hopByHop.push(req.headers.connection, req.headers['keep-alive'], req.headers['proxy-connection']);
        if (req.url === '/chunked') {
          res.write('chunked ');
          res.end('answer');
        } else if (req.url === '/empty') {
          res.writeHead(204).end();
        } else res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 }).end('small');
      };
      await withUpstream(handler, async (target, connections) => {
        const url = await gateway({ proxy: { ...extra, target } });
        const headers = { connection: 'close', 'keep-alive': 'timeout=1', 'proxy-connection': 'close' };
        for (let i = 0; i < 5; i++) {
          const sized = await send(`${url}/sized`, { headers });
          expect([sized.status, sized.body, sized.headers['content-length']]).toEqual([200, 'small', '5']);
          const chunked = await send(`${url}/chunked`, { headers });
          expect([chunked.status, chunked.body, chunked.complete]).toEqual([200, 'chunked answer', true]);
          const empty = await send(`${url}/empty`);
          expect([empty.status, empty.body]).toEqual([204, '']);
          const head = await send(`${url}/sized`, { method: 'HEAD', headers });
          expect([head.status, head.body, head.headers['content-length']]).toEqual([200, '', '5']);
        }
        // The client's hop-by-hop headers stayed with its own connection (the gateway's agent
        // sends its own keep-alive), and each answer was read to its end, which frees the
        // upstream socket for the next request.
        expect(hopByHop.filter((v) => v !== undefined && v !== 'keep-alive')).toEqual([]);
        expect(connections()).toBe(1);
      });
    });

    it.each([
      ['', {}],
      [' (followRedirects: through http-proxy\'s web())', { followRedirects: true }],
    ])("keeps the pooled upstream connection when a client's Connection names upgrade, with or without an Upgrade%s", async (_label, extra) => {
      // A request that reaches the proxy as a plain one (Node took no upgrade for it) is sent as
      // a plain one: a client's `Connection: close, upgrade` must not close the pooled upstream
      // connection, and an h2c offer must not switch the upstream's protocol under it.
      const seen: unknown[] = [];
      const handler: http.RequestListener = (req, res) => {
        seen.push(req.headers.connection);
        res.writeHead(200, { 'content-length': 5 }).end('small');
      };
      await withUpstream(handler, async (target, connections) => {
        const url = await gateway({ proxy: { ...extra, target } });
        const offers: Record<string, string>[] = [
          { connection: 'close, upgrade' },
          { connection: 'keep-alive, x-upgrade, close' },
          { connection: 'Upgrade, HTTP2-Settings, close', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA' },
        ];
        for (let i = 0; i < 3; i++) {
          for (const headers of offers) expect((await send(`${url}/`, { headers })).body).toBe('small');
        }
        expect(seen.filter((v) => v !== undefined && v !== 'keep-alive')).toEqual([]);
        expect(connections()).toBe(1);
      });
    });

    it.each([
      ['', {}],
      [' (cookie and header-case options: http-proxy\'s writeHeaders)', { cookieDomainRewrite: 'example.test', preserveHeaderKeyCase: true }],
    ])("answers the client's Connection, not the upstream's%s", async (_label, extra) => {
      const handler: http.RequestListener = (req, res) => {
        res.writeHead(200, { Connection: 'close', 'Keep-Alive': 'timeout=77', 'content-length': 2 }).end('ok');
      };
      await withUpstream(handler, async (target) => {
        const url = await gateway({ proxy: { target, ...extra } });
        const kept = await send(`${url}/`, { headers: { connection: 'keep-alive' } });
        expect([kept.status, kept.body, kept.headers.connection]).toEqual([200, 'ok', 'keep-alive']);
        expect(kept.headers['keep-alive']).toBe('timeout=5');
        const closed = await send(`${url}/`, { headers: { connection: 'close' } });
        expect([closed.status, closed.body, closed.headers.connection]).toEqual([200, 'ok', 'close']);
      });
    });

    it("leaves the client connection's Connection and Keep-Alive to the server: its keep-alive hint, its maxRequestsPerSocket", async () => {
      // The server closes a connection after two requests. Node says so in the second answer
      // (Connection: close) unless a Connection header was set on the response; a client told
      // keep-alive sends a third request on that connection, and Node answers it 503 itself.
      const url = await gateway({ maxRequestsPerSocket: 2 });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const answers = [];
        for (let i = 0; i < 3; i++) answers.push(await send(`${url}/ok?size=10`, { agent, headers: { connection: 'keep-alive' } }));
        expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
        expect(answers.map((a) => a.headers.connection)).toEqual(['keep-alive', 'close', 'keep-alive']);
        // The server's idle limit, which a pooling client needs to retire a connection before
        // the server does (Node's keepAliveTimeout: 5 s by default).
        expect(answers[0]!.headers['keep-alive']).toBe('timeout=5, max=2');
        // An HTTP/1.0 client that asked for no keep-alive: the server closes after the answer.
        const raw = await http10(url, '/ok?size=10');
        expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
        expect(raw).toMatch(/\r\nConnection: close\r\n/i);
        expect(raw.endsWith('x'.repeat(10))).toBe(true);
      } finally {
        agent.destroy();
      }
    });

    it("keeps an upstream's Upgrade offer but not its Connection: an HTTP/1.0 client's connection still closes", async () => {
      // Apache with `Protocols h2 h2c http/1.1` offers h2c on every HTTP/1.1 answer.
      const handler: http.RequestListener = (req, res) => {
        res.writeHead(200, { upgrade: 'h2,h2c', connection: 'Upgrade, Keep-Alive', 'content-length': 2 }).end('ok');
      };
      await withUpstream(handler, async (target) => {
        const url = await gateway({ proxy: { target } });
        const kept = await send(`${url}/`, { headers: { connection: 'keep-alive' } });
        expect([kept.status, kept.body, kept.headers.upgrade, kept.headers.connection, kept.headers['keep-alive']]).toEqual([200, 'ok', 'h2,h2c', 'keep-alive', 'timeout=5']);
        // The server closes the connection after the answer, which ends this read.
        const raw = await http10(url, '/');
        expect(raw).toMatch(/\r\nConnection: close\r\n/i);
        expect(raw.endsWith('\r\n\r\nok')).toBe(true);
      });
    });

    it("gives an on.proxyRes handler that reads the body the same bytes the client gets", async () => {
      const seen = new Map<string, Buffer[]>();
      const url = await gateway({
        proxy: {
          on: {
            proxyRes: (proxyRes: NodeJS.ReadableStream, req: { url?: string }) => {
              const chunks: Buffer[] = [];
              seen.set(String(req.url), chunks);
              proxyRes.on('data', (c: Buffer) => chunks.push(c));
            },
          },
        },
      });
      for (const path of ['/ok?size=300', '/big?mib=1']) {
        const r = await send(`${url}${path}`);
        expect(r.status).toBe(200);
        const got = Buffer.concat(seen.get(path) ?? []);
        expect(got.length).toBe(r.bytes.length);
        expect(got.equals(r.bytes)).toBe(true);
      }
      expect(seen.size).toBe(2);
    });

    it.each([
      ['', {}],
      [' (followRedirects: through http-proxy\'s web())', { followRedirects: true }],
    ])('gives the client every byte when an on.proxyRes handler pipes the body elsewhere too%s', async (_label, extra) => {
      const seen = new Map<string, Buffer[]>();
      const url = await gateway({
        proxy: {
          ...extra,
          on: {
            proxyRes: (proxyRes: NodeJS.ReadableStream, req: { url?: string }) => {
              const chunks: Buffer[] = [];
              seen.set(String(req.url), chunks);
              // A tee to a cache or an audit log: a writable that keeps what it is given.
              proxyRes.pipe(new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c), done()) }));
            },
          },
        },
      });
      for (const path of ['/ok?size=300', '/big?mib=1']) {
        const r = await send(`${url}${path}`);
        expect(r.status).toBe(200);
        expect(r.bytes.length).toBe(path === '/big?mib=1' ? 1048576 : 300);
        const got = Buffer.concat(seen.get(path) ?? []);
        expect(got.equals(r.bytes)).toBe(true);
      }
    });

    it('lets an on.proxyRes handler write the answer itself with selfHandleResponse', async () => {
      const url = await gateway({
        proxy: {
          selfHandleResponse: true,
          on: {
            proxyRes: (proxyRes: IncomingMessage, _req: unknown, res: ServerResponse) => {
              res.writeHead(proxyRes.statusCode ?? 500, { 'content-type': 'text/plain', 'x-self': 'yes' });
              proxyRes.pipe(res);
            },
          },
        },
      });
      const r = await send(`${url}/big?mib=1`);
      expect(r.status).toBe(200);
      expect(r.headers['x-self']).toBe('yes');
      expect(r.bytes.length).toBe(1048576);
    });

    it("lets http-proxy-middleware's responseInterceptor rewrite the body with selfHandleResponse", async () => {
      const url = await gateway({
        proxy: {
          selfHandleResponse: true,
          on: { proxyRes: responseInterceptor(async (body) => `intercepted: ${body.toString('utf8').toUpperCase()}`) },
        },
      });
      const r = await send(`${url}/ok?size=4`);
      expect(r.status).toBe(200);
      expect(r.body).toBe('intercepted: XXXX');
    });

    it('streams server-sent events as they come', async () => {
      const url = await gateway({ proxy: { responseTimeout: 150 } });
      const r = await send(`${url}/sse?events=3&ms=100`);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toContain('text/event-stream');
      expect(r.body.match(/^data:/gm)?.length).toBe(3);
    });
  });
}
