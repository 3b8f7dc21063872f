/** http-proxy-middleware options pass through to every attempt. */
import { describe, expect, it } from 'vitest';
import { eventually, send } from '../../support/client.js';
import type { ScenarioContext } from './context.js';

export function describeHpmOptions({ fx, k, gateway }: ScenarioContext): void {
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

    it("calls a plugin's own wrapper of the proxy server's web() for every request, the first and the later ones", async () => {
      const seen: string[] = [];
      type Web = (req: { url: string }, ...rest: unknown[]) => unknown;
      const plugin = (server: { web: Web }) => {
        const web = server.web;
        server.web = function wrapped(this: unknown, req, ...rest) {
          seen.push(req.url);
          return web.call(this, req, ...rest);
        };
      };
      const url = await gateway({ proxy: { plugins: [plugin] } });
      const key = k();
      for (const n of [1, 2, 3]) expect((await send(`${url}/ok?size=${n}&key=${key}`)).body).toBe('x'.repeat(n));
      expect(seen.filter((u) => u.includes(key))).toEqual([1, 2, 3].map((n) => `/ok?size=${n}&key=${key}`));
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
}
