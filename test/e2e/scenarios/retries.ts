/** What is retried, how often, and what never is. */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closedPort } from '../../support/fault-kit.js';
import { delay, eventually, send } from '../../support/client.js';
import { JSON_ACCEPT, type ScenarioContext } from './context.js';

export function describeRetries({ fx, k, gateway }: ScenarioContext): void {
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
}
