/**
 * Whatever a user's on.proxyReq does — write nothing, write once or twice, set, break or drop
 * Content-Length, end early, destroy, throw — the upstream never sees a second request, the wire
 * never carries a byte outside a framed request, and the client always gets an answer. Generated
 * behaviours (fast-check), real Express 5 and Koa 3 apps, a real Node upstream behind a
 * recording tee; and the client-side framing attacks Node's parser refuses before anything
 * goes upstream.
 */
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import express from 'express';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { forEachAdapter, type Adapter, type MountedApp } from '../support/apps.js';
import { eventually, send } from '../support/client.js';
import { startWiredUpstream, type WiredUpstream } from '../support/wire.js';

const require = createRequire(import.meta.url);
const bodyParser = require('koa-bodyparser') as typeof import('koa-bodyparser');

const SMUGGLE = 'GET /internal-admin HTTP/1.1\r\nHost: upstream\r\n\r\n';
const BODY = `note=${encodeURIComponent('hello')}`;

type Step =
  | { kind: 'setLength'; to: 'right' | 'short' | 'long' | 'zero' }
  | { kind: 'dropLength' }
  | { kind: 'write'; what: 'body' | 'smuggle' | 'empty' }
  | { kind: 'end'; what: 'nothing' | 'body' | 'smuggle' }
  | { kind: 'destroy' }
  | { kind: 'throw' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('setLength' as const), to: fc.constantFrom('right' as const, 'short' as const, 'long' as const, 'zero' as const) }),
  fc.constant({ kind: 'dropLength' as const }),
  fc.record({ kind: fc.constant('write' as const), what: fc.constantFrom('body' as const, 'smuggle' as const, 'empty' as const) }),
  fc.record({ kind: fc.constant('end' as const), what: fc.constantFrom('nothing' as const, 'body' as const, 'smuggle' as const) }),
  fc.constant({ kind: 'destroy' as const }),
  fc.constant({ kind: 'throw' as const }),
);

const payload = (what: 'body' | 'smuggle' | 'empty' | 'nothing') => (what === 'body' ? BODY : what === 'smuggle' ? SMUGGLE : '');

/** Play the steps on the upstream request, as a user's handler would, in order. */
function play(steps: readonly Step[], proxyReq: http.ClientRequest): void {
  for (const s of steps) {
    switch (s.kind) {
      case 'setLength': {
        const n = { right: Buffer.byteLength(BODY), short: 2, long: 999, zero: 0 }[s.to];
        proxyReq.setHeader('content-length', n);
        break;
      }
      case 'dropLength':
        proxyReq.removeHeader('content-length');
        break;
      case 'write':
        proxyReq.write(payload(s.what));
        break;
      case 'end':
        if (s.what === 'nothing') proxyReq.end();
        else proxyReq.end(payload(s.what));
        break;
      case 'destroy':
        proxyReq.destroy();
        break;
      case 'throw':
        throw new Error('a handler bug');
    }
  }
}

/** A handler made of steps, run as on.proxyReq; header changes after the head left throw in Node, as they would for the user. */
let current: readonly Step[] = [];
let runs = 0;
const handler = (proxyReq: http.ClientRequest) => play(current, proxyReq);

/** The body parser each framework's users mount after gatewayErrors(). */
const PARSERS: Record<Adapter['kind'], unknown[]> = {
  express: [express.urlencoded({ extended: false })],
  koa: [bodyParser()],
};

/** The row's app: gatewayErrors(), a body parser, one proxy for /api running `handler` as on.proxyReq. */
function build({ kind, mount }: Adapter, target: string, extra: Record<string, unknown>): Promise<MountedApp> {
  const options = { target, on: { proxyReq: handler }, ...extra };
  return mount({ between: PARSERS[kind], proxies: [{ prefix: '/api', options, mountPath: kind === 'express' }] });
}

let upstream: WiredUpstream;
beforeAll(async () => {
  upstream = await startWiredUpstream();
});
afterAll(() => upstream.close());

forEachAdapter('generated on.proxyReq behaviours on $name', (adapter) => {
  it.each([
    ['', {}],
    [' (retries on, Idempotency-Key)', { retry: { retries: 2, baseDelay: 0 } }],
    [' through http-proxy\'s web() (followRedirects)', { followRedirects: true }],
  ] as const)('never send a second request, an unframed byte, or leave the client hanging%s', async (_label, extra) => {
    const app = await build(adapter, upstream.url, extra);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { maxLength: 5 }), fc.constantFrom('POST', 'GET'), async (steps, method) => {
          current = steps;
          upstream.reset();
          const run = String(++runs);
          const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': 'k1', 'x-run': run };
          // The client's answer comes, whatever it is: send() fails the run after 5 s.
          const r = await send(`${app.url}/api/echo`, { method, headers, body: method === 'POST' ? BODY : undefined, timeout: 5000 });
          expect(r.status).toBeGreaterThanOrEqual(200);
          // A request stopped before its body ended leaves its connection closed with that one
          // message cut off, whose bytes the upstream never reads as anything else.
          await eventually(() => upstream.wire().every((c) => c.leftover.length === 0 || c.closed));
          const conns = upstream.wire();
          const seen = JSON.stringify({ run, status: r.status, conns: conns.map((c) => ({ m: c.messages.map((m) => [m.line, m.headers, m.body.toString()]), l: c.leftover.toString(), closed: c.closed })) });
          for (const c of conns) {
            if (c.leftover.length === 0) continue;
            expect(c.closed, seen).toBe(true);
            expect(c.partial?.headers['x-run'], seen).toBeDefined();
          }
          // Every request on the wire is one a client sent (a request of an earlier run may still
          // arrive now, when its client was answered first); nothing else is parsed as a request.
          const messages = conns.flatMap((c) => c.messages);
          for (const m of messages) {
            expect(m.headers['x-run'], seen).toBeDefined();
            expect(/^(GET|POST) \/(api\/)?echo HTTP\/1\.1$/.test(m.line), seen).toBe(true);
          }
          for (const h of upstream.handled) expect(h.headers['x-run'], seen).toBeDefined();
          // This client request went upstream once at most (no retry here: the upstream answers 200).
          const mine = messages.filter((m) => m.headers['x-run'] === run);
          expect(mine.length, seen).toBeLessThanOrEqual(1);
          expect(upstream.handled.filter((h) => h.headers['x-run'] === run).length, seen).toBeLessThanOrEqual(1);
          if (r.status === 200) expect(mine, seen).toHaveLength(1);
        }),
        { numRuns: 40 },
      );
    } finally {
      await app.close();
    }
  });
});

/** Raw bytes to the gateway, the answer's status line back: what Node's parser makes of them. */
function raw(url: string, bytes: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer within 5 s'));
    }, 5000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1').split('\r\n')[0] ?? '');
    });
    socket.on('error', () => undefined);
    socket.end(bytes);
  });
}

const FRAMING_ATTACKS: Record<string, string> = {
  'Content-Length with Transfer-Encoding': `POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLE}`,
  'two different Content-Lengths': `POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd${SMUGGLE}`,
  'Transfer-Encoding: chunked, identity': `POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLE}`,
  'an obs-fold continuation line': `POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nX-A: a\r\n b\r\n\r\nabcd${SMUGGLE}`,
  'a bare LF in the chunk framing': `POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\nabcd\r\n0\r\n\r\n${SMUGGLE}`,
};

forEachAdapter('client-side framing attacks on $name', (adapter) => {
  it.each(Object.entries(FRAMING_ATTACKS))('refuses %s with 400 before anything goes upstream', async (_attack, bytes) => {
    const app = await build(adapter, upstream.url, {});
    current = [];
    try {
      upstream.reset();
      expect(await raw(app.url, bytes)).toBe('HTTP/1.1 400 Bad Request');
      // A late request of the generated runs above (each carries x-run) may still arrive; the
      // attack's bytes carry none, and none of them may reach the upstream.
      const attack = (headers: Record<string, unknown>) => headers['x-run'] === undefined;
      expect(upstream.wire().flatMap((c) => c.messages).filter((m) => attack(m.headers))).toEqual([]);
      expect(upstream.wire().every((c) => c.leftover.length === 0 || c.partial?.headers['x-run'] !== undefined)).toBe(true);
      expect(upstream.handled.filter((h) => attack(h.headers))).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
