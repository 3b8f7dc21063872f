/**
 * `extraStatuses`: a handler's own 429 and 500 branded on both adapters, against real servers;
 * an upstream's own 429 and 500 relayed as they are.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADAPTERS, type Adapter } from '../support/apps.js';
import { send } from '../support/client.js';
import { useGatewayFixture } from '../support/gateway-fixture.js';

const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const JSON_ACCEPT = { accept: 'application/json' };

function describeExtraStatuses({ name, mount }: Adapter): void {
  describe(`extraStatuses on ${name}`, () => {
    const fx = useGatewayFixture(mount, 'x');
    const app = (errors: Record<string, unknown>) =>
      fx.mount({ errors, proxies: [{ prefix: '/status', options: { target: fx.kit.url, retry: false } }] });

    it("leaves a handler's 429 and 500 alone unless listed", async () => {
      const url = await app({});
      const r429 = await send(`${url}/own-429`, { headers: HTML });
      expect([r429.status, r429.body, r429.headers['retry-after']]).toEqual([429, '{"mine":429}', '12']);
      expect(r429.headers['x-request-id']).toBeUndefined();
      const r500 = await send(`${url}/own-500`, { headers: HTML });
      expect([r500.status, r500.body]).toEqual([500, '{"mine":500}']);
    });

    it("brands a handler's 429 with its Retry-After, negotiated, without Proxy-Status", async () => {
      const url = await app({ extraStatuses: [429, 500] });
      const page = await send(`${url}/own-429`, { headers: HTML });
      expect(page.status).toBe(429);
      expect(page.headers['retry-after']).toBe('12');
      expect(page.headers['proxy-status']).toBeUndefined();
      expect(page.headers['cache-control']).toBe('no-store');
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(page.body).toContain('<h1>Please slow down a little</h1>');
      expect(page.body).toContain('data-countdown="12"');
      expect(page.body).not.toContain('mine');

      const json = await send(`${url}/own-429`, { headers: JSON_ACCEPT });
      expect(json.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      const problem = JSON.parse(json.body);
      expect(problem).toMatchObject({ type: 'about:blank', title: 'Too Many Requests', status: 429, retryAfter: 12 });
      expect(problem).not.toHaveProperty('mayHaveGoneThrough'); // a 429 turned the request away unprocessed

      const text = await send(`${url}/own-429`, { headers: { 'accept-language': 'fr' } });
      expect(text.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(text.body).toMatch(/^429 Trop de requêtes\n/);
      expect(text.body).toContain('Réessayez dans 12 secondes.');
    });

    it("brands a handler's 500, with no Retry-After", async () => {
      const url = await app({ extraStatuses: [500] });
      const r = await send(`${url}/own-500`, { headers: JSON_ACCEPT });
      expect(r.status).toBe(500);
      expect(r.headers['retry-after']).toBeUndefined();
      expect(r.headers['proxy-status']).toBeUndefined();
      expect(JSON.parse(r.body)).toMatchObject({ type: 'about:blank', title: 'Internal Server Error', status: 500 });
      // Only what is listed: a 429 keeps the handler's answer.
      expect((await send(`${url}/own-429`)).body).toBe('{"mine":429}');
    });

    it('brands an error thrown with a listed status, and a bug as 500 when 500 is listed', async () => {
      const url = await app({ extraStatuses: [429, 500] });
      const thrown = await send(`${url}/throw-429`, { headers: JSON_ACCEPT });
      expect([thrown.status, thrown.headers['retry-after']]).toEqual([429, '12']);
      expect(JSON.parse(thrown.body)).toMatchObject({ status: 429, retryAfter: 12 });
      const bug = await send(`${url}/throw-bug`, { headers: JSON_ACCEPT });
      expect(bug.status).toBe(500);
      expect(JSON.parse(bug.body)).toMatchObject({ status: 500, title: 'Internal Server Error' });
      expect(bug.body).not.toContain('a bug');
    });

    it("keeps the handler's own body with keepUpstreamBody, fixing only the headers", async () => {
      const url = await app({ extraStatuses: [429], keepUpstreamBody: true });
      const r = await send(`${url}/own-429`, { headers: HTML });
      expect([r.status, r.body, r.headers['retry-after']]).toEqual([429, '{"mine":429}', '12']);
      expect(r.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.headers['proxy-status']).toBeUndefined();
    });

    it("relays an upstream's own 429 and 500 as they are, also when listed", async () => {
      const url = await app({ extraStatuses: [429, 500] });
      const key = fx.key();
      const r429 = await send(`${url}/status/429?retry-after=5&body=upstream-limit&key=${key}`, { headers: HTML });
      expect([r429.status, r429.body, r429.headers['retry-after']]).toEqual([429, 'upstream-limit', '5']);
      expect(r429.headers['proxy-status']).toBeUndefined();
      const r500 = await send(`${url}/status/500?body=upstream-bug&key=${key}`, { headers: JSON_ACCEPT });
      expect([r500.status, r500.body]).toEqual([500, 'upstream-bug']);
      expect(fx.kit.attempts(`/status/429?key=${key}`)).toBe(1);
      // ...while the gateway statuses keep their rules.
      const r503 = await send(`${url}/status/503?key=${key}`, { headers: JSON_ACCEPT });
      expect([r503.status, r503.headers['proxy-status']]).toEqual([503, 'gateway-errors; received-status=503']);
    });

    it("answers a proxy's failure to write an upstream's 429 head as it answers the same failure for a 200", async () => {
      // An on.proxyRes handler puts a header on the upstream answer that Node refuses to send:
      // the request goes to the framework's error handling before a byte of it went out.
      const url = await fx.mount({
        errors: { extraStatuses: [429, 500] },
        proxies: [{ prefix: '/status', options: { target: fx.kit.url, retry: false, on: { proxyRes: (proxyRes: { headers: Record<string, string> }) => (proxyRes.headers['x-bad name'] = 'v') } } }],
      });
      const ok = await send(`${url}/status/200?key=${fx.key()}`, { headers: JSON_ACCEPT });
      const limited = await send(`${url}/status/429?key=${fx.key()}`, { headers: JSON_ACCEPT });
      expect(ok.status).toBe(500);
      expect([limited.status, limited.headers['content-type'], limited.headers['x-request-id'] !== undefined]).toEqual([ok.status, ok.headers['content-type'], ok.headers['x-request-id'] !== undefined]);
      expect(limited.body).not.toContain('x-bad name');
    });

    it('renders 429.eta from the templates directory', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ge-429-'));
      try {
        writeFileSync(join(dir, '429.eta'), '<p>custom <%= it.status %> in <%= it.retryAfter %> s</p>');
        const url = await app({ extraStatuses: [429, 500], templates: dir });
        expect((await send(`${url}/own-429`, { headers: HTML })).body).toBe('<p>custom 429 in 12 s</p>');
        expect((await send(`${url}/own-500`, { headers: HTML })).body).toContain('<h1>Something broke on our side</h1>');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses a status it cannot brand, at setup', async () => {
      await expect(mount({ errors: { extraStatuses: [404] as never }, proxies: [] })).rejects.toThrow(/`options.extraStatuses` must be an array of statuses from 429, 500/);
    });
  });
}

for (const adapter of ADAPTERS) describeExtraStatuses(adapter);
