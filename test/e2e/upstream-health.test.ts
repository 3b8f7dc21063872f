/**
 * Upstream health with every default on (README, "Upstream health"): one broken route never takes
 * a healthy upstream down; a wholly failing one is found out and answered at once; several
 * targets balance, fail over and eject the one that fails; a request is sent again only when
 * none of it left. Real Express 5 and Koa 3 apps, real upstream servers on 127.0.0.1.
 */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { forEachAdapter, type Mount, type MountedApp } from '../support/apps.js';
import { delay, send, type Answer } from '../support/client.js';
import { closedPort } from '../support/fault-kit.js';
import { startTarget, type TargetServer } from '../support/target.js';

const JSON_ACCEPT = { accept: 'application/json' };

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function target(name: string): Promise<TargetServer> {
  const t = await startTarget(name);
  cleanup.push(() => t.close());
  return t;
}

async function mount(m: Mount, options: Record<string, unknown>): Promise<MountedApp> {
  const app = await m({ proxies: [{ prefix: '/api', options }] });
  cleanup.push(() => app.close());
  return app;
}

/** `count` requests from `clients` concurrent clients, each `path(i)`; every answer in order of sending. */
async function traffic(count: number, clients: number, path: (i: number) => string, gap = 0, init: (i: number) => Parameters<typeof send>[1] = () => ({})): Promise<Answer[]> {
  const answers: Answer[] = new Array(count);
  let next = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < count; i = next++) {
        answers[i] = await send(path(i), { agent, ...init(i) });
        if (gap > 0) await delay(gap);
      }
    }),
  );
  agent.destroy();
  return answers;
}

const statuses = (answers: Answer[]) => answers.reduce<Record<number, number>>((m, a) => ((m[a.status] = (m[a.status] ?? 0) + 1), m), {});

forEachAdapter('upstream health on $name', ({ mount: m }) => {
  describe('one broken route of a healthy upstream, with the defaults', () => {
    it.each(['502', '503', 'reset'] as const)('never fails the healthy routes when the broken one answers %s (one client, then 20)', async (how) => {
      const t = await target('a');
      t.broken = { path: '/broken', how };
      const app = await mount(m, { target: t.url });
      // A third of the traffic to the broken route: one client at a steady pace, then 20 at once.
      const path = (i: number) => `${app.url}/api/${i % 3 === 2 ? 'broken' : 'fine'}?i=${i}`;
      for (const [count, clients, gap] of [
        [45, 1, 20],
        [400, 20, 0],
      ] as const) {
        const answers = await traffic(count, clients, path, gap);
        const healthy = answers.filter((_, i) => i % 3 !== 2);
        expect(statuses(healthy)).toEqual({ [200]: healthy.length });
        const broken = answers.filter((_, i) => i % 3 === 2);
        expect(statuses(broken)).toEqual({ [how === '503' ? 503 : 502]: broken.length });
        for (const b of broken) expect(b.headers['proxy-status']).not.toContain('destination_unavailable');
      }
    });
  });

  describe('a wholly failing lone upstream, with the defaults', () => {
    it.each(['refuse', 'reset', '503', 'hang'] as const)('is found out when it %s: once open, at most 0.05 attempts per request, each answered 503 at once', async (how) => {
      const t = await target('a');
      let opened = 0;
      const hang = how === 'hang' ? { responseTimeout: 150 } : {};
      const app = await mount(m, { target: t.url, ...hang, onCircuitOpen: () => opened++ });
      if (how === 'refuse') await t.kill();
      else t.mode = how;
      // Steady load until the breaker opens (20 requests in its window, half of them failed).
      for (let round = 0; round < 20 && opened === 0; round++) await traffic(20, 10, (i) => `${app.url}/api/x?i=${i}`);
      expect(opened).toBe(1);
      const before = t.hits;
      const answers = await traffic(200, 10, (i) => `${app.url}/api/x?i=${i}`, 0, () => ({ headers: JSON_ACCEPT }));
      const fast = answers.filter((a) => a.headers['proxy-status'] === 'gateway-errors; error=destination_unavailable');
      // Every answer that is not a fast 503 cost at least one attempt (probes): at most 5 %.
      expect(answers.length - fast.length).toBeLessThanOrEqual(10);
      if (how !== 'refuse') expect((t.hits - before) / answers.length).toBeLessThanOrEqual(0.05);
      for (const a of fast) {
        expect(a.status).toBe(503);
        expect(Number(a.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(Number(a.headers['retry-after'])).toBeLessThanOrEqual(5);
      }
    });
  });

  describe('several targets', () => {
    it('sends every GET to a healthy target when one of three refuses, and spreads them over the other two', async () => {
      const [a, b] = [await target('a'), await target('b')];
      const app = await mount(m, { targets: [a.url, b.url, `http://127.0.0.1:${await closedPort()}`] });
      const answers = await traffic(60, 4, (i) => `${app.url}/api/x?i=${i}`);
      expect(statuses(answers)).toEqual({ [200]: 60 });
      expect(a.hits).toBeGreaterThan(10);
      expect(b.hits).toBeGreaterThan(10);
    });

    it('keeps every GET answered and never sends a POST twice while one of three is killed and restarted', async () => {
      const ts = [await target('a'), await target('b'), await target('c')];
      const app = await mount(m, { targets: ts.map((t) => t.url) });
      const victim = ts[1]!;
      const answers: { method: string; id: string; a: Answer }[] = [];
      let n = 0;
      const load = (async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 6 });
        const until = Date.now() + 1500;
        await Promise.all(
          Array.from({ length: 6 }, async (_, c) => {
            while (Date.now() < until) {
              const id = `${c}-${n++}`;
              const post = n % 2 === 0;
              const a = await send(`${app.url}/api/x`, post ? { agent, method: 'POST', body: JSON.stringify({ id }), headers: { 'content-type': 'application/json' } } : { agent });
              answers.push({ method: post ? 'POST' : 'GET', id, a });
            }
          }),
        );
        agent.destroy();
      })();
      await delay(300);
      await victim.kill();
      await delay(500);
      await victim.restart();
      await load;
      const gets = answers.filter((x) => x.method === 'GET');
      const posts = answers.filter((x) => x.method === 'POST');
      expect(gets.length).toBeGreaterThan(20);
      expect(statuses(gets.map((x) => x.a))).toEqual({ [200]: gets.length });
      const reached = (id: string) => ts.reduce((k, t) => k + (t.ids.get(id) ?? 0), 0);
      for (const p of posts) {
        expect(reached(p.id), p.id).toBeLessThanOrEqual(1);
        if (p.a.status === 200) expect(reached(p.id), p.id).toBe(1);
        // Cut off by the kill: the gateway's own error answer, naming what it saw.
        else expect([p.a.status, p.a.headers['proxy-status']], p.id).toEqual([expect.toBeOneOf([502, 503, 504]), expect.stringMatching(/^gateway-errors; error=/)]);
      }
      // Posts to the dead target while it refused went to another: nothing of them had left.
      expect(posts.filter((p) => p.a.status === 200).length).toBeGreaterThan(posts.length * 0.8);
    });

    it('ejects a target that answers 503 to everything: every GET succeeds and it gets at most a tenth of the attempts', async () => {
      const ts = [await target('a'), await target('b'), await target('c')];
      ts[2]!.mode = '503';
      const ejected: string[] = [];
      const app = await mount(m, { targets: ts.map((t) => t.url), onTargetEject: (e: { target: string }) => ejected.push(e.target) });
      const warm = await traffic(40, 4, (i) => `${app.url}/api/x?i=${i}`);
      expect(statuses(warm)).toEqual({ [200]: 40 });
      expect(ejected).toEqual([ts[2]!.url]);
      const hitsBefore = ts.map((t) => t.hits);
      const answers = await traffic(200, 4, (i) => `${app.url}/api/x?i=${i}`);
      expect(statuses(answers)).toEqual({ [200]: 200 });
      const attempts = ts.map((t, i) => t.hits - hitsBefore[i]!);
      expect(attempts[2]! / attempts.reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(0.1);
    });

    it('ejects a target that accepts and never answers: every GET succeeds, then latency is back to normal', async () => {
      const ts = [await target('a'), await target('b'), await target('c')];
      ts[0]!.mode = 'hang';
      let ejected = 0;
      const app = await mount(m, { targets: ts.map((t) => t.url), responseTimeout: 400, onTargetEject: () => ejected++ });
      // Until it is found out (power of two choices already steers around its piled-up requests,
      // so it takes a while to fail five times in a row).
      for (let round = 0; round < 20 && ejected === 0; round++) {
        const warm = await traffic(15, 3, (i) => `${app.url}/api/x?i=${i}`);
        expect(statuses(warm)).toEqual({ [200]: 15 });
      }
      expect(ejected).toBe(1);
      const times: number[] = [];
      for (let i = 0; i < 40; i++) {
        const t0 = performance.now();
        expect((await send(`${app.url}/api/x?i=${i}`)).status).toBe(200);
        times.push(performance.now() - t0);
      }
      times.sort((x, y) => x - y);
      // Found out: no request waits out the response timeout any more.
      expect(times[Math.floor(times.length * 0.9)]!).toBeLessThan(200);
    });

    it('answers 502 connection_refused at once when every target refuses', async () => {
      const ports = [await closedPort(), await closedPort(), await closedPort()];
      const app = await mount(m, { targets: ports.map((p) => `http://127.0.0.1:${p}`) });
      const r = await send(`${app.url}/api/x`, { headers: JSON_ACCEPT });
      expect(r.status).toBe(502);
      expect(r.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
    });

    it('sends a POST without Idempotency-Key to another target when the first refused it, and never one that reached a target', async () => {
      const a = await target('a');
      const app = await mount(m, { targets: [`http://127.0.0.1:${await closedPort()}`, a.url], outlier: false });
      for (let i = 0; i < 20; i++) {
        const id = `p${i}`;
        const r = await send(`${app.url}/api/x`, { method: 'POST', body: JSON.stringify({ id }), headers: { 'content-type': 'application/json' } });
        expect(r.status).toBe(200);
        expect(a.ids.get(id)).toBe(1);
      }
      // A POST that reached a target and failed there is not sent again.
      a.mode = 'reset';
      const r = await send(`${app.url}/api/x`, { method: 'POST', body: JSON.stringify({ id: 'once' }), headers: { 'content-type': 'application/json', ...JSON_ACCEPT } });
      expect(r.status).toBe(502);
      expect(JSON.parse(r.body).mayHaveGoneThrough).toBe(true);
      expect(a.ids.get('once')).toBe(1);
    });
  });
});

forEachAdapter('a lone target on $name', ({ mount: m }) => {
  it('sends a POST again when its connection was refused, and says it did not go through', async () => {
    const port = await closedPort();
    const retries: number[] = [];
    const app = await mount(m, { target: `http://127.0.0.1:${port}`, retry: { baseDelay: 1, maxDelay: 2 }, onRetry: (e: { attempt: number }) => retries.push(e.attempt) });
    const r = await send(`${app.url}/api/x`, { method: 'POST', body: '{"id":"x"}', headers: { 'content-type': 'application/json', ...JSON_ACCEPT } });
    expect(r.status).toBe(502);
    expect(retries).toEqual([1, 2]);
    expect(JSON.parse(r.body).mayHaveGoneThrough).not.toBe(true);
  });
});

describe('target state and active health checks', () => {
  it('reports each target in proxy.state(), takes one out on failed checks and brings it back on good ones', async () => {
    const express = (await import('express')).default;
    const { gatewayErrors, gatewayProxy } = await import('../../src/express/index.js');
    const [a, b] = [await target('a'), await target('b')];
    const events: string[] = [];
    const proxy = gatewayProxy({
      targets: [a.url, { url: b.url, weight: 2 }],
      healthCheck: { path: '/health', interval: 50, timeout: 200, unhealthyThreshold: 2, healthyThreshold: 2 },
      onTargetEject: (e) => events.push(`eject ${e.target === b.url ? 'b' : 'a'} ${e.reason}`),
      onTargetReturn: (e) => events.push(`return ${e.target === b.url ? 'b' : 'a'} ${e.reason}`),
    });
    cleanup.push(async () => proxy.close());
    const app = express();
    app.use(gatewayErrors());
    app.get('/status', (_req, res) => res.json(proxy.state()));
    app.use('/api', proxy);
    const server = http.createServer(app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;

    b.mode = '503';
    for (let i = 0; i < 100 && !events.includes('eject b health_check'); i++) await delay(20);
    const down = JSON.parse((await send(`${url}/status`)).body);
    expect(down.targets).toMatchObject([
      { url: a.url, weight: 1, healthy: true, check: 'healthy' },
      { url: b.url, weight: 2, healthy: false, check: 'unhealthy' },
    ]);
    expect(down.upstreams).toEqual([{ upstream: `${a.url},${b.url}`, circuit: 'closed', active: 0 }]);
    // While b fails its checks, no user request is its probe.
    const before = b.paths.get('/x') ?? 0;
    const answers = await traffic(20, 2, (i) => `${url}/api/x?i=${i}`);
    expect(statuses(answers)).toEqual({ [200]: 20 });
    expect(b.paths.get('/x') ?? 0).toBe(before);

    b.mode = 'ok';
    for (let i = 0; i < 100 && !events.includes('return b health_check'); i++) await delay(20);
    expect(events).toEqual(['eject b health_check', 'return b health_check']);
    expect(JSON.parse((await send(`${url}/status`)).body).targets[1]).toMatchObject({ healthy: true, check: 'healthy' });
  });
});

forEachAdapter('a Retry-After from one of several targets on $name', ({ mount: m }) => {
  it('does not stop or delay the retry on another target, long or short', async () => {
    const busy = http.createServer((_req, res) => res.writeHead(503, { 'retry-after': '120' }).end('busy'));
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => busy.close(() => r())));
    const busyUrl = `http://127.0.0.1:${(busy.address() as import('node:net').AddressInfo).port}`;
    const ok = await target('ok');
    const delays: number[] = [];
    const app = await mount(m, { targets: [busyUrl, ok.url], outlier: false, onRetry: (e: { delay: number; reason: string }) => delays.push(e.reason === 'retry_after' ? e.delay : 0) });
    const answers = await traffic(20, 2, (i) => `${app.url}/api/x?i=${i}`);
    expect(statuses(answers)).toEqual({ [200]: 20 });
    // No wait was the busy instance's 120 s (nor any Retry-After): backoff only.
    expect(delays.every((d) => d === 0)).toBe(true);
  });
});

forEachAdapter('give-up events of requests answered at once on $name', ({ mount: m }) => {
  it('name the upstream when the circuit or the concurrency limit answers', async () => {
    const port = await closedPort();
    const upstreams: string[] = [];
    const app = await mount(m, { target: `http://127.0.0.1:${port}`, retry: false, circuit: { consecutiveFailures: 1, halfOpenAfter: 60_000 }, onGiveUp: (e: { upstream: string; reason: string }) => upstreams.push(`${e.reason} ${e.upstream}`) });
    await send(`${app.url}/api/x`);
    await send(`${app.url}/api/x`);
    expect(upstreams).toEqual([`retries_exhausted http://127.0.0.1:${port}`, `circuit_open http://127.0.0.1:${port}`]);
  });
});
