/**
 * The `npm start` demo, run as a newcomer runs it (`node demo/start.js` after the build), on free
 * ports: it prints where to go, shows a recovered retry on its own, switches its three upstream
 * instances live (one or all), and prints one line per retry, failure, ejection and circuit change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../support/client.js';
import { start, type Running } from './run.js';

const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

interface DemoState {
  instances: { n: number; url: string; mode: string }[];
  upstreams: { upstream: string; circuit: string; active: number }[];
  targets: { url: string; healthy: boolean; ejectedUntil?: string; ejections: number; consecutiveFailures: number }[];
}

describe('npm start (demo/start.js)', () => {
  let demo: Running;
  let url: string;

  beforeAll(async () => {
    demo = await start('demo/start.js', { PORT: '0', UPSTREAM_PORT: '0' });
    url = demo.url;
  });
  afterAll(async () => {
    await demo?.stop();
  });

  const mode = async (name: string): Promise<void> => {
    const r = await send(`${url}/demo/mode/${name}`, { method: 'POST' });
    expect(r.status).toBe(200);
    expect(r.body).toContain(`upstream mode: ${name}`);
  };
  const instanceMode = async (n: number, name: string): Promise<void> => {
    const r = await send(`${url}/demo/instance/${n}/mode/${name}`, { method: 'POST' });
    expect(r.status).toBe(200);
    expect(r.body).toContain(`mode: ${name}`);
  };
  const state = async (): Promise<DemoState> => {
    const r = await send(`${url}/demo/state`, { headers: { accept: 'application/json' } });
    expect(r.status).toBe(200);
    return JSON.parse(r.body) as DemoState;
  };

  it('prints the URLs to open and recovers its own first request with a printed retry', async () => {
    expect(demo.output()).toContain(`${url}/api/hello?mode=maintenance`);
    await demo.waitFor(/↻ #1 GET \/api\/hello {2}attempt 1 failed: connection_terminated/);
    await demo.waitFor(/✓ #1 GET \/api\/hello {2}200 after 2 attempts: recovered/);
  });

  it('serves the control page with a switch per mode for all instances and one per instance', async () => {
    const r = await send(`${url}/`, { headers: HTML });
    expect(r.status).toBe(200);
    for (const name of ['healthy', 'flaky', 'slow', 'hanging', 'refusing', 'maintenance', 'dying']) {
      expect(r.body).toContain(`action="/demo/mode/${name}"`);
      expect(r.body).toContain(`<option value="${name}"`);
    }
    for (const n of [1, 2, 3]) expect(r.body).toContain(`action="/demo/instance/${n}/mode"`);
    // The live view polls /demo/state from an inline script that the page's own CSP allows by hash.
    const csp = r.headers['content-security-policy'] as string;
    expect(csp).toMatch(/default-src 'none'.*script-src 'sha256-[^']+'.*connect-src 'self'/);
    expect(csp).not.toContain('unsafe-inline');
    expect(r.body).toContain("fetch('/demo/state'");
  });

  it('reports three targets and the circuit as JSON for the page', async () => {
    const s = await state();
    expect(s.instances.map((i) => i.n)).toEqual([1, 2, 3]);
    expect(s.targets.map((t) => t.url)).toEqual(s.instances.map((i) => i.url));
    expect(s.upstreams).toEqual([expect.objectContaining({ circuit: 'closed' })]);
  });

  it('shows the branded 503 page for one request in maintenance mode', async () => {
    const r = await send(`${url}/api/hello?mode=maintenance`, { headers: HTML });
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('120');
    expect(r.headers['proxy-status']).toBe('gateway-errors; received-status=503');
    expect(r.body).toContain('Demo Shop');
    // Each instance's Retry-After speaks for that instance only: the other two are tried first.
    await demo.waitFor(/✗ #\d+ GET \/api\/hello {2}503 after 3 attempts: upstream answered 503/);
  });

  it('switches planned maintenance on and off from the control page, asking the upstream nothing', async () => {
    const on = await send(`${url}/demo/maintenance/start?minutes=5`, { method: 'POST' });
    expect(on.status).toBe(200);
    try {
      await demo.waitFor(/🚧 maintenance ON until \d\d:\d\d:\d\d/);
      const r = await send(`${url}/api/hello`, { headers: HTML });
      expect(r.status).toBe(503);
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(290);
      expect(r.headers['proxy-status']).toBeUndefined();
      expect(r.body).toContain('We are doing some planned maintenance');
      await demo.waitFor(/🚧 GET \/api\/hello {2}503 maintenance, Retry-After \d+ s, upstream not asked/);
      const control = await send(`${url}/`, { headers: HTML });
      expect([control.status, control.body]).toEqual([200, expect.stringContaining('action="/demo/maintenance/stop"')]);
    } finally {
      expect((await send(`${url}/demo/maintenance/stop`, { method: 'POST' })).body).toBe('maintenance off\n');
    }
    await demo.waitFor(/🚧 maintenance off after \d+ s/);
    expect((await send(`${url}/`, { headers: HTML })).body).toContain('action="/demo/maintenance/start"');
  });

  it('brands its own 429 and 500', async () => {
    const busy = await send(`${url}/demo/busy`, { headers: HTML });
    expect([busy.status, busy.headers['retry-after']]).toEqual([429, '20']);
    expect(busy.body).toContain('Please slow down a little');
    const broken = await send(`${url}/demo/broken`, { headers: { accept: 'application/json' } });
    expect(broken.status).toBe(500);
    expect(JSON.parse(broken.body)).toMatchObject({ status: 500, title: 'Internal Server Error' });
  });

  it('waits out a one-second Retry-After in flaky mode and prints the wait', async () => {
    const r = await send(`${url}/api/hello`, { headers: { accept: 'application/json' } });
    expect(r.status).toBe(200);
    const { request, attempt } = JSON.parse(r.body) as { request: string; attempt: number };
    expect(attempt).toBe(2);
    // Even request numbers get a 503 with Retry-After: 1 first, odd ones a reset.
    const expected = Number(request) % 2 === 0 ? 'waiting 1000 ms as its Retry-After asks' : 'retrying in';
    await demo.waitFor(new RegExp(`↻ #${request} GET /api/hello {2}attempt 1 failed: .*; ${expected}`));
  });

  it('does not replay a POST and says so', async () => {
    await mode('maintenance');
    const r = await send(`${url}/api/orders`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(503);
    expect(r.body).toContain('may already have gone through');
    await demo.waitFor(/✗ #\d+ POST \/api\/orders {2}503 after 1 attempt: .*not safe to replay/);
  });

  it('keeps every GET answering 200 when one instance refuses, and ejects it', async () => {
    await mode('healthy');
    await instanceMode(2, 'refusing');
    const refusing = (await state()).instances[1]!.url;
    const ejected = new RegExp(`⇄ target ${escape(refusing)} ejected for 30 s after 5 failures in a row`);
    // Each request's first attempt goes to instance 2 about one time in three; five of them in a row
    // (no success of its own in between: it refuses all) eject it.
    for (let i = 0; i < 150 && !ejected.test(demo.output()); i++) {
      const r = await send(`${url}/api/hello`, { headers: { accept: 'application/json' } });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).instance).not.toBe(Number(new URL(refusing).port));
    }
    await demo.waitFor(ejected, 1000);
    await demo.waitFor(/↻ #\d+ GET \/api\/hello {2}attempt 1 failed: connection_refused → 502; retrying in \d+ ms/);
    await demo.waitFor(/✓ #\d+ GET \/api\/hello {2}200 after 2 attempts: recovered from :\d+/);
    const target = (await state()).targets[1]!;
    expect(target).toMatchObject({ url: refusing, healthy: false, ejections: 1 });
    expect(Date.parse(target.ejectedUntil!)).toBeGreaterThan(Date.now() + 20_000);
    // Ejected: no attempt goes there any more, so GETs answer in one attempt.
    const refused = (): number => demo.output().match(/attempt 1 failed: connection_refused/g)?.length ?? 0;
    const before = refused();
    for (let i = 0; i < 10; i++) expect((await send(`${url}/api/hello`)).status).toBe(200);
    expect(refused()).toBe(before);
  });

  it('answers 502 connection_refused when every instance refuses, then opens the circuit under traffic', async () => {
    await mode('refusing');
    const first = await send(`${url}/api/hello`);
    expect(first.status).toBe(502);
    expect(first.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
    await demo.waitFor(/✗ #\d+ GET \/api\/hello {2}502 after 3 attempts: connection_refused → 502; retries used up/);
    // The circuit counts client requests: it opens once at least 20 came in 10 s and more than half
    // of them failed (the successes of the previous case count too, hence the loop).
    const open = /⚡ circuit to \S+ OPEN: requests get a 503 at once/;
    for (let i = 0; i < 15 && !open.test(demo.output()); i++) {
      const batch = await Promise.all(Array.from({ length: 10 }, () => send(`${url}/api/hello`)));
      for (const r of batch) expect([502, 503]).toContain(r.status);
    }
    await demo.waitFor(open, 1000);
    expect((await state()).upstreams[0]!.circuit).toBe('open');
    const fast = await send(`${url}/api/hello`);
    expect(fast.status).toBe(503);
    expect(fast.headers['proxy-status']).toBe('gateway-errors; error=destination_unavailable');
    expect(Number(fast.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    await demo.waitFor(/✗ #\d+ GET \/api\/hello {2}503 after no attempt: .*the circuit is open/);
  });

  it('cuts the connection when the upstream dies mid-body, and prints it', async () => {
    await mode('dying');
    // The circuit is still open from the previous case: requests get a 503 until its probe
    // (after 5 s) reaches an instance, which then answers with a head, closing the circuit.
    let r = await send(`${url}/api/hello`);
    for (let i = 0; i < 40 && r.status === 503; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      r = await send(`${url}/api/hello`);
    }
    expect(r.status).toBe(200);
    expect(r.complete).toBe(false);
    await demo.waitFor(/✗ #\d+ GET \/api\/hello {2}200 head sent, then the upstream died mid-body/);
  });

  it('serves the metrics in Prometheus text', async () => {
    const r = await send(`${url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('text/plain');
    expect(r.body).toMatch(/^gateway_errors_requests_total\{.*gateway_errors_outcome="ok".*\} \d+$/m);
    expect(r.body).toContain('gateway_errors_target_up');
  });

  it('opens a WebSocket through the gateway to one of the instances', async () => {
    const { default: WebSocket } = await import('ws');
    await mode('healthy');
    const echo = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/api/ws`);
      ws.on('open', () => ws.send('ping'));
      ws.on('message', (m) => {
        ws.close();
        resolve(m.toString());
      });
      ws.on('error', reject);
    });
    expect(echo).toMatch(/^ping \(from :\d+\)$/);
  });
});
