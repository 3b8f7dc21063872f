/**
 * Every example runs as a user would run it (`node examples/<name>/server.js`, importing the
 * built package by name) in front of a real fault-kit upstream: started, requested, checked, stopped.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, startFaultKit, type FaultKit } from '../support/fault-kit.js';
import { send } from '../support/client.js';
import { start, type Running } from './run.js';

const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const JSON_ACCEPT = { accept: 'application/json' };

let kit: FaultKit;
let key = 0;
const k = () => `ex${++key}`;
/** Every process started, stopped after each describe block (and at the end, whatever happened). */
const processes: Running[] = [];

beforeAll(async () => {
  kit = await startFaultKit();
});
afterAll(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop()));
  await kit.close();
});

async function run(file: string, env: Record<string, string>): Promise<string> {
  const p = await start(file, env);
  processes.push(p);
  return p.url;
}

/** One process per block: started before its tests, stopped after them. */
function example(file: string, env: () => Record<string, string>): () => string {
  let url = '';
  let p: Running | undefined;
  beforeAll(async () => {
    p = await start(file, env());
    url = p.url;
  });
  afterAll(async () => {
    await p?.stop();
  });
  return () => url;
}

describe.each([
  ['express-basic', 'examples/express-basic/server.js'],
  ['koa-basic', 'examples/koa-basic/server.js'],
])('%s', (_name, file) => {
  const app = example(file, () => ({ UPSTREAM: kit.url }));

  it('proxies /api to the upstream', async () => {
    const url = app();
    const r = await send(`${url}/api/ok?size=10`);
    expect(r.status).toBe(200);
    expect(r.body).toBe('x'.repeat(10));
  });

  it('recovers a flaky upstream with a retry', async () => {
    const url = app();
    const key = k();
    const r = await send(`${url}/api/flaky/1?mode=reset&key=${key}`);
    expect(r.status).toBe(200);
    expect(r.body).toBe('recovered');
    expect(kit.attempts(`/flaky/1?key=${key}`)).toBe(2);
  });

  it('answers an upstream 503 with the branded page, keeping its Retry-After', async () => {
    const url = app();
    const r = await send(`${url}/api/status/503?retry-after=120`, { headers: HTML });
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('120');
    expect(r.headers['proxy-status']).toBe('gateway-errors; received-status=503');
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.body).toContain('Acme');
  });

  it('answers 502 connection_refused when nothing listens upstream', async () => {
    const url = await run(file, { UPSTREAM: `http://127.0.0.1:${await closedPort()}` });
    const r = await send(`${url}/api/anything`, { headers: JSON_ACCEPT });
    expect(r.status).toBe(502);
    expect(r.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
    expect(JSON.parse(r.body)).toMatchObject({ status: 502, proxyStatus: 'connection_refused' });
  });

  it('leaves routes outside /api to the app', async () => {
    const url = app();
    const r = await send(`${url}/`);
    expect(r.status).toBe(200);
    expect(r.body).toContain('/api/anything');
  });
});

describe('per-route-policies', () => {
  const app = example('examples/per-route-policies/server.js', () => ({ UPSTREAM: kit.url }));

  it('retries search hard: four retries recover three failures', async () => {
    const url = app();
    const key = k();
    const r = await send(`${url}/api/search/flaky/3?mode=reset&key=${key}`);
    expect(r.status).toBe(200);
    expect(kit.attempts(`/flaky/3?key=${key}`)).toBe(4);
  });

  it('waits out a search upstream’s short Retry-After', async () => {
    const url = app();
    const key = k();
    const r = await send(`${url}/api/search/flaky/1?code=503&retry-after=1&key=${key}`);
    expect(r.status).toBe(200);
    expect(kit.attempts(`/flaky/1?key=${key}`)).toBe(2);
  });

  it('never replays a payment, even one with an Idempotency-Key', async () => {
    const url = app();
    const key = k();
    const r = await send(`${url}/api/payments/flaky/1?key=${key}`, {
      method: 'POST',
      headers: { ...JSON_ACCEPT, 'content-type': 'application/json', 'idempotency-key': 'pay-1' },
      body: '{"amount":100}',
    });
    expect(r.status).toBe(503);
    expect(kit.attempts(`/flaky/1?key=${key}`)).toBe(1);
  });

  it('replays a small upload', async () => {
    const url = app();
    const key = k();
    const r = await send(`${url}/api/uploads/flaky/1?mode=reset&key=${key}`, { method: 'PUT', body: Buffer.alloc(1024, 1) });
    expect(r.status).toBe(200);
    expect(kit.attempts(`/flaky/1?key=${key}`)).toBe(2);
  });

  it('sends an upload over the 64 KiB replay limit once, without retrying', async () => {
    const url = app();
    const key = k();
    const r = await send(`${url}/api/uploads/flaky/1?key=${key}`, { method: 'PUT', body: Buffer.alloc(100 * 1024, 1) });
    expect(r.status).toBe(503);
    expect(kit.attempts(`/flaky/1?key=${key}`)).toBe(1);
    const last = kit.requests.at(-1)!;
    expect(last.body.length).toBe(100 * 1024);
  });

  it('picks a policy per request with the function form', async () => {
    const url = app();
    const a = k();
    const b = k();
    const c = k();
    expect((await send(`${url}/api/flaky/1?mode=reset&key=${a}`)).status).toBe(200);
    expect(kit.attempts(`/flaky/1?key=${a}`)).toBe(2);
    expect((await send(`${url}/api/flaky/1?mode=reset&key=${b}`, { headers: { 'x-no-retry': '1' } })).status).toBe(502);
    expect(kit.attempts(`/flaky/1?key=${b}`)).toBe(1);
    expect((await send(`${url}/api/flaky/2?mode=reset&batch=1&key=${c}`)).status).toBe(502);
    expect(kit.attempts(`/flaky/2?key=${c}`)).toBe(2);
  });
});

describe('fetch-in-route', () => {
  const file = 'examples/fetch-in-route/server.js';
  /** The weather service: its answer is switched per test. */
  let weather: http.Server;
  let behaviour: 'ok' | 'busy' | 'hang' | 'teapot' = 'ok';
  let weatherUrl: string;
  const hung = new Set<http.ServerResponse>();

  beforeAll(async () => {
    weather = http.createServer((req, res) => {
      if (behaviour === 'ok') res.writeHead(200, { 'content-type': 'application/json' }).end('{"sky":"clear"}');
      else if (behaviour === 'busy') res.writeHead(503, { 'retry-after': '45' }).end('busy');
      else if (behaviour === 'teapot') res.writeHead(418).end();
      else hung.add(res);
    });
    await new Promise<void>((r) => weather.listen(0, '127.0.0.1', r));
    weatherUrl = `http://127.0.0.1:${(weather.address() as AddressInfo).port}/weather`;
  });
  // Registered after the weather service's beforeAll, so it starts once weatherUrl is known.
  const app = example(file, () => ({ WEATHER_URL: weatherUrl, TIMEOUT_MS: '300' }));
  afterAll(async () => {
    for (const res of hung) res.destroy();
    weather.closeAllConnections();
    await new Promise((r) => weather.close(r));
  });

  it('answers with the upstream’s data when it is healthy', async () => {
    behaviour = 'ok';
    const url = app();
    const r = await send(`${url}/weather`);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ weather: { sky: 'clear' } });
  });

  it('maps a refused fetch to 502 connection_refused', async () => {
    const url = await run(file, { WEATHER_URL: `http://127.0.0.1:${await closedPort()}/weather` });
    const r = await send(`${url}/weather`, { headers: HTML });
    expect(r.status).toBe(502);
    expect(r.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
    expect(r.body).toContain('Acme Weather');
  });

  it('maps an AbortSignal.timeout() to 504 http_response_timeout', async () => {
    behaviour = 'hang';
    const url = app();
    const r = await send(`${url}/weather`, { headers: JSON_ACCEPT });
    expect(r.status).toBe(504);
    expect(r.headers['proxy-status']).toBe('gateway-errors; error=http_response_timeout');
  });

  it('brands the upstream’s 503 passed on by the route, with its Retry-After', async () => {
    behaviour = 'busy';
    const url = app();
    const r = await send(`${url}/weather`, { headers: JSON_ACCEPT });
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('45');
    expect(r.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(JSON.parse(r.body)).toMatchObject({ status: 503, retryAfter: 45 });
  });

  it('passes other upstream statuses on as the route decides', async () => {
    behaviour = 'teapot';
    const url = app();
    const r = await send(`${url}/weather`);
    expect(r.status).toBe(418);
    expect(JSON.parse(r.body)).toEqual({ error: 'weather service answered 418' });
  });

  it('leaves a bug to the app’s own error handler', async () => {
    const url = app();
    const r = await send(`${url}/bug`);
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body)).toEqual({ error: 'internal error' });
  });
});
