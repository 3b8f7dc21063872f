/**
 * One owner of the request body (SECURITY.md, "Request smuggling"). Whatever a user's
 * `on.proxyReq` does with a body that a parser already read — http-proxy-middleware's
 * `fixRequestBody`, a wrapper around it, a hand-written write, an end(), a changed body — the
 * upstream receives each attempt exactly once with one body framed by its own length, and
 * nothing else: checked on the raw bytes of every gateway-to-upstream connection and at a real
 * Node upstream, two or more requests per pooled connection, on Express 5 and Koa 3.
 */
import http from 'node:http';
import { stringify as stringifyQuery } from 'node:querystring';
import { createRequire } from 'node:module';
import express from 'express';
import { fixRequestBody } from 'http-proxy-middleware';
import type Koa from 'koa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADAPTERS, adapterNamed, forEachAdapter, type Adapter, type MountedApp } from '../support/apps.js';
import { send } from '../support/client.js';
import { startWiredUpstream, type WiredUpstream } from '../support/wire.js';

const require = createRequire(import.meta.url);
const bodyParser = require('koa-bodyparser') as typeof import('koa-bodyparser');

type ProxyReqHandler = (proxyReq: http.ClientRequest, req: http.IncomingMessage & { body?: unknown }) => void;

/** What a user's handler would write for a parsed body: the same serialisations fixRequestBody uses. */
function serialise(req: http.IncomingMessage & { body?: unknown }): string | undefined {
  const body = req.body;
  if (body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0)) return undefined;
  const ct = String(req.headers['content-type'] ?? '');
  if (ct.includes('json')) return JSON.stringify(body);
  if (ct.includes('x-www-form-urlencoded')) return stringifyQuery(body as Record<string, string>);
  if (typeof body === 'string') return body;
  return undefined;
}

/** The forms of on.proxyReq users write, and the body each should make the upstream see. */
const FORMS: Record<string, { handler: ProxyReqHandler; changes?: (sent: string) => string }> = {
  'fixRequestBody itself': { handler: fixRequestBody as ProxyReqHandler },
  'a wrapper around fixRequestBody': {
    handler: (proxyReq, req) => {
      proxyReq.setHeader('x-user', 'u1');
      fixRequestBody(proxyReq, req);
    },
  },
  'a hand-written write with its Content-Length': {
    handler: (proxyReq, req) => {
      const b = serialise(req);
      if (b === undefined) return;
      proxyReq.setHeader('content-length', Buffer.byteLength(b));
      proxyReq.write(b);
    },
  },
  'an end() with the body': {
    handler: (proxyReq, req) => {
      const b = serialise(req);
      if (b === undefined) return;
      proxyReq.setHeader('content-length', Buffer.byteLength(b));
      proxyReq.end(b);
    },
  },
  'a changed body (a field added, re-signed)': {
    handler: (proxyReq, req) => {
      const ct = String(req.headers['content-type'] ?? '');
      if (!ct.includes('json') || req.body === undefined) return;
      const b = JSON.stringify({ ...(req.body as object), signed: 'sig-1' });
      proxyReq.setHeader('content-length', Buffer.byteLength(b));
      proxyReq.setHeader('x-signature', 'sig-1');
      proxyReq.write(b);
    },
    changes: (sent) => {
      try {
        return JSON.stringify({ ...JSON.parse(sent), signed: 'sig-1' });
      } catch {
        return sent;
      }
    },
  },
  'a handler that only sets a header': {
    handler: (proxyReq) => {
      proxyReq.setHeader('x-user', 'u1');
    },
  },
};

const SMUGGLE = 'GET /internal-admin HTTP/1.1\r\nHost: upstream\r\n\r\n';
const BOUNDARY = 'XyZ123';
const MULTIPART = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\n${SMUGGLE}\r\n--${BOUNDARY}--\r\n`;
const BODIES: Record<string, { type: string; body: string; jsonish?: boolean }> = {
  text: { type: 'text/plain', body: SMUGGLE },
  json: { type: 'application/json', body: JSON.stringify({ a: 1, note: SMUGGLE }), jsonish: true },
  urlencoded: { type: 'application/x-www-form-urlencoded', body: stringifyQuery({ a: '1', note: SMUGGLE }) },
  multipart: { type: `multipart/form-data; boundary=${BOUNDARY}`, body: MULTIPART },
};

/** The body parsers each framework's users mount after gatewayErrors(). */
const PARSERS: Record<Adapter['kind'], unknown[]> = {
  express: [express.json(), express.text(), express.urlencoded({ extended: false })],
  koa: [
    bodyParser({ enableTypes: ['json', 'form', 'text'] }),
    // What Koa users do so that http-proxy-middleware's fixRequestBody finds the parsed body.
    (async (ctx, next) => {
      (ctx.req as { body?: unknown }).body = (ctx.request as { body?: unknown }).body;
      await next();
    }) satisfies Koa.Middleware,
  ],
};

/**
 * The row's app: gatewayErrors(), the framework's body parsers, one proxy for /api (on Express
 * mounted at /api, as its users do; on Koa a pathFilter).
 */
function build({ kind, mount }: Adapter, target: string, proxyReq: ProxyReqHandler, retry: boolean, extra?: Record<string, unknown>): Promise<MountedApp> {
  const options = { target, on: { proxyReq }, retry: retry ? { retries: 1, baseDelay: 0 } : false, ...extra };
  return mount({ between: PARSERS[kind], proxies: [{ prefix: '/api', options, mountPath: kind === 'express' }] });
}

/** Fail the first attempt of each request id with 503 when asked to, then answer 200. */
const attemptsById = new Map<string, number>();
let upstream: WiredUpstream;
beforeAll(async () => {
  upstream = await startWiredUpstream((req, _body, res) => {
    const id = String(req.headers['x-test-id'] ?? '');
    const n = (attemptsById.get(id) ?? 0) + 1;
    attemptsById.set(id, n);
    if (req.url?.includes('fail-first') && n === 1) {
      res.statusCode = 503;
      res.end('busy');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
});
afterAll(() => upstream.close());
beforeEach(() => upstream.reset());

/** Every message on the wire, checked clean: no bytes after the last complete request. */
function wireMessages() {
  const conns = upstream.wire();
  for (const c of conns) expect(c.leftover.toString('latin1'), 'bytes on the wire outside any framed request').toBe('');
  return { conns, messages: conns.flatMap((c) => c.messages) };
}

forEachAdapter('one owner of the request body on $name', (adapter) => {
  const _name = adapter.name;
  describe.each(Object.entries(FORMS))('with on.proxyReq as %s', (_form, { handler, changes }) => {
    it.each([
      ['', false, undefined],
      ['', true, undefined],
      [', through http-proxy\'s web() (followRedirects)', false, { followRedirects: true }],
      [', through http-proxy\'s web() (followRedirects)', true, { followRedirects: true }],
    ] as const)('sends each attempt once with its body once%s (retry after a 503: %s)', async (_path, retry, extra) => {
      const app = await build(adapter, upstream.url, handler, retry, extra);
      try {
        const sent: { id: string; body: string; attempts: number }[] = [];
        // Two rounds over every body kind: the gateway's pooled connection carries several requests.
        for (const round of [1, 2]) {
          for (const [kind, { type, body }] of Object.entries(BODIES)) {
            const id = `${_name}-${_form}-${retry}-${kind}-${round}-${Math.random()}`;
            const path = retry ? '/api/fail-first' : '/api/echo';
            const headers: Record<string, string> = { 'content-type': type, 'x-test-id': id };
            if (retry) headers['idempotency-key'] = id;
            const r = await send(`${app.url}${path}`, { method: 'POST', headers, body });
            expect(r.status, `${kind}: ${r.body}`).toBe(200);
            const expected = kind === 'multipart' || changes === undefined ? body : changes(body);
            sent.push({ id, body: expected, attempts: retry ? 2 : 1 });
          }
        }
        const { conns, messages } = wireMessages();
        // Nothing arrived but the client requests' attempts: no smuggled GET /internal-admin.
        expect(messages.map((m) => m.line.split(' ')[0])).toEqual(messages.map(() => 'POST'));
        expect(upstream.handled.filter((h) => h.method !== 'POST' || !/^(\/api)?\/(echo|fail-first)$/.test(h.url)).map((h) => `${h.method} ${h.url}`)).toEqual([]);
        expect(messages).toHaveLength(sent.reduce((n, s) => n + s.attempts, 0));
        expect(upstream.handled).toHaveLength(messages.length);
        for (const s of sent) {
          const arrived = messages.filter((m) => m.headers['x-test-id'] === s.id);
          expect(arrived, s.id).toHaveLength(s.attempts);
          for (const m of arrived) {
            expect(m.body.toString('utf8'), s.id).toBe(s.body);
            expect(Number(m.headers['content-length'] ?? m.body.length)).toBe(m.body.length);
          }
        }
        // Pooled: at least one upstream connection carried two requests or more.
        expect(Math.max(...conns.map((c) => c.messages.length))).toBeGreaterThan(1);
      } finally {
        await app.close();
      }
    });
  });
});

describe('a multipart field that fixRequestBody refuses (CR or LF: header injection)', () => {
  /** What a multipart parser (multer, formidable) leaves: the stream read, the fields on req.body. */
  const parsedMultipart = { a: 'x\r\nContent-Type: text/html' };
  const wrapped: ProxyReqHandler = (proxyReq, req) => {
    proxyReq.setHeader('x-user', 'u1');
    fixRequestBody(proxyReq, req);
  };
  const body = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--${BOUNDARY}--\r\n`;
  const headers = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };

  /** What a multipart parser leaves, as each framework mounts it. */
  const multipart: Record<Adapter['kind'], unknown> = {
    express: ((req, _res, next) => {
      req.resume();
      req.once('end', () => {
        (req as { body?: unknown }).body = parsedMultipart;
        next();
      });
    }) satisfies express.RequestHandler,
    koa: (async (ctx, next) => {
      ctx.req.resume();
      await new Promise((r) => ctx.req.once('end', r));
      (ctx.req as { body?: unknown }).body = parsedMultipart;
      await next();
    }) satisfies Koa.Middleware,
  };

  it.each(ADAPTERS)('is the client\'s 400 on $name, through the framework\'s error handling, and nothing goes upstream', async ({ kind, mount }) => {
    const a = await mount({ between: [multipart[kind]], proxies: [{ prefix: '/api', options: { target: upstream.url, on: { proxyReq: wrapped } }, mountPath: kind === 'express' }] });
    try {
      const r = await send(`${a.url}/api/upload`, { method: 'POST', headers, body });
      expect(r.status).toBe(400);
      expect(r.body).toContain('invalid multipart field');
      expect(upstream.handled).toEqual([]);
    } finally {
      await a.close();
    }
  });
});

describe('handlers that do other things to the upstream request', () => {
  it('sends the body once when on.proxyReq only flushes the head', async () => {
    const app = await build(adapterNamed('Express 5'), upstream.url, (proxyReq) => proxyReq.flushHeaders(), false);
    try {
      upstream.reset();
      const r = await send(`${app.url}/api/echo`, { method: 'POST', headers: { 'content-type': 'text/plain', 'x-test-id': 'flush' }, body: 'abc' });
      expect(r.status).toBe(200);
      const messages = wireMessages().messages;
      expect(messages.map((m) => m.body.toString())).toEqual(['abc']);
    } finally {
      await app.close();
    }
  });

  it.each(ADAPTERS)('answers 500 and keeps the process when on.proxyRes throws, on $name', async (adapter) => {
    const app = await build(adapter, upstream.url, () => undefined, false, { on: { proxyRes: () => { throw new Error('a bug in proxyRes'); } } });
    try {
      const r = await send(`${app.url}/api/echo`);
      expect(r.status).toBe(500);
      expect(r.body).toContain('on.proxyRes handler failed');
      expect((await send(`${app.url}/api/echo`)).status).toBe(500); // still serving
    } finally {
      await app.close();
    }
  });
});
