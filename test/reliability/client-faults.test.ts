/**
 * Client-side faults: clients that leave before, during and after the upstream's answer, during
 * a backoff wait, in the middle of a large body either way; request bodies that lie about their
 * length; request bodies that trickle in. Whatever the client does, the gateway must not crash,
 * leave a rejection unhandled, warn (MaxListenersExceeded...), write after the head went
 * (ERR_HTTP_HEADERS_SENT), or keep a socket, timer or handle it no longer needs.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { delay, eventually, send } from '../support/client.js';
import { startBlackhole } from '../support/blackhole.js';
import { startFaultKit, type FaultKit } from '../support/fault-kit.js';
import {
  describeError,
  handleCensus,
  handlesSettled,
  unexpectedErrors,
  watchProcess,
  type ProcessWatch,
} from './harness.js';
import { ADAPTERS, type MountedApp } from '../support/apps.js';

const MiB = 1024 * 1024;

/** Open a request and hand it back unsent: the test decides when to write, end or destroy. */
function open(url: string, method: string, headers: Record<string, string> = {}): http.ClientRequest {
  const req = http.request(url, { method, headers, agent: false });
  req.on('error', () => undefined); // the test destroys it on purpose
  return req;
}

/** Resolve with the response head (the body is left unread), or reject on a request error. */
function head(req: http.ClientRequest): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
}

/** A raw TCP client: writes exactly the bytes given, collects what comes back until the server closes. */
function raw(port: number): { socket: net.Socket; received: () => string; closed: Promise<void> } {
  const socket = net.connect(port, '127.0.0.1');
  const parts: Buffer[] = [];
  socket.on('data', (c: Buffer) => parts.push(c));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => Buffer.concat(parts).toString('latin1'), closed };
}

for (const { name: adapter, mount } of ADAPTERS) {
  describe(`client faults on ${adapter}`, () => {
    const slug = adapter.replace(/\W/g, '');
    let kit: FaultKit;
    let app: MountedApp | undefined;
    let watch: ProcessWatch;

    beforeAll(async () => {
      // Short keep-alive at the upstream, so pooled sockets close within the leak checks' polling.
      kit = await startFaultKit({ keepAliveTimeout: 100 });
    });
    afterAll(async () => {
      await kit.close();
    });
    beforeEach(() => {
      watch = watchProcess();
    });
    afterEach(async () => {
      await app?.close();
      app = undefined;
      watch.stop();
    });

    /**
     * Mount the gateway, take the handle census, and return the check every test ends with:
     * the gateway still answers, the upstream holds no socket, no handle is left above the
     * census, nothing was warned, rejected or reported to the framework.
     */
    async function begin(
      proxy: Partial<Record<string, unknown>> = {},
      alive: [path: string, status: number] = ['/ok', 200],
    ): Promise<{ url: string; port: number; check(): Promise<void> }> {
      app = await mount({ errors: {}, proxy: { target: kit.url, ...proxy } });
      await eventually(() => kit.openSockets() === 0);
      const baseline = handleCensus();
      const current = app;
      return {
        url: current.url,
        port: current.port,
        async check() {
          expect(await eventually(() => kit.openSockets() === 0, 3000), 'upstream sockets left open').toBe(true);
          expect(await eventually(() => current.openConnections() === 0, 3000), 'client connections left open at the gateway').toBe(true);
          expect(await handlesSettled(baseline), 'handles above the census').toEqual({});
          const answer = await send(`${current.url}${alive[0]}`);
          expect(answer.status).toBe(alive[1]);
          expect(watch.warnings.map(String)).toEqual([]);
          expect(watch.rejections.map(describeError)).toEqual([]);
          expect(unexpectedErrors(current.errors)).toEqual([]);
          expect(current.errors.map(describeError).filter((e) => e.includes('ERR_HTTP_HEADERS_SENT'))).toEqual([]);
        },
      };
    }

    it('cancels the upstream request when the client leaves before the answer, and does not retry it', async () => {
      const g = await begin();
      const req = open(`${g.url}/slow-head?ms=2000&key=before-${slug}`, 'GET');
      req.end();
      expect(await eventually(() => kit.attempts(`/slow-head?key=before-${slug}`) === 1)).toBe(true);
      req.destroy();
      await g.check();
      expect(kit.attempts(`/slow-head?key=before-${slug}`)).toBe(1);
    });

    it('drops the pending connection when the client leaves while the gateway is still connecting', async () => {
      const hole = await startBlackhole();
      try {
        const giveUps: unknown[] = [];
        // Still answering afterwards means: the next request meets the connect timeout, as it should.
        const g = await begin({ target: hole.url, connectTimeout: 1000, retry: false, onGiveUp: (e: unknown) => giveUps.push(e) }, ['/x', 504]);
        const req = open(`${g.url}/x`, 'GET');
        req.end();
        await delay(200); // the upstream connection is still in SYN-SENT
        req.destroy();
        await delay(1200); // past the connect timeout: a timer left armed would have fired by now
        expect(giveUps).toEqual([]);
        await g.check(); // no socket, no connect timer left behind
      } finally {
        await hole.close();
      }
    });

    it('stops relaying when the client leaves in the middle of a streamed answer', async () => {
      const g = await begin();
      const req = open(`${g.url}/slow-body?ms=50&chunks=200`, 'GET');
      req.end();
      const res = await head(req);
      await new Promise((resolve) => res.once('data', resolve));
      req.destroy();
      await g.check();
    });

    it('lets go of a finished upstream answer the client never reads', async () => {
      const g = await begin();
      const req = open(`${g.url}/ok?size=${4 * MiB}`, 'GET');
      req.end();
      const res = await head(req);
      expect(res.statusCode).toBe(200);
      req.destroy();
      await g.check();
    });

    it('lets go of an error answer the client leaves before reading', async () => {
      const g = await begin({ retry: false });
      const req = open(`${g.url}/status/503`, 'GET', { accept: 'text/html' });
      req.end();
      const res = await head(req);
      expect(res.statusCode).toBe(503);
      req.destroy();
      await g.check();
    });

    it('stops the retry loop, its timer included, when the client leaves during the backoff wait', async () => {
      const retries: Array<{ attempt: number; delay: number }> = [];
      let req: http.ClientRequest | undefined;
      const g = await begin({
        // The upstream asks for exactly 1 s (Retry-After: 1), so the wait is not a random jitter
        // that could end before the gateway notices the client is gone.
        retry: { retries: 5, maxDelay: 2000 },
        budget: false,
        circuit: false,
        onRetry: (e: { attempt: number; delay: number }) => {
          retries.push(e);
          req?.destroy(); // leave the moment the wait begins
        },
      });
      const key = `backoff-${slug}`;
      req = open(`${g.url}/flaky/9?retry-after=1&key=${key}`, 'GET');
      req.end();
      expect(await eventually(() => retries.length === 1)).toBe(true);
      expect(retries).toEqual([{ attempt: 1, delay: 1000 }].map((r) => expect.objectContaining(r)));
      await delay(1500); // the wait is over: a second attempt would have been sent by now
      expect(kit.attempts(`/flaky/9?key=${key}`)).toBe(1);
      expect(retries.length).toBe(1);
      await g.check();
    });

    it('stops a large download when the client leaves mid-body', async () => {
      const g = await begin();
      const req = open(`${g.url}/big?mib=256`, 'GET');
      req.end();
      const res = await head(req);
      let got = 0;
      await new Promise<void>((resolve) => {
        res.on('data', (c: Buffer) => {
          got += c.length;
          if (got >= 2 * MiB) resolve();
        });
      });
      req.destroy();
      await g.check();
    });

    it('stops a large streamed upload when the client leaves mid-body', async () => {
      const g = await begin();
      const key = `upload-${slug}`;
      const req = open(`${g.url}/echo?key=${key}`, 'POST', { 'content-type': 'application/octet-stream', 'content-length': String(256 * MiB) });
      const chunk = Buffer.alloc(64 * 1024, 'u');
      let written = 0;
      while (written < 8 * MiB) {
        if (!req.write(chunk)) await new Promise((resolve) => req.once('drain', resolve));
        written += chunk.length;
      }
      expect(await eventually(() => kit.attempts(`/echo?key=${key}`) === 1)).toBe(true);
      req.destroy();
      await g.check();
    });

    it('drops a replayable upload the client abandons while it is being buffered, without answering a gateway error', async () => {
      const giveUps: unknown[] = [];
      const g = await begin({ onGiveUp: (e: unknown) => giveUps.push(e) });
      const key = `buffered-${slug}`;
      const req = open(`${g.url}/echo?key=${key}`, 'PUT', { 'content-type': 'application/octet-stream', 'content-length': String(512 * 1024) });
      req.write(Buffer.alloc(128 * 1024, 'b'));
      await delay(100);
      req.destroy();
      await g.check();
      expect(kit.attempts(`/echo?key=${key}`)).toBe(0); // a replayable body goes out only once complete
      expect(giveUps).toEqual([]);
    });

    it('forwards exactly the declared bytes when a body is longer than its Content-Length, and reads the rest as the next request', async () => {
      const g = await begin();
      const key = `longer-${slug}`;
      const c = raw(g.port);
      // 10 bytes declared; what follows is a second request, the request-smuggling shape.
      c.socket.write(
        `PUT /echo?key=${key} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n0123456789` +
          `GET /echo?key=${key}-2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      await Promise.race([c.closed, delay(3000)]);
      const answers = c.received().split(/(?=HTTP\/1\.1 )/);
      expect(answers.map((a) => a.slice(0, 15))).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
      expect(answers[0]).toContain('"bodyLength":10');
      const seen = kit.requests.filter((q) => q.url.includes(`key=${key}`));
      expect(seen.map((q) => [q.method, q.body.toString()])).toEqual([
        ['PUT', '0123456789'],
        ['GET', ''],
      ]);
      await g.check();
    });

    it('sends a pipelined request only once the answer ahead of it is complete, in order', async () => {
      const g = await begin();
      const key = `pipelined-${slug}`;
      const c = raw(g.port);
      c.socket.write(
        `PUT /slow-head?ms=400&key=${key} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi` +
          `GET /echo?key=${key}-2 HTTP/1.1\r\nHost: x\r\n\r\n` +
          `DELETE /echo?key=${key}-3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      expect(await eventually(() => kit.attempts(`/slow-head?key=${key}`) === 1)).toBe(true);
      await delay(200);
      // The PUT is still waiting for its answer: nothing behind it has gone to the upstream.
      expect([kit.attempts(`/echo?key=${key}-2`), kit.attempts(`/echo?key=${key}-3`)]).toEqual([0, 0]);
      await Promise.race([c.closed, delay(3000)]);
      const answers = c.received().split(/(?=HTTP\/1\.1 )/);
      expect(answers.map((a) => a.slice(0, 15))).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
      expect(answers[1]).toContain('"method":"GET"');
      expect(answers[2]).toContain('"method":"DELETE"');
      const order = kit.requests.filter((q) => q.url.includes(`key=${key}`)).map((q) => q.method);
      expect(order).toEqual(['PUT', 'GET', 'DELETE']);
      await g.check();
    });

    it('sends a pipelined request whose body a parser read, and answers the app route after it', async () => {
      app = await mount({
        errors: {},
        parseJson: true,
        proxies: ['/slow-head', '/echo'].map((prefix) => ({ prefix, options: { target: kit.url } })),
      });
      const key = `pipelined-parsed-${slug}`;
      const c = raw(app.port);
      const json = '{"a":1}';
      c.socket.write(
        `GET /slow-head?ms=300&key=${key} HTTP/1.1\r\nHost: x\r\n\r\n` +
          `POST /echo?key=${key}-2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\n\r\n${json}` +
          `GET /own-503 HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\nConnection: close\r\n\r\n`,
      );
      await Promise.race([c.closed, delay(3000)]);
      const answers = c.received().split(/(?=HTTP\/1\.1 )/);
      expect(answers.map((a) => a.slice(0, 12))).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 503']);
      expect(answers[1]).toContain('"method":"POST"');
      const seen = kit.requests.filter((q) => q.url.includes(`key=${key}`));
      expect(seen.map((q) => [q.method, q.body.toString()])).toEqual([
        ['GET', ''],
        ['POST', json],
      ]);
      expect(await eventually(() => app!.openConnections() === 0, 3000)).toBe(true);
      expect(watch.warnings.map(String)).toEqual([]);
    });

    it('answers fifteen pipelined requests in order, without a warning', async () => {
      const g = await begin();
      const key = `pipelined-many-${slug}`;
      const c = raw(g.port);
      const paths = Array.from({ length: 15 }, (_, i) => `/echo?key=${key}-${i}`);
      c.socket.write(
        `GET /slow-head?ms=200&key=${key} HTTP/1.1\r\nHost: x\r\n\r\n` +
          paths.map((p, i) => `GET ${p} HTTP/1.1\r\nHost: x\r\n${i === paths.length - 1 ? 'Connection: close\r\n' : ''}\r\n`).join(''),
      );
      await Promise.race([c.closed, delay(5000)]);
      const answers = c.received().split(/(?=HTTP\/1\.1 )/);
      expect(answers).toHaveLength(16);
      expect(answers.slice(1).map((a) => /"url":"([^"]+)"/.exec(a)?.[1])).toEqual(paths);
      await g.check();
    });

    it('sends nothing of a pipelined request whose client leaves while it waits', async () => {
      const g = await begin();
      const key = `pipelined-gone-${slug}`;
      const c = raw(g.port);
      c.socket.write(`GET /slow-head?ms=300&key=${key} HTTP/1.1\r\nHost: x\r\n\r\n` + `POST /echo?key=${key}-2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi`);
      expect(await eventually(() => kit.attempts(`/slow-head?key=${key}`) === 1)).toBe(true);
      c.socket.destroy();
      await delay(600);
      expect(kit.attempts(`/echo?key=${key}-2`)).toBe(0);
      await g.check();
    });

    it('sends the upstream no more than the declared bytes when garbage follows the body', async () => {
      const g = await begin();
      const key = `garbage-${slug}`;
      const c = raw(g.port);
      c.socket.write(`PUT /echo?key=${key} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n0123456789 NOT HTTP \x00\r\n\r\n`);
      await Promise.race([c.closed, delay(3000)]);
      // Node's parser rejects the garbage and closes the connection (a 400 when no answer began);
      // the upstream got the declared bytes at most, never the rest.
      for (const q of kit.requests.filter((r) => r.url.includes(`key=${key}`))) expect(q.body.toString()).toBe('0123456789');
      expect(c.received()).not.toMatch(/Proxy-Status:/i);
      c.socket.destroy();
      await g.check();
    });

    for (const method of ['PUT', 'POST'] as const) {
      it(`cleans up when a ${method} body is shorter than its Content-Length and the client gives up`, async () => {
        const g = await begin();
        const key = `shorter-${method}-${slug}`;
        const c = raw(g.port);
        c.socket.write(`${method} /echo?key=${key} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n${'s'.repeat(500)}`);
        await delay(200);
        // Half-close: the client can still read whatever the gateway answers.
        c.socket.end();
        await Promise.race([c.closed, delay(3000)]);
        expect(c.socket.destroyed || c.socket.readableEnded).toBe(true);
        const answer = c.received();
        // Whatever the answer (none, a 400, a 502), it is never a gateway error blamed on the upstream.
        expect(answer).not.toMatch(/Proxy-Status:/i);
        c.socket.destroy();
        await g.check();
      });
    }

    it('keeps serving others while a slow-loris body trickles in, and forwards it whole', async () => {
      const g = await begin();
      const key = `loris-${slug}`;
      const c = raw(g.port);
      const body = 'abcdefghijklmnopqrst';
      c.socket.write(`PUT /echo?key=${key} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
      for (let i = 0; i < body.length; i++) {
        c.socket.write(body[i]!);
        // Meanwhile the gateway answers everyone else at once.
        if (i % 5 === 0) expect((await send(`${g.url}/ok`, { timeout: 2000 })).status).toBe(200);
        await delay(40);
      }
      await c.closed;
      expect(c.received()).toMatch(/^HTTP\/1\.1 200 /);
      expect(c.received()).toContain(`"body":"${body}"`);
      await g.check();
    });

    it('lets go of a slow-loris body whose client stops sending and leaves', async () => {
      const g = await begin();
      for (const method of ['PUT', 'POST']) {
        const c = raw(g.port);
        c.socket.write(`${method} /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nabc`);
        await delay(300);
        c.socket.destroy();
        await c.closed;
      }
      await g.check();
    });

    it('gives back every concurrency slot, whenever clients leave', async () => {
      const limited: unknown[] = [];
      const g = await begin({
        maxConcurrent: 2,
        retry: { retries: 3, maxDelay: 2000 },
        circuit: false,
        onGiveUp: (e: { reason: string }) => {
          if (e.reason === 'concurrency_limit') limited.push(e);
        },
      });
      // Leave at every stage, one request at a time (so the limit itself is never hit)...
      const stages: Array<() => Promise<void>> = [
        async () => {
          const req = open(`${g.url}/slow-head?ms=2000`, 'GET');
          req.end();
          await delay(50);
          req.destroy();
        },
        async () => {
          const req = open(`${g.url}/flaky/9?retry-after=1&key=slots-${slug}`, 'GET');
          req.end();
          await delay(150); // in the Retry-After wait
          req.destroy();
        },
        async () => {
          const req = open(`${g.url}/echo`, 'PUT', { 'content-length': String(64 * 1024) });
          req.write(Buffer.alloc(1024));
          await delay(50); // while the body is being buffered
          req.destroy();
        },
        async () => {
          const req = open(`${g.url}/slow-body?ms=50&chunks=100`, 'GET');
          req.end();
          const res = await head(req);
          await new Promise((resolve) => res.once('data', resolve));
          req.destroy();
        },
      ];
      for (let round = 0; round < 3; round++) for (const stage of stages) await stage();
      await delay(200);
      // ...then the two slots are free: two slow requests at once both get through.
      const both = await Promise.all([send(`${g.url}/slow-head?ms=200`), send(`${g.url}/slow-head?ms=200`)]);
      expect(both.map((r) => r.status)).toEqual([200, 200]);
      expect(limited).toEqual([]);
      // ...and no slot was given back twice: a third at once is still refused.
      const three = await Promise.all([1, 2, 3].map(() => send(`${g.url}/slow-head?ms=200`)));
      expect(three.map((r) => r.status).sort()).toEqual([200, 200, 503]);
      expect(three.find((r) => r.status === 503)!.headers['proxy-status']).toBe('gateway-errors; error=connection_limit_reached');
      await g.check();
    });

    it('warns about nothing after many retries of one request and many requests on one connection', async () => {
      const g = await begin({ retry: { retries: 20, baseDelay: 1, maxDelay: 1 }, budget: false, circuit: false });
      const key = `many-${slug}`;
      const r = await send(`${g.url}/flaky/20?mode=reset&key=${key}`);
      expect(r.status).toBe(200);
      expect(kit.attempts(`/flaky/20?key=${key}`)).toBe(21);
      // 40 requests over one keep-alive client connection, half of them failing and retried.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let i = 0; i < 40; i++) {
          const path = i % 2 === 0 ? '/ok' : `/flaky/1?mode=reset&key=${key}-${i}`;
          const status = await new Promise<number>((resolve, reject) => {
            http
              .get(`${g.url}${path}`, { agent }, (res) => {
                res.resume();
                res.on('end', () => resolve(res.statusCode ?? 0));
              })
              .on('error', reject);
          });
          expect(status).toBe(200);
        }
      } finally {
        agent.destroy();
      }
      await g.check();
    });
  });
}
