/**
 * The request-end and attempt-end events (README, "Hooks, diagnostics channels and logging"):
 * every way a request can end, with the status the client really got, on both adapters; and the
 * target gauge of a group of `targets` on a prom-client registry.
 */
import http from 'node:http';
import { Registry } from 'prom-client';
import { afterEach, expect, it } from 'vitest';
import type { AttemptEndEvent, RequestEndEvent } from '../../src/core/observe/events.js';
import { prometheusMetrics } from '../../src/prometheus.js';
import { forEachAdapter, type Mount, type MountedApp } from '../support/apps.js';
import { eventually, send } from '../support/client.js';
import { startTarget, type TargetServer } from '../support/target.js';

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function target(): Promise<TargetServer> {
  const t = await startTarget('t');
  cleanup.push(() => t.close());
  return t;
}

/** An upstream answering every request with `status` (and a short body). */
async function fixed(status: number): Promise<string> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': '12' });
    res.end('{"own":true}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  server.on('connection', (s) => cleanup.push(() => void s.destroy()));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

interface Seen {
  ends: RequestEndEvent[];
  attempts: AttemptEndEvent[];
  hooks: { onRequestEnd(e: RequestEndEvent): void; onAttemptEnd(e: AttemptEndEvent): void };
}

function seen(): Seen {
  const s: Seen = { ends: [], attempts: [], hooks: { onRequestEnd: (e) => s.ends.push(e), onAttemptEnd: (e) => s.attempts.push(e) } };
  return s;
}

async function mount(m: Mount, options: Record<string, unknown>, errors: Record<string, unknown> = {}): Promise<MountedApp> {
  const app = await m({ errors, proxies: [{ prefix: '/api', options }] });
  cleanup.push(() => app.close());
  return app;
}

const quick = { retries: 2, baseDelay: 0, maxDelay: 0 };

forEachAdapter('request-end on $name', ({ mount: m }) => {
  it('ends a retried 429 passed through as passed_through, with the 429 the client got', async () => {
    const s = seen();
    const app = await mount(m, { target: await fixed(429), retry: { ...quick, statuses: [429, 502, 503, 504] }, ...s.hooks });
    expect((await send(`${app.url}/api/x?secret=1`)).status).toBe(429);
    await eventually(() => s.ends.length === 1);
    expect(s.ends).toEqual([
      expect.objectContaining({ outcome: 'passed_through', reason: 'retries_exhausted', attempts: 3, status: 429, receivedStatus: 429, method: 'GET', path: '/api/x' }),
    ]);
    expect(s.attempts.map((a) => [a.attempt, a.result, a.status])).toEqual([
      [1, 'received_status', 429],
      [2, 'received_status', 429],
      [3, 'received_status', 429],
    ]);
  });

  it('ends an upstream 503 kept with keepUpstreamBody as passed_through 503', async () => {
    const s = seen();
    const app = await mount(m, { target: await fixed(503), retry: false, ...s.hooks }, { keepUpstreamBody: true });
    const r = await send(`${app.url}/api/x`);
    expect([r.status, r.body]).toEqual([503, '{"own":true}']);
    await eventually(() => s.ends.length === 1);
    expect(s.ends[0]).toMatchObject({ outcome: 'passed_through', status: 503, receivedStatus: 503, attempts: 1 });
  });

  it('ends a request refused by the concurrency limit as fast_fail concurrency_limit, without an attempt', async () => {
    const t = await target();
    t.mode = 'hang';
    const s = seen();
    const app = await mount(m, { target: t.url, maxConcurrent: 1, responseTimeout: 300, retry: false, ...s.hooks });
    const first = send(`${app.url}/api/slow`);
    await eventually(() => t.hits === 1);
    expect((await send(`${app.url}/api/x`)).status).toBe(503);
    expect((await first).status).toBe(504);
    await eventually(() => s.ends.length === 2);
    expect(s.ends.map((e) => [e.outcome, e.reason, e.attempts, e.status, e.error])).toEqual([
      ['fast_fail', 'concurrency_limit', 0, 503, 'connection_limit_reached'],
      ['gave_up', 'retries_exhausted', 1, 504, 'http_response_timeout'],
    ]);
    expect(s.attempts.map((a) => a.result)).toEqual(['http_response_timeout']);
  });

  it('ends a request whose client left as client_gone, with no status', async () => {
    const t = await target();
    t.mode = 'hang';
    const s = seen();
    const app = await mount(m, { target: t.url, ...s.hooks });
    await send(`${app.url}/api/x`, { timeout: 200 }).catch(() => undefined);
    expect(await eventually(() => s.ends.length === 1)).toBe(true);
    expect(s.ends[0]).toMatchObject({ outcome: 'client_gone', attempts: 1 });
    expect(s.ends[0]!.status).toBeUndefined();
    expect(s.attempts.map((a) => a.result)).toEqual(['aborted']);
  });

  it("ends a request a throwing on.proxyReq failed as error, with the app's own answer", async () => {
    const t = await target();
    const s = seen();
    const app = await mount(m, { target: t.url, on: { proxyReq: () => { throw new Error('mine'); } }, ...s.hooks });
    const r = await send(`${app.url}/api/x`);
    await eventually(() => s.ends.length === 1);
    expect(s.ends[0]).toMatchObject({ outcome: 'error', status: r.status });
    expect(s.attempts.map((a) => a.result)).toEqual(['error']);
  });

  it('ends a failure covered by the last good copy as stale, with the 200 the client got', async () => {
    let down = false;
    const server = http.createServer((req, res) => {
      req.resume();
      if (down) return void res.writeHead(503, { 'content-length': '0' }).end();
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain', 'content-length': '4' });
      res.end('good');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
    const s = seen();
    const app = await mount(m, { target: `http://127.0.0.1:${(server.address() as { port: number }).port}`, retry: quick, stale: true, ...s.hooks });
    expect((await send(`${app.url}/api/page`)).status).toBe(200);
    down = true;
    const r = await send(`${app.url}/api/page`);
    expect([r.status, r.body]).toEqual([200, 'good']);
    await eventually(() => s.ends.length === 2);
    expect(s.ends.map((e) => [e.outcome, e.reason, e.status, e.receivedStatus, e.attempts])).toEqual([
      ['ok', undefined, 200, undefined, 1],
      ['stale', 'retries_exhausted', 200, 503, 3],
    ]);
  });

  it('answers as usual when an onAttemptEnd or onRequestEnd hook throws', async () => {
    const t = await target();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    cleanup.push(() => void process.off('warning', onWarning));
    const boom = () => {
      throw new Error('hook bug');
    };
    const app = await mount(m, { target: t.url, onAttemptEnd: boom, onRequestEnd: boom });
    for (let i = 0; i < 3; i++) expect((await send(`${app.url}/api/x`)).status).toBe(200);
    await eventually(() => warnings.length > 0);
    expect(warnings.filter((w) => w.includes('hook bug')).length).toBeLessThanOrEqual(1);
  });

  it('counts attempts by target within the group, and shows an ejected target as down on /metrics', async () => {
    const good = await fixed(200);
    const bad = await fixed(503);
    const registry = new Registry();
    const prom = prometheusMetrics({ registry });
    cleanup.push(() => prom.stop());
    const s = seen();
    const targets = [good, bad];
    const app = await mount(m, { targets, outlier: { consecutiveFailures: 1, maxEjectionPercent: 50 }, retry: quick, circuit: false, ...s.hooks });
    for (let i = 0; i < 40 && s.attempts.every((a) => a.target !== bad); i++) expect((await send(`${app.url}/api/x`)).status).toBe(200);
    await eventually(() => s.ends.length === s.attempts.filter((a) => a.result === 'ok').length);
    const group = targets.join(',');
    for (const e of s.ends) expect(e).toMatchObject({ upstream: group, outcome: e.attempts === 1 ? 'ok' : 'recovered', status: 200 });
    expect(s.attempts.find((a) => a.target === bad)).toMatchObject({ upstream: group, result: 'received_status', status: 503 });
    const text = await registry.metrics();
    const port = (u: string) => new URL(u).port;
    expect(text).toContain(`gateway_errors_target_up{gateway_errors_upstream="${group}",server_address="127.0.0.1",server_port="${port(bad)}"} 0`);
    expect(text).toContain(`gateway_errors_target_up{gateway_errors_upstream="${group}",server_address="127.0.0.1",server_port="${port(good)}"} 1`);
    // A group has no one address: the requests carry the group's name only.
    expect(text).toMatch(new RegExp(`gateway_errors_requests_total\\{gateway_errors_upstream="${group}",http_request_method="GET",gateway_errors_outcome="(ok|recovered)",http_response_status_code="200"\\} \\d`));
  });
});

/** An upstream answering the given statuses in turn, then the last one again. */
async function sequence(...statuses: number[]): Promise<string> {
  let i = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    const status = statuses[Math.min(i++, statuses.length - 1)]!;
    res.writeHead(status, { 'content-length': '0' }).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  server.on('connection', (s) => cleanup.push(() => void s.destroy()));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

forEachAdapter('give-up reasons on $name', ({ mount: m }) => {
  it('names retries_exhausted when the retries ran out, whatever the last failure was', async () => {
    const s = seen();
    // 503 is retried; the 502 after it is not in `statuses`, but no retry was left anyway.
    const app = await mount(m, { target: await sequence(503, 502), retry: { ...quick, retries: 1, statuses: [503] }, ...s.hooks });
    expect((await send(`${app.url}/api/x`)).status).toBe(502);
    await eventually(() => s.ends.length === 1);
    expect(s.ends).toEqual([expect.objectContaining({ outcome: 'gave_up', reason: 'retries_exhausted', attempts: 2 })]);
  });

  it('names not_retryable when the first failure is one no retry mends', async () => {
    const s = seen();
    const app = await mount(m, { target: await sequence(502), retry: { ...quick, retries: 2, statuses: [503] }, ...s.hooks });
    expect((await send(`${app.url}/api/x`)).status).toBe(502);
    await eventually(() => s.ends.length === 1);
    expect(s.ends).toEqual([expect.objectContaining({ outcome: 'gave_up', reason: 'not_retryable', attempts: 1 })]);
  });
});
