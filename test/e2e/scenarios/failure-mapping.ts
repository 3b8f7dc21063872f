/** How each upstream failure maps to a status and a Proxy-Status error. */
import { describe, expect, it } from 'vitest';
import { closedPort } from '../../support/fault-kit.js';
import { send } from '../../support/client.js';
import { HTML, JSON_ACCEPT, type ScenarioContext } from './context.js';

export function describeFailureMapping({ fx, k, gateway }: ScenarioContext): void {
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
}
