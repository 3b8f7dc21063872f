/** The error answer itself: branded page, problem+json, text, headers. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closedPort } from '../../support/fault-kit.js';
import { send } from '../../support/client.js';
import { HTML, JSON_ACCEPT, type ScenarioContext } from './context.js';

export function describeAnswer({ gateway }: ScenarioContext): void {
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
}
