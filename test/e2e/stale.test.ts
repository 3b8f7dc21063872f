/**
 * Stale-if-error (`stale` option) on both adapters, against a real upstream that is then stopped
 * (its port refuses) or made to fail: what was stored answers in its window, nothing personal or
 * forbidden is ever sent stale, HEAD is answered from a stored GET, and past the window the
 * branded error comes.
 */
import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, type StaleEvent } from '../../src/core/observe/events.js';
import type { StaleEntry, StaleStore } from '../../src/core/proxy-options.js';
import { ADAPTERS, type Adapter, type MountedApp } from '../support/apps.js';
import { delay, send } from '../support/client.js';

/** What one upstream path answers. */
interface Route {
  status?: number;
  headers?: Record<string, string | string[]>;
  body?: string;
  /** A body of this many bytes of 'x', written in 16 KiB chunks without Content-Length (chunked). */
  size?: number;
  /** Like `size`, with its Content-Length declared. */
  sized?: number;
  /** Declare 10000 bytes, send 1000, then destroy the socket. */
  die?: boolean;
}

interface Upstream {
  url: string;
  hits(path: string): number;
  /** While set, every request gets this status (an upstream in trouble that still answers). */
  failWith: number | undefined;
  /** While set, requests get no answer at all. */
  hang: boolean;
  /** Stop listening: from now on connections are refused. */
  stop(): Promise<void>;
}

async function startUpstream(routes: Record<string, Route>): Promise<Upstream> {
  const counts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const up: Upstream = {
    url: '',
    failWith: undefined,
    hang: false,
    hits: (path) => counts.get(path) ?? 0,
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    req.resume();
    if (up.hang) return;
    if (up.failWith !== undefined) {
      res.writeHead(up.failWith, { 'content-type': 'text/plain' }).end('upstream trouble');
      return;
    }
    const route = routes[path];
    if (route === undefined) return void res.writeHead(404).end();
    res.statusCode = route.status ?? 200;
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    for (const [k, v] of Object.entries(route.headers ?? {})) res.setHeader(k, v);
    if (route.die) {
      res.setHeader('content-length', '10000');
      res.write('x'.repeat(1000));
      setTimeout(() => res.destroy(), 20);
      return;
    }
    const size = route.size ?? route.sized;
    if (size === undefined) return void res.end(route.body ?? `the page at ${path}`);
    if (route.sized !== undefined) res.setHeader('content-length', String(size));
    let left = size;
    const more = (): void => {
      while (left > 0) {
        const n = Math.min(16 * 1024, left);
        left -= n;
        if (!res.write('x'.repeat(n))) return void res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  up.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return up;
}

const FAST_RETRY = { retries: 1, baseDelay: 1, maxDelay: 1 };

/** Answers kept: the corpus that must come back stale, with what each shows. */
const STORABLE: Record<string, Route> = {
  '/max-age': { headers: { 'cache-control': 'max-age=60' } },
  '/expired': { headers: { 'cache-control': 'max-age=0' } },
  '/public': { headers: { 'cache-control': 'public, max-age=5' }, body: '{"ok":true}' },
  '/sie': { headers: { 'cache-control': 'max-age=0, stale-if-error=600' } },
  '/old': { headers: { 'cache-control': 'max-age=60', age: '3000' } }, // 2940 s stale: inside 3600
  '/json': { headers: { 'cache-control': 'max-age=1', 'content-type': 'application/json', etag: '"v1"' }, body: '{"items":[1,2,3]}' },
  '/varied': { headers: { 'cache-control': 'max-age=1', vary: 'Accept-Language' } },
  '/streamed': { headers: { 'cache-control': 'max-age=1' }, size: 200 * 1024 },
  '/sized': { headers: { 'cache-control': 'max-age=1' }, sized: 300 * 1024 },
  '/not-found': { status: 404, headers: { 'cache-control': 'max-age=30' } },
};

/** Answers never to be sent stale, whatever happens to the upstream. */
const NEVER: Record<string, Route & { request?: Record<string, string> }> = {
  // No caching headers: RFC 9111 would allow a heuristic lifetime, but such an answer may be
  // personal in ways no header says (an API key, a session in the path); nginx keeps nothing either.
  '/plain': {},
  '/api-key': { request: { 'x-api-key': 'alice-secret' } },
  '/private': { headers: { 'cache-control': 'private, max-age=60' } },
  '/no-store': { headers: { 'cache-control': 'no-store' } },
  '/auth': { headers: { 'cache-control': 'max-age=60' }, request: { authorization: 'Bearer alice' } },
  '/cookie-req': { headers: { 'cache-control': 'max-age=60' }, request: { cookie: 'session=alice' } },
  '/set-cookie': { headers: { 'cache-control': 'public, max-age=60', 'set-cookie': 'session=alice; Path=/' } },
  '/vary-star': { headers: { 'cache-control': 'max-age=60', vary: '*' } },
  '/no-cache': { headers: { 'cache-control': 'no-cache' } },
  '/must-revalidate': { headers: { 'cache-control': 'max-age=0, must-revalidate' } },
  '/must-revalidate-sie': { headers: { 'cache-control': 'max-age=0, must-revalidate, stale-if-error=600' } },
  '/proxy-revalidate': { headers: { 'cache-control': 'max-age=0, proxy-revalidate' } },
  '/s-maxage': { headers: { 'cache-control': 's-maxage=0' } },
  '/too-old': { headers: { 'cache-control': 'max-age=60', age: '7200' } }, // 7140 s stale: past 3600
  '/sie-past': { headers: { 'cache-control': 'max-age=0, stale-if-error=100', age: '200' } },
  '/large': { headers: { 'cache-control': 'max-age=60' }, size: 600 * 1024 },
  '/large-sized': { headers: { 'cache-control': 'max-age=60' }, sized: 600 * 1024 },
  '/died': { headers: { 'cache-control': 'max-age=60' }, die: true },
  '/teapot': { status: 418, headers: { 'cache-control': 'max-age=60' } }, // a status RFC 9111 caches do not understand
};

const ENTRY_LIMIT = 512 * 1024;

function describeStale({ name, mount }: Adapter): void {
  describe(`stale-if-error on ${name}`, () => {
    const open: Array<MountedApp | Upstream> = [];
    afterEach(async () => {
      for (const o of open.splice(0)) await ('close' in o ? o.close() : o.stop().catch(() => undefined));
    });

    async function setup(routes: Record<string, Route>, proxy: Record<string, unknown> = {}, errors: Record<string, unknown> = {}) {
      const up = await startUpstream(routes);
      open.push(up);
      const app = await mount({
        errors,
        proxies: [{ prefix: '/', options: { target: up.url, retry: FAST_RETRY, circuit: false, budget: false, stale: { maxEntryBytes: ENTRY_LIMIT }, ...proxy } }],
      });
      open.push(app);
      return { up, url: app.url };
    }

    it('answers every stored GET with its copy, Age and Cache-Status once the upstream refuses', async () => {
      const { up, url } = await setup(STORABLE);
      const live = new Map<string, Buffer>();
      for (const path of Object.keys(STORABLE)) {
        const a = await send(`${url}${path}`, { headers: { 'accept-language': 'de' } });
        expect(a.status, path).toBe(STORABLE[path]!.status ?? 200);
        live.set(path, a.bytes);
      }
      await up.stop();
      for (const path of Object.keys(STORABLE)) {
        const a = await send(`${url}${path}`, { headers: { 'accept-language': 'de' } });
        expect(a.status, path).toBe(STORABLE[path]!.status ?? 200);
        expect(a.complete, path).toBe(true);
        expect(a.bytes.equals(live.get(path)!), path).toBe(true);
        expect(a.headers['content-length'], path).toBe(String(live.get(path)!.length));
        expect(Number(a.headers.age), path).toBeGreaterThanOrEqual(0);
        expect(a.headers['cache-status'], path).toMatch(/^gateway-errors; fwd=(stale|bypass); fwd-status=502; ttl=-?\d+; detail=retries_exhausted$/);
        expect(a.headers['proxy-status'], path).toBe('gateway-errors; error=connection_refused');
      }
      const json = await send(`${url}/json`);
      expect(json.headers['content-type']).toBe('application/json');
      expect(json.headers.etag).toBe('"v1"');
      expect(json.body).toBe('{"items":[1,2,3]}');
      // The upstream's own Age counts (RFC 9111 section 4.2.3): 3000 s when stored.
      expect(Number((await send(`${url}/old`)).headers.age)).toBeGreaterThanOrEqual(3000);
      // A copy already stale says so with a negative ttl.
      expect((await send(`${url}/expired`)).headers['cache-status']).toMatch(/fwd=stale; fwd-status=502; ttl=(-\d+|0);/);
    });

    it('never sends stale what is private, personal, forbidden, too large or incomplete', async () => {
      const { up, url } = await setup(NEVER);
      for (const [path, route] of Object.entries(NEVER)) {
        const a = await send(`${url}${path}`, { headers: route.request ?? {} });
        expect(a.status, path).toBe(route.status ?? 200);
        if (route.size !== undefined || route.sized !== undefined) {
          // Past the entry limit the client still gets every byte: the copy is let go, not the stream.
          expect(a.bytes.length, path).toBe(route.size ?? route.sized);
          expect(a.complete, path).toBe(true);
        }
        if (route.die) expect(a.complete, path).toBe(false);
      }
      await up.stop();
      for (const [path, route] of Object.entries(NEVER)) {
        // Asked again as the same client, and as another one: the branded error both times.
        for (const headers of [route.request ?? {}, {}]) {
          const a = await send(`${url}${path}`, { headers });
          expect(a.status, path).toBe(502);
          expect(a.headers['proxy-status'], path).toBe('gateway-errors; error=connection_refused');
          expect(a.headers['cache-status'], path).toBeUndefined();
          expect(a.headers['cache-control'], path).toBe('no-store');
        }
      }
    });

    it('matches Vary: another language gets the error, not the stored variant', async () => {
      const { up, url } = await setup({ '/varied': { headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' } } });
      expect((await send(`${url}/varied`, { headers: { 'accept-language': 'de' } })).status).toBe(200);
      await up.stop();
      expect((await send(`${url}/varied`, { headers: { 'accept-language': 'fr' } })).status).toBe(502);
      expect((await send(`${url}/varied`)).status).toBe(502);
      expect((await send(`${url}/varied`, { headers: { 'accept-language': 'de' } })).status).toBe(200);
    });

    it('answers a HEAD from a stored GET: the head, no body', async () => {
      const { up, url } = await setup({ '/page': { headers: { 'cache-control': 'max-age=60' }, body: 'hello there' } });
      await send(`${url}/page`);
      await up.stop();
      const a = await send(`${url}/page`, { method: 'HEAD' });
      expect(a.status).toBe(200);
      expect(a.bytes.length).toBe(0);
      expect(a.headers['content-length']).toBe('11');
      expect(a.headers['cache-status']).toMatch(/^gateway-errors; fwd=bypass; fwd-status=502; ttl=\d+; detail=retries_exhausted$/);
    });

    it('does not store a HEAD answer, nor answer a GET from one', async () => {
      const { up, url } = await setup({ '/page': { headers: { 'cache-control': 'max-age=60' } } });
      await send(`${url}/page`, { method: 'HEAD' });
      await up.stop();
      expect((await send(`${url}/page`)).status).toBe(502);
    });

    it('sends the branded error once the window has passed (the upstream stale-if-error)', async () => {
      const { up, url } = await setup({ '/brief': { headers: { 'cache-control': 'max-age=0, stale-if-error=1' } } });
      await send(`${url}/brief`);
      await up.stop();
      expect((await send(`${url}/brief`)).status).toBe(200);
      await delay(1100);
      const a = await send(`${url}/brief`);
      expect(a.status).toBe(502);
      expect(a.headers['cache-status']).toBeUndefined();
    });

    it('sends the branded error once `maxStale` has passed when the upstream gave no stale-if-error', async () => {
      const { up, url } = await setup({ '/page': { headers: { 'cache-control': 'max-age=0' } } }, { stale: { maxStale: 1 } });
      await send(`${url}/page`);
      await up.stop();
      expect((await send(`${url}/page`)).status).toBe(200);
      await delay(1100);
      expect((await send(`${url}/page`)).status).toBe(502);
    });

    it('sends the copy only after the retries were spent', async () => {
      const { up, url } = await setup({ '/page': { headers: { 'cache-control': 'max-age=60' } } }, { retry: { retries: 2, baseDelay: 1, maxDelay: 1 } });
      await send(`${url}/page`);
      up.failWith = 503;
      const a = await send(`${url}/page`);
      expect(up.hits('/page')).toBe(4);
      expect(a.status).toBe(200);
      expect(a.body).toBe('the page at /page');
      expect(a.headers['cache-status']).toMatch(/fwd-status=503; ttl=\d+; detail=retries_exhausted$/);
      expect(a.headers['proxy-status']).toBe('gateway-errors; received-status=503');
      expect(a.headers['retry-after']).toBeUndefined();
    });

    it('prefers the copy to the upstream error body under keepUpstreamBody', async () => {
      const { up, url } = await setup({ '/page': { headers: { 'cache-control': 'max-age=60' } } }, {}, { keepUpstreamBody: true });
      await send(`${url}/page`);
      up.failWith = 503;
      const a = await send(`${url}/page`);
      expect(a.status).toBe(200);
      expect(a.body).toBe('the page at /page');
      up.failWith = undefined;
      up.failWith = 504;
      // Nothing stored for this one: the upstream's own body, as keepUpstreamBody promises.
      const b = await send(`${url}/nothing-stored`);
      expect(b.status).toBe(504);
      expect(b.body).toBe('upstream trouble');
    });

    it('answers a request the open circuit refused as a hit: it never went forward', async () => {
      const { up, url } = await setup({ '/page': { headers: { 'cache-control': 'max-age=60' } } }, { retry: false, circuit: { consecutiveFailures: 1, halfOpenAfter: 60_000 } });
      await send(`${url}/page`);
      await up.stop();
      const first = await send(`${url}/page`);
      expect(first.headers['cache-status']).toMatch(/fwd=bypass; fwd-status=502; ttl=\d+; detail=retries_exhausted$/);
      const second = await send(`${url}/page`);
      expect(second.status).toBe(200);
      expect(second.headers['cache-status']).toMatch(/^gateway-errors; hit; ttl=\d+; detail=circuit_open$/);
      expect(second.headers['proxy-status']).toBe('gateway-errors; error=destination_unavailable');
    });

    it('reports a copy sent through onStale and its channel, not as a give-up', async () => {
      const staleEvents: StaleEvent[] = [];
      const channel: unknown[] = [];
      const giveUps: unknown[] = [];
      const onChannel = (m: unknown) => channel.push(m);
      diagnostics.subscribe(CHANNELS.stale, onChannel);
      try {
        const { up, url } = await setup(
          { '/page': { headers: { 'cache-control': 'max-age=60' } } },
          { onStale: (e: StaleEvent) => staleEvents.push(e), onGiveUp: (e: unknown) => giveUps.push(e) },
        );
        await send(`${url}/page?q=1`);
        await up.stop();
        expect((await send(`${url}/page?q=1`)).status).toBe(200);
        expect((await send(`${url}/elsewhere`)).status).toBe(502);
        expect(staleEvents).toHaveLength(1);
        expect(staleEvents[0]).toMatchObject({ method: 'GET', path: '/page', status: 200, attempts: 2, reason: 'retries_exhausted', failure: { status: 502, error: 'connection_refused' } });
        expect(staleEvents[0]!.age).toBeGreaterThanOrEqual(0);
        expect(channel).toHaveLength(1);
        expect(giveUps).toHaveLength(1); // the /elsewhere error only
      } finally {
        diagnostics.unsubscribe(CHANNELS.stale, onChannel);
      }
    });

    it('keeps the name of gatewayErrors() in Cache-Status', async () => {
      const { up, url } = await setup({ '/page': { headers: { 'cache-control': 'max-age=60' } } }, {}, { proxyName: 'edge-7' });
      await send(`${url}/page`);
      await up.stop();
      const a = await send(`${url}/page`);
      expect(a.headers['cache-status']).toMatch(/^edge-7; fwd=bypass;/);
      expect(a.headers['proxy-status']).toBe('edge-7; error=connection_refused');
    });

    it('forgets a copy when the URL is changed by an unsafe method, or its origin turns to no-store', async () => {
      const routes: Record<string, Route> = {
        '/doc': { headers: { 'cache-control': 'max-age=60' } },
        '/turns': { headers: { 'cache-control': 'max-age=60' } },
      };
      const { up, url } = await setup(routes);
      await send(`${url}/doc`);
      await send(`${url}/turns`);
      expect((await send(`${url}/doc`, { method: 'PUT', body: 'new' })).status).toBe(200);
      routes['/turns'] = { headers: { 'cache-control': 'no-store' } };
      await send(`${url}/turns`);
      await up.stop();
      expect((await send(`${url}/doc`)).status).toBe(502);
      expect((await send(`${url}/turns`)).status).toBe(502);
    });

    it('uses a store of your own, async', async () => {
      const map = new Map<string, StaleEntry>();
      const calls: string[] = [];
      const store: StaleStore = {
        get: async (k) => (calls.push('get'), map.get(k)),
        set: async (k, e, ttl) => {
          calls.push('set');
          expect(ttl).toBeGreaterThan(0);
          // As a shared store would keep it: the policy through JSON, the body as bytes.
          map.set(k, { ...e, policy: JSON.parse(JSON.stringify(e.policy)), body: Buffer.from(e.body) });
        },
        delete: async (k) => void map.delete(k),
      };
      const { up, url } = await setup({ '/page': { headers: { 'cache-control': 'max-age=60' } } }, { stale: { store } });
      await send(`${url}/page`);
      await up.stop();
      const a = await send(`${url}/page`);
      expect(a.status).toBe(200);
      expect(a.body).toBe('the page at /page');
      expect(calls).toEqual(['set', 'get']);
    });

    it('does not answer with a copy for a client that left', async () => {
      const events: unknown[] = [];
      const { up, url } = await setup(
        { '/page': { headers: { 'cache-control': 'max-age=60' } } },
        { responseTimeout: 300, onStale: (e: unknown) => events.push(e), onGiveUp: (e: unknown) => events.push(e) },
      );
      await send(`${url}/page`);
      up.hang = true;
      // The client gives up while the gateway still waits for the upstream's answer.
      await expect(send(`${url}/page`, { timeout: 50 })).rejects.toThrow();
      await delay(500);
      expect(events).toHaveLength(0);
      expect(up.hits('/page')).toBe(2);
    });
  });
}

for (const adapter of ADAPTERS) describeStale(adapter);
