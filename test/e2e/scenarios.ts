/**
 * ONE scenario suite for every adapter: each case builds a real app in front of the real fault-kit
 * upstream and asserts the whole answer — status, Proxy-Status, Retry-After, content type, body —
 * and how many attempts the upstream saw.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { responseInterceptor } from 'http-proxy-middleware';
import { describe, expect, it } from 'vitest';
import { closedPort, startRawServer } from '../support/fault-kit.js';
import { useGatewayFixture } from '../support/gateway-fixture.js';
import { delay, eventually, send } from '../support/client.js';
import type { AppSpec, Mount } from '../support/apps.js';

const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const JSON_ACCEPT = { accept: 'application/json' };

export function describeGateway(name: string, mount: Mount): void {
  describe(`gateway on ${name}`, () => {
    const fx = useGatewayFixture(mount, 't');
    const k = fx.key;

    async function gateway(spec: Partial<AppSpec> & { proxy?: Record<string, unknown> } = {}): Promise<string> {
      const proxies = spec.proxies ?? [{ prefix: '/', options: { target: fx.kit.url, ...spec.proxy } }];
      return fx.mount({ proxies, ...(spec.errors !== undefined && { errors: spec.errors }), ...(spec.parseJson && { parseJson: true }) });
    }

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
        let connections = 0;
        const hopByHop: unknown[] = [];
        const upstream = http.createServer((req, res) => {
          hopByHop.push(req.headers.connection, req.headers['keep-alive'], req.headers['proxy-connection']);
          if (req.url === '/chunked') {
            res.write('chunked ');
            res.end('answer');
          } else if (req.url === '/empty') {
            res.writeHead(204).end();
          } else res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 }).end('small');
        });
        upstream.on('connection', () => connections++);
        await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
        try {
          const url = await gateway({ proxy: { ...extra, target: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` } });
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
          expect(connections).toBe(1);
        } finally {
          upstream.closeAllConnections();
          await new Promise((r) => upstream.close(r));
        }
      });

      it("answers the client's Connection, not the upstream's", async () => {
        const upstream = http.createServer((req, res) => {
          res.writeHead(200, { connection: 'close', 'keep-alive': 'timeout=77', 'content-length': 2 }).end('ok');
        });
        await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
        try {
          const url = await gateway({ proxy: { target: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` } });
          const kept = await send(`${url}/`, { headers: { connection: 'keep-alive' } });
          expect([kept.status, kept.body, kept.headers.connection]).toEqual([200, 'ok', 'keep-alive']);
          expect(kept.headers['keep-alive']).not.toBe('timeout=77');
          const closed = await send(`${url}/`, { headers: { connection: 'close' } });
          expect([closed.status, closed.body, closed.headers.connection]).toEqual([200, 'ok', 'close']);
        } finally {
          upstream.closeAllConnections();
          await new Promise((r) => upstream.close(r));
        }
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

    describe('failure mapping', () => {
      it('answers a refused connection with 502 connection_refused, after retrying', async () => {
        const port = await closedPort();
        const url = await gateway({ proxy: { target: `http://127.0.0.1:${port}` } });
        const r = await send(`${url}/anything`);
        expect(r.status).toBe(502);
        expect(r.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
        expect(r.headers['retry-after']).toBeUndefined();
        expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
        expect(r.headers['cache-control']).toBe('no-store');
        expect(r.headers.vary).toMatch(/^Accept\b/);
        expect(r.body).toMatch(/^502 /);
      });

      it('answers a reset before the head with 502 connection_terminated after 3 attempts', async () => {
        const url = await gateway();
        const key = k();
        const r = await send(`${url}/reset?key=${key}`);
        expect(r.status).toBe(502);
        expect(r.headers['proxy-status']).toBe('gateway-errors; error=connection_terminated');
        expect(fx.kit.attempts(`/reset?key=${key}`)).toBe(3);
      });

      it('answers a hung upstream with 504 http_response_timeout, told apart from a reset', async () => {
        const url = await gateway({ proxy: { responseTimeout: 150, retry: false } });
        const key = k();
        const r = await send(`${url}/hang?key=${key}`);
        expect(r.status).toBe(504);
        expect(r.headers['proxy-status']).toBe('gateway-errors; error=http_response_timeout');
        expect(r.headers['retry-after']).toBeUndefined();
        expect(fx.kit.attempts(`/hang?key=${key}`)).toBe(1);
      });

      it('does not let the head timeout cut a slow body', async () => {
        const url = await gateway({ proxy: { responseTimeout: 100 } });
        const r = await send(`${url}/slow-body?ms=150&chunks=3`);
        expect(r.status).toBe(200);
        expect(r.complete).toBe(true);
      });

      it('answers an unrelayable status (099) with 502 http_protocol_error, not a crash', async () => {
        const url = await gateway();
        const key = k();
        const r = await send(`${url}/bad-status?key=${key}`);
        expect(r.status).toBe(502);
        expect(r.headers['proxy-status']).toBe('gateway-errors; error=http_protocol_error');
        expect(fx.kit.attempts(`/bad-status?key=${key}`)).toBe(1);
      });

      it('answers a malformed response with 502 http_protocol_error and does not retry it', async () => {
        const url = await gateway();
        const key = k();
        const r = await send(`${url}/malformed?key=${key}`);
        expect(r.status).toBe(502);
        expect(r.headers['proxy-status']).toBe('gateway-errors; error=http_protocol_error');
        expect(fx.kit.attempts(`/malformed?key=${key}`)).toBe(1);
      });

      it('ends the client connection when the upstream dies mid-body, without retrying or appending a page', async () => {
        const url = await gateway();
        const key = k();
        const r = await send(`${url}/die-mid-body?bytes=100&key=${key}`);
        expect(r.status).toBe(200);
        expect(r.complete).toBe(false);
        expect(r.body).not.toMatch(/50[234]/);
        expect(fx.kit.attempts(`/die-mid-body?key=${key}`)).toBe(1);
      });

      it('answers an upstream 503 with a long Retry-After at once, keeping its value', async () => {
        const url = await gateway();
        const key = k();
        const r = await send(`${url}/status/503?retry-after=120&key=${key}`, { headers: JSON_ACCEPT });
        expect(r.status).toBe(503);
        expect(r.headers['retry-after']).toBe('120');
        expect(r.headers['proxy-status']).toBe('gateway-errors; received-status=503');
        expect(r.headers['content-type']).toBe('application/problem+json; charset=utf-8');
        const problem = JSON.parse(r.body);
        expect(problem).toMatchObject({ type: 'about:blank', title: 'Service Unavailable', status: 503, retryAfter: 120 });
        expect(typeof problem.detail).toBe('string');
        expect(problem.requestId).toBe(r.headers['x-request-id']);
        expect(fx.kit.attempts(`/status/503?key=${key}`)).toBe(1);
      });

      it('turns an IMF-fixdate Retry-After into seconds and drops a garbage one for the default', async () => {
        const url = await gateway({ proxy: { retry: false } });
        const dated = await send(`${url}/retry-after-date?s=90`);
        expect(dated.status).toBe(503);
        expect(Number(dated.headers['retry-after'])).toBeGreaterThanOrEqual(88);
        expect(Number(dated.headers['retry-after'])).toBeLessThanOrEqual(91);
        const garbage = await send(`${url}/status/503?retry-after=1e3`);
        expect(garbage.headers['retry-after']).toBe('30');
      });

      it('keeps a valid Retry-After on a 502 and sends none when the upstream gave none', async () => {
        const url = await gateway({ proxy: { retry: false } });
        const withIt = await send(`${url}/status/502?retry-after=5`);
        expect(withIt.status).toBe(502);
        expect(withIt.headers['retry-after']).toBe('5');
        expect(withIt.headers['proxy-status']).toBe('gateway-errors; received-status=502');
        const without = await send(`${url}/status/504`);
        expect(without.status).toBe(504);
        expect(without.headers['retry-after']).toBeUndefined();
      });

      it('never shows upstream internals unless expose is on', async () => {
        const port = await closedPort();
        const url = await gateway({ proxy: { target: `http://127.0.0.1:${port}`, retry: false } });
        for (const headers of [HTML, JSON_ACCEPT, {}]) {
          const r = await send(`${url}/x`, { headers });
          const everything = JSON.stringify(r.headers) + r.body;
          expect(everything).not.toContain(String(port));
          expect(everything).not.toContain('ECONNREFUSED');
          expect(everything).not.toContain('127.0.0.1');
        }
      });

      it('shows the upstream error code with expose: true', async () => {
        const port = await closedPort();
        const url = await gateway({ errors: { expose: true }, proxy: { target: `http://127.0.0.1:${port}`, retry: false } });
        const r = await send(`${url}/x`, { headers: JSON_ACCEPT });
        expect(JSON.parse(r.body).upstream.code).toBe('ECONNREFUSED');
        expect(r.headers['proxy-status']).toBe('gateway-errors; error=connection_refused; details="ECONNREFUSED"');
      });
    });

    describe('retries', () => {
      it('recovers a flaky upstream for a GET: three attempts, one 200', async () => {
        const url = await gateway();
        const key = k();
        const r = await send(`${url}/flaky/2?key=${key}`);
        expect(r.status).toBe(200);
        expect(r.body).toBe('recovered');
        expect(fx.kit.attempts(`/flaky/2?key=${key}`)).toBe(3);
      });

      it('does not replay a POST without Idempotency-Key, and says it may have gone through', async () => {
        const url = await gateway();
        const key = k();
        const r = await send(`${url}/flaky/1?key=${key}`, { method: 'POST', body: 'pay 10', headers: { ...JSON_ACCEPT, 'content-type': 'text/plain' } });
        expect(r.status).toBe(503);
        expect(r.headers['proxy-status']).toBe('gateway-errors; received-status=503');
        expect(JSON.parse(r.body).mayHaveGoneThrough).toBe(true);
        expect(fx.kit.attempts(`/flaky/1?key=${key}`)).toBe(1);
      });

      it('replays a POST carrying Idempotency-Key with the identical body', async () => {
        const url = await gateway();
        const key = k();
        const body = JSON.stringify({ amount: 10, note: 'é'.repeat(500) });
        const r = await send(`${url}/flaky/1?key=${key}`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json', 'idempotency-key': 'abc-1' },
        });
        expect(r.status).toBe(200);
        expect(fx.kit.attempts(`/flaky/1?key=${key}`)).toBe(2);
        const seen = fx.kit.requests.filter((q) => q.url.includes(`key=${key}`));
        expect(seen.map((q) => q.body.toString())).toEqual([body, body]);
      });

      it('waits out a short upstream Retry-After instead of the backoff, then retries', async () => {
        const retries: Array<{ delay: number; reason: string }> = [];
        const url = await gateway({ proxy: { onRetry: (e: { delay: number; reason: string }) => retries.push(e) } });
        const key = k();
        const r = await send(`${url}/flaky/1?retry-after=1&key=${key}`);
        expect(r.status).toBe(200);
        expect(retries).toEqual([expect.objectContaining({ delay: 1000, reason: 'retry_after' })]);
        expect(fx.kit.attempts(`/flaky/1?key=${key}`)).toBe(2);
      });

      it('uses full-jitter backoff within the policy bounds', async () => {
        const retries: Array<{ delay: number; reason: string; attempt: number }> = [];
        const url = await gateway({ proxy: { retry: { retries: 3, baseDelay: 40, maxDelay: 60 }, onRetry: (e: never) => retries.push(e) } });
        const key = k();
        const r = await send(`${url}/flaky/3?key=${key}`);
        expect(r.status).toBe(200);
        expect(retries.map((e) => e.attempt)).toEqual([1, 2, 3]);
        expect(retries.every((e) => e.reason === 'backoff')).toBe(true);
        expect(retries[0]!.delay).toBeLessThanOrEqual(40);
        expect(retries[1]!.delay).toBeLessThanOrEqual(60);
        expect(retries[2]!.delay).toBeLessThanOrEqual(60);
      });

      it('never retries with retry: false', async () => {
        const url = await gateway({ proxy: { retry: false } });
        const key = k();
        const r = await send(`${url}/flaky/1?key=${key}`);
        expect(r.status).toBe(503);
        expect(fx.kit.attempts(`/flaky/1?key=${key}`)).toBe(1);
      });

      it('takes per-route policies from the function form', async () => {
        const url = await gateway({
          proxy: {
            retry: (req: { url?: string; path?: string }) =>
              ((req as { originalUrl?: string }).originalUrl ?? req.url ?? req.path ?? '').includes('orders') ? false : { retries: 4, baseDelay: 1 },
          },
        });
        const a = k();
        const b = k();
        expect((await send(`${url}/flaky/4?key=${a}`)).status).toBe(200);
        expect(fx.kit.attempts(`/flaky/4?key=${a}`)).toBe(5);
        expect((await send(`${url}/flaky/4?orders=1&key=${b}`)).status).toBe(503);
        expect(fx.kit.attempts(`/flaky/4?key=${b}`)).toBe(1);
      });

      it('mirrors each request to forward and answers with the target, whatever the mirror does', async () => {
        const mirrored: { method?: string; url?: string; connection?: string; body: string }[] = [];
        const mirror = http.createServer((req, res) => {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => {
            mirrored.push({ method: req.method, url: req.url, connection: req.headers.connection, body: Buffer.concat(chunks).toString() });
            res.end('mirror answer, never shown');
          });
        });
        await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', r));
        try {
          const forward = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}`;
          const url = await gateway({ proxy: { forward, responseTimeout: 5000 } });
          const headers = { connection: 'close', 'content-type': 'text/plain' };
          const get = await send(`${url}/echo?m=1`, { headers });
          expect(get.status).toBe(200);
          expect(JSON.parse(get.body).method).toBe('GET');
          expect(JSON.parse(get.body).headers.connection).not.toBe('close');
          const post = await send(`${url}/echo?m=2`, { method: 'POST', body: 'payload', headers });
          expect(post.status).toBe(200);
          expect(JSON.parse(post.body).body).toBe('payload');
          expect(JSON.parse(post.body).headers.connection).not.toBe('close');
          expect(await eventually(() => mirrored.length === 2)).toBe(true);
          expect(mirrored.map((m) => [m.method, m.url, m.body])).toEqual([
            ['GET', '/echo?m=1', ''],
            ['POST', '/echo?m=2', 'payload'],
          ]);
          expect(mirrored.map((m) => m.connection)).not.toContain('close');

          // A mirror that is down is not the target failing: the client still gets its answer.
          const downUrl = await gateway({ proxy: { forward: `http://127.0.0.1:${await closedPort()}`, responseTimeout: 5000 } });
          for (const method of ['GET', 'POST']) {
            const down = await send(`${downUrl}/echo?m=3`, { method, body: method === 'POST' ? 'payload' : undefined });
            expect([method, down.status]).toEqual([method, 200]);
            expect(JSON.parse(down.body).method).toBe(method);
          }
        } finally {
          mirror.closeAllConnections();
          await new Promise((r) => mirror.close(r));
        }
      });

      it('restarts each attempt from the original path and forwarded headers', async () => {
        const url = await gateway({ proxy: { pathRewrite: { '^/v1': '/echo' }, xfwd: true } });
        const key = k();
        // The echo route always answers 200; reset-then-echo comes from the flaky route instead:
        const r = await send(`${url}/v1?key=${key}`);
        expect(r.status).toBe(200);
        const echo = JSON.parse(r.body);
        expect(echo.url).toBe(`/echo?key=${key}`);
        expect(String(echo.headers['x-forwarded-for']).split(',').length).toBe(1);
      });

      it('delivers a body that express.json()/koa-bodyparser already read, byte for byte', async () => {
        const url = await gateway({ parseJson: true });
        const body = '{ "spaced" :  [1, 2,3],\n "ü": "ß" }';
        const r = await send(`${url}/echo`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
        expect(r.status).toBe(200);
        const echo = JSON.parse(r.body);
        expect(echo.body).toBe(body);
        expect(echo.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
      });

      it('streams a body over the limit once and does not retry it', async () => {
        const url = await gateway({ proxy: { retry: { bodyLimit: 1024 } } });
        const key = k();
        const body = Buffer.alloc(64 * 1024, 'a');
        const r = await send(`${url}/flaky/1?key=${key}`, { method: 'PUT', body });
        expect(r.status).toBe(503);
        expect(fx.kit.attempts(`/flaky/1?key=${key}`)).toBe(1);
        const seen = fx.kit.requests.filter((q) => q.url.includes(`key=${key}`));
        expect(seen[0]!.body.length).toBe(body.length);
      });

      it('stops retrying when the client goes away during backoff', async () => {
        const url = await gateway({ proxy: { retry: { retries: 5, baseDelay: 300, maxDelay: 300 } } });
        const key = k();
        await send(`${url}/flaky/9?key=${key}`, { timeout: 150 }).catch(() => undefined);
        const seenAtAbort = fx.kit.attempts(`/flaky/9?key=${key}`);
        await delay(900);
        expect(seenAtAbort).toBeGreaterThanOrEqual(1);
        // An attempt already on the wire when the client left may still be counted; a loop that
        // kept going would have made three or more further attempts in this time.
        expect(fx.kit.attempts(`/flaky/9?key=${key}`)).toBeLessThanOrEqual(seenAtAbort + 1);
      });

      it('cancels the upstream request when the client goes away', async () => {
        const url = await gateway({ proxy: { retry: false } });
        const before = fx.kit.openSockets();
        await send(`${url}/hang`, { timeout: 150 }).catch(() => undefined);
        expect(await eventually(() => fx.kit.openSockets() <= before)).toBe(true);
      });
    });

    describe('http-proxy-middleware options pass through', () => {
      it('applies changeOrigin, headers and a target path on every attempt, and calls on.* handlers per attempt', async () => {
        const events: string[] = [];
        const url = await gateway({
          proxy: {
            target: `${fx.kit.url}/flaky`,
            changeOrigin: true,
            headers: { 'x-static': 'yes' },
            retry: { retries: 2, baseDelay: 1 },
            on: {
              start: () => events.push('start'),
              proxyReq: (proxyReq: { setHeader(n: string, v: string): void }) => {
                events.push('proxyReq');
                proxyReq.setHeader('x-added', 'by-handler');
              },
              proxyRes: (proxyRes: { statusCode?: number }) => events.push(`proxyRes ${proxyRes.statusCode}`),
              end: () => events.push('end'),
            },
          },
        });
        const key = k();
        const r = await send(`${url}/1?key=${key}`);
        expect(r.status).toBe(200);
        expect(r.body).toBe('recovered');
        const seen = fx.kit.requests.filter((q) => q.url === `/flaky/1?key=${key}`);
        expect(seen.length).toBe(2);
        for (const q of seen) {
          expect(q.headers.host).toBe(new URL(fx.kit.url).host);
          expect(q.headers['x-static']).toBe('yes');
          expect(q.headers['x-added']).toBe('by-handler');
        }
        expect(await eventually(() => events.filter((e) => e === 'end').length === 2)).toBe(true);
        // 'end' of the retried 503's body comes whenever that body is drained: not in the order.
        expect(events.filter((e) => e !== 'end')).toEqual(['start', 'proxyReq', 'proxyRes 503', 'start', 'proxyReq', 'proxyRes 200']);
      });

      it("runs the web passes a plugin adds around http-proxy's own, on every attempt", async () => {
        type Pass = (req: { headers: Record<string, string | string[] | undefined> }) => void;
        const plugin = (server: { before(type: 'web', pass: string, fn: Pass): void }) =>
          server.before('web', 'stream', (req) => {
            req.headers['x-from-pass'] = 'yes';
          });
        const url = await gateway({ proxy: { plugins: [plugin], retry: { retries: 2, baseDelay: 1 } } });
        const key = k();
        expect((await send(`${url}/flaky/1?key=${key}`)).status).toBe(200);
        const seen = fx.kit.requests.filter((q) => q.url === `/flaky/1?key=${key}`);
        expect(seen.map((q) => q.headers['x-from-pass'])).toEqual(['yes', 'yes']);
      });

      it('accepts a target given as an object', async () => {
        const { hostname, port } = new URL(fx.kit.url);
        const url = await gateway({ proxy: { target: { protocol: 'http:', host: hostname, port: Number(port) } } });
        const r = await send(`${url}/ok?size=3`);
        expect(r.status).toBe(200);
        expect(r.body).toBe('xxx');
      });

      it('rewrites a redirect to the gateway with autoRewrite', async () => {
        const url = await gateway({ proxy: { autoRewrite: true } });
        const r = await send(`${url}/redirect`);
        expect(r.status).toBe(302);
        expect(r.headers.location).toBe(`${url}/ok`);
      });

      it('follows redirects with followRedirects, and still retries', async () => {
        const url = await gateway({ proxy: { followRedirects: true, retry: { retries: 2, baseDelay: 1 } } });
        const r = await send(`${url}/redirect`);
        expect(r.status).toBe(200);
        expect(r.body).toBe('ok');
        const key = k();
        const flaky = await send(`${url}/flaky/1?key=${key}`, { method: 'PUT', body: 'same bytes' });
        expect(flaky.status).toBe(200);
        const seen = fx.kit.requests.filter((q) => q.url === `/flaky/1?key=${key}`);
        expect(seen.map((q) => q.body.toString())).toEqual(['same bytes', 'same bytes']);
      });

      it.each([
        ['', {}],
        [' (followRedirects: through http-proxy\'s web())', { followRedirects: true }],
      ])('sends a body announced with Expect: 100-continue%s', async (_label, extra) => {
        const url = await gateway({ proxy: extra });
        const r = await send(`${url}/echo`, { method: 'PUT', body: 'after continue', headers: { expect: '100-continue', connection: 'close' } });
        expect(r.status).toBe(200);
        expect(JSON.parse(r.body).body).toBe('after continue');
        // A body a parser already read, announced with Expect (Node answered 100 Continue itself).
        const parsedUrl = await gateway({ parseJson: true, proxy: extra });
        const json = '{"a":1}';
        const p = await send(`${parsedUrl}/echo`, { method: 'PUT', body: json, headers: { expect: '100-continue', 'content-type': 'application/json' } });
        expect(p.status).toBe(200);
        expect(JSON.parse(p.body).body).toBe(json);
      });
    });

    describe('the answer', () => {
      it('renders the branded HTML page for browsers', async () => {
        const url = await gateway({ errors: { brand: { name: 'Acme <Corp>' } }, proxy: { retry: false } });
        const r = await send(`${url}/status/503`, { headers: { ...HTML, 'x-request-id': 'req-123' } });
        expect(r.status).toBe(503);
        expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
        expect(r.headers['x-request-id']).toBe('req-123');
        expect(r.headers['content-security-policy']).toContain("default-src 'none'");
        expect(r.body).toContain('Acme &lt;Corp&gt;');
        expect(r.body).not.toContain('Acme <Corp>');
        expect(r.body).toContain('req-123');
      });

      it('replaces an invalid X-Request-Id with a UUID', async () => {
        const url = await gateway({ proxy: { retry: false } });
        const r = await send(`${url}/status/502`, { headers: { 'x-request-id': 'bad id <script>' } });
        expect(r.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      });

      it('answers HEAD without a body', async () => {
        const url = await gateway({ proxy: { retry: false } });
        const r = await send(`${url}/status/503`, { method: 'HEAD' });
        expect(r.status).toBe(503);
        expect(r.body).toBe('');
        expect(r.headers['retry-after']).toBe('30');
      });

      it('brands a handler’s own 503 without Proxy-Status, keeping its Retry-After', async () => {
        const url = await gateway({ proxies: [] });
        const r = await send(`${url}/own-503`, { headers: JSON_ACCEPT });
        expect(r.status).toBe(503);
        expect(r.headers['proxy-status']).toBeUndefined();
        expect(r.headers['retry-after']).toBe('7');
        expect(JSON.parse(r.body)).toMatchObject({ status: 503 });
        expect(JSON.parse(r.body).mine).toBeUndefined();
        const plain = await send(`${url}/own-502`);
        expect(plain.status).toBe(502);
        expect(plain.headers['content-type']).toBe('text/plain; charset=utf-8');
        expect(plain.headers['retry-after']).toBeUndefined();
      });

      it('maps a thrown fetch failure to 502 connection_refused', async () => {
        const url = await gateway({ proxies: [] });
        const r = await send(`${url}/throw-refused`);
        expect(r.status).toBe(502);
        expect(r.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
      });

      it('leaves other errors to the app’s own handler', async () => {
        const url = await gateway({ proxies: [] });
        const r = await send(`${url}/throw-bug`);
        expect(r.status).toBe(500);
        expect(r.body).toBe('app handler: a bug');
      });

      it('lets an upstream’s own 503 body through with keepUpstreamBody', async () => {
        const url = await gateway({ errors: { keepUpstreamBody: true }, proxy: { retry: false } });
        const r = await send(`${url}/status/503?body=${encodeURIComponent('{"own":true}')}&retry-after=garbage`);
        expect(r.status).toBe(503);
        expect(r.body).toBe('{"own":true}');
        expect(r.headers['retry-after']).toBe('30');
        expect(r.headers['proxy-status']).toBe('gateway-errors; received-status=503');
      });

      it('keeps a handler’s own 502 body with keepUpstreamBody but drops its invalid Retry-After', async () => {
        const url = await gateway({ errors: { keepUpstreamBody: true }, proxies: [] });
        const r = await send(`${url}/own-502-soon`);
        expect(r.status).toBe(502);
        expect(JSON.parse(r.body)).toEqual({ mine: true });
        expect(r.headers['retry-after']).toBeUndefined();
        expect(r.headers['proxy-status']).toBeUndefined();
        expect(r.headers['x-request-id']).toBeDefined();
      });

      it('answers with the defaults when no gatewayErrors() is installed', async () => {
        const port = await closedPort();
        const url = await gateway({ errors: false, proxy: { target: `http://127.0.0.1:${port}`, retry: false } });
        const r = await send(`${url}/x`);
        expect(r.status).toBe(502);
        expect(r.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
      });

      it('uses template overrides from a directory, falling back for what it lacks', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'ge-tpl-'));
        writeFileSync(join(dir, '503.eta'), '<p id="custom">Down for a nap: <%= it.requestId %></p>');
        // Templates are read once, at setup: the directory can go before the requests.
        const url = await gateway({ errors: { templates: dir }, proxy: { retry: false } }).finally(() => rmSync(dir, { recursive: true, force: true }));
        const r503 = await send(`${url}/status/503`, { headers: { ...HTML, 'x-request-id': 'abc' } });
        expect(r503.body).toContain('<p id="custom">Down for a nap: abc</p>');
        const r502 = await send(`${url}/status/502`, { headers: HTML });
        expect(r502.body).not.toContain('custom');
        expect(r502.body).toContain('<html');
      });
    });

    describe('raw upstream faults', () => {
      it('answers a duplicate Content-Length with 502 http_protocol_error', async () => {
        const url = await gateway();
        const r = await send(`${url}/dup-cl`);
        expect(r.status).toBe(502);
        expect(r.headers['proxy-status']).toBe('gateway-errors; error=http_protocol_error');
      });

      it('answers garbage from a raw server with 502 http_protocol_error', async () => {
        const raw = await startRawServer('HELLO THERE\r\n\r\n');
        try {
          const url = await gateway({ proxy: { target: raw.url } });
          const r = await send(`${url}/x`);
          expect(r.status).toBe(502);
          expect(r.headers['proxy-status']).toBe('gateway-errors; error=http_protocol_error');
          expect(raw.connections()).toBe(1);
        } finally {
          await raw.close();
        }
      });
    });
  });
}
