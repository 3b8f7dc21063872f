/**
 * Planned maintenance on both adapters, against real servers: the fault kit upstream counts
 * every request it gets, so "no upstream request" is observed, not assumed.
 */
import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { CHANNELS } from '../../src/core/observe/events.js';
import { ADAPTERS, type Adapter } from '../support/apps.js';
import { send } from '../support/client.js';
import { useGatewayFixture } from '../support/gateway-fixture.js';

const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const JSON_ACCEPT = { accept: 'application/json' };

/** A raw request target, sent as it is (no URL normalisation on the way). */
function sendRaw(base: string, target: string): Promise<number> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function describeMaintenance({ name, kind, mount }: Adapter): void {
  describe(`planned maintenance on ${name}`, () => {
    const fx = useGatewayFixture(mount, 'm');

    const app = (errors: Record<string, unknown> = {}, proxy: Record<string, unknown> = {}) =>
      fx.mountApp({ errors, proxies: [{ prefix: '/', options: { target: fx.kit.url, ...proxy } }] });

    it('answers every request with the maintenance 503 and asks the upstream nothing', async () => {
      const { url, gateway } = await app();
      const until = new Date(Date.now() + 90_000);
      const state = gateway!.maintenance.start({ until, message: 'Upgrading the database.' });
      expect(state).toMatchObject({ active: true, until: until.toISOString(), message: 'Upgrading the database.' });
      const key = fx.key();
      const before = fx.kit.total;

      const page = await send(`${url}/ok?key=${key}`, { headers: { ...HTML, 'accept-language': 'de' } });
      expect(page.status).toBe(503);
      expect(Number(page.headers['retry-after'])).toBeGreaterThanOrEqual(85);
      expect(Number(page.headers['retry-after'])).toBeLessThanOrEqual(90);
      expect(page.headers['proxy-status']).toBeUndefined();
      expect(page.headers['cache-control']).toBe('no-store');
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['content-language']).toBe('de');
      expect(page.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(page.body).toContain('<h1>Wir führen geplante Wartungsarbeiten durch</h1>');
      expect(page.body).toContain(`<time datetime="${until.toISOString()}" data-local>`);
      expect(page.body).toContain('<p class="note">Upgrading the database.</p>');
      // The script that shows the end in the visitor's zone is hashed into the page's own CSP.
      expect(page.headers['content-security-policy']).toMatch(/script-src 'sha256-[^']+' 'sha256-[^']+'/);

      const json = await send(`${url}/ok?key=${key}`, { headers: JSON_ACCEPT });
      expect(json.status).toBe(503);
      expect(json.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      const problem = JSON.parse(json.body);
      expect(problem).toMatchObject({
        type: 'about:blank',
        title: 'Service Unavailable',
        status: 503,
        detail: 'The site is down for planned work and will be back soon.',
        maintenance: { until: until.toISOString(), message: 'Upgrading the database.' },
      });
      expect(problem.retryAfter).toBe(Number(json.headers['retry-after']));
      expect(problem).not.toHaveProperty('proxyStatus');

      const text = await send(`${url}/ok?key=${key}`);
      expect(text.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(text.body).toMatch(/^503 Down for maintenance\n/);
      expect(text.body).toContain(`We expect to be back by ${until.toISOString()}.`);

      const head = await send(`${url}/ok?key=${key}`, { method: 'HEAD' });
      expect([head.status, head.body]).toEqual([503, '']);

      // A POST never reached anything: it is safe to send again, and the answer says so.
      const post = await send(`${url}/echo?key=${key}`, { method: 'POST', headers: { ...JSON_ACCEPT, 'content-type': 'application/json' }, body: '{"pay":1}' });
      expect(post.status).toBe(503);
      expect(JSON.parse(post.body)).not.toHaveProperty('mayHaveGoneThrough');

      expect(fx.kit.attempts(`/ok?key=${key}`)).toBe(0);
      expect(fx.kit.attempts(`/echo?key=${key}`)).toBe(0);
      expect(fx.kit.total).toBe(before);
    });

    it('lets allow-listed paths and bypassed requests through, and nothing else', async () => {
      const seen: unknown[] = [];
      const { url } = await app({
        maintenance: {
          active: true,
          allow: ['/healthz', '/status/*'],
          // Staff by header, read through the framework's own request API (Express req, Koa ctx).
          bypass: (r: { get(name: string): string | undefined }) => {
            seen.push(r);
            return r.get('x-staff') === 'yes';
          },
        },
      });
      const key = fx.key();
      expect((await send(`${url}/healthz?key=${key}`)).status).toBe(404); // the upstream's answer
      expect(fx.kit.attempts(`/healthz?key=${key}`)).toBe(1);
      const status = await send(`${url}/status/200?key=${key}`);
      expect(status.status).toBe(200);
      expect(fx.kit.attempts(`/status/200?key=${key}`)).toBe(1);
      expect((await send(`${url}/status?key=${key}`)).status).toBe(404); // the prefix's own root
      expect(fx.kit.attempts(`/status?key=${key}`)).toBe(1);

      expect((await send(`${url}/healthz2?key=${key}`)).status).toBe(503);
      expect((await send(`${url}/ok?key=${key}`)).status).toBe(503);
      expect((await send(`${url}/ok?key=${key}`, { headers: { 'x-staff': 'no' } })).status).toBe(503);
      // Dot segments and encoded slashes could reach another path upstream: never let through by a prefix.
      expect(await sendRaw(url, `/status/../ok?key=${key}`)).toBe(503);
      expect(await sendRaw(url, `/status/..%2fok?key=${key}`)).toBe(503);
      expect(fx.kit.attempts(`/healthz2?key=${key}`)).toBe(0);
      expect(fx.kit.attempts(`/ok?key=${key}`)).toBe(0);

      const staff = await send(`${url}/ok?key=${key}`, { headers: { 'x-staff': 'yes' } });
      expect([staff.status, staff.body]).toEqual([200, 'ok']);
      expect(fx.kit.attempts(`/ok?key=${key}`)).toBe(1);

      expect(seen.length).toBeGreaterThan(0);
      for (const r of seen) {
        if (kind === 'koa') expect(r).toHaveProperty('request'); // a Koa ctx
        else expect(r).toHaveProperty('originalUrl'); // an Express req
      }
    });

    it('switches off and on again without a restart', async () => {
      const { url, gateway } = await app();
      const key = fx.key();
      expect(gateway!.maintenance.state()).toEqual({ active: false });
      expect(gateway!.maintenance.stop()).toBe(false);
      gateway!.maintenance.start();
      expect((await send(`${url}/ok?key=${key}`)).status).toBe(503);
      expect(gateway!.maintenance.stop()).toBe(true);
      expect(gateway!.maintenance.state()).toEqual({ active: false });
      const r = await send(`${url}/ok?key=${key}`);
      expect([r.status, r.body]).toEqual([200, 'ok']);
      expect(fx.kit.attempts(`/ok?key=${key}`)).toBe(1);
      gateway!.maintenance.start({ retryAfter: 120 });
      const again = await send(`${url}/ok?key=${key}`);
      expect([again.status, again.headers['retry-after']]).toEqual([503, '120']);
      expect(fx.kit.attempts(`/ok?key=${key}`)).toBe(1);
    });

    it('starts in maintenance with the option; with no end announced, Retry-After is the configured value', async () => {
      const { url, gateway } = await app({ maintenance: { active: true, message: 'Back after the migration.' }, retryAfter: 45 });
      expect(gateway!.maintenance.state()).toMatchObject({ active: true, message: 'Back after the migration.', retryAfter: 45 });
      const r = await send(`${url}/ok`, { headers: HTML });
      expect([r.status, r.headers['retry-after']]).toEqual([503, '45']);
      expect(r.body).not.toContain('data-local');
      expect(r.body).toContain('Back after the migration.');
    });

    it('says the work is taking longer once the announced end has passed', async () => {
      const { url, gateway } = await app({ retryAfter: 40 });
      const until = new Date(Date.now() - 60_000);
      gateway!.maintenance.start({ until });
      const page = await send(`${url}/ok`, { headers: HTML });
      expect([page.status, page.headers['retry-after']]).toEqual([503, '40']);
      expect(page.body).toContain('It is taking longer than planned.');
      expect(page.body).not.toContain('data-local');
      const text = await send(`${url}/ok`);
      expect(text.body).toContain('It is taking longer than planned.');
    });

    it('never trips the circuit nor spends the retry budget: the upstream counts no request', async () => {
      const retries: unknown[] = [];
      const giveUps: unknown[] = [];
      const { url, gateway } = await app({}, {
        // Two failed attempts in a row would open this circuit for a minute; the budget allows one retry a second.
        circuit: { consecutiveFailures: 2, halfOpenAfter: 60_000 },
        budget: { ratio: 0, minPerSecond: 1 },
        retry: { baseDelay: 1, maxDelay: 1 },
        onRetry: (e: unknown) => retries.push(e),
        onGiveUp: (e: unknown) => giveUps.push(e),
      });
      const key = fx.key();
      const before = fx.kit.total;
      gateway!.maintenance.start({ until: new Date(Date.now() + 600_000) });
      const answers = await Promise.all(Array.from({ length: 20 }, () => send(`${url}/flaky/1?key=${key}`)));
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(503));
      expect(answers.every((a) => a.headers['proxy-status'] === undefined)).toBe(true);
      expect(fx.kit.total).toBe(before);
      expect([retries, giveUps]).toEqual([[], []]);

      gateway!.maintenance.stop();
      // The first attempt fails and is retried (the budget has room), and the circuit is closed.
      const r = await send(`${url}/flaky/1?key=${key}`);
      expect([r.status, r.body]).toEqual([200, 'recovered']);
      expect(fx.kit.attempts(`/flaky/1?key=${key}`)).toBe(2);
      expect(retries).toHaveLength(1);
      const ok = await send(`${url}/ok?key=${key}`);
      expect([ok.status, ok.body]).toEqual([200, 'ok']);
      expect(giveUps).toEqual([]);
      expect(fx.kit.total).toBe(before + 3);
    });

    it('reports start, stop and every answer to hooks, channels and the logger', async () => {
      const events: [string, Record<string, unknown>][] = [];
      const lines: string[] = [];
      const onChannel = (message: unknown, channel: string | symbol) => events.push([`channel ${String(channel)}`, message as Record<string, unknown>]);
      const channels = [CHANNELS.maintenanceStart, CHANNELS.maintenanceStop, CHANNELS.maintenanceAnswer];
      for (const c of channels) diagnostics.subscribe(c, onChannel);
      try {
        const { url, gateway } = await app({
          onMaintenanceStart: (e: Record<string, unknown>) => events.push(['start', e]),
          onMaintenanceStop: (e: Record<string, unknown>) => events.push(['stop', e]),
          onMaintenanceAnswer: (e: Record<string, unknown>) => events.push(['answer', e]),
          logger: { info: (_o: object, m?: string) => lines.push(`info ${m}`), warn: (_o: object, m?: string) => lines.push(`warn ${m}`) },
        });
        const until = new Date(Date.now() + 120_000);
        gateway!.maintenance.start({ until, message: 'm' });
        await send(`${url}/some/path?q=1`, { method: 'DELETE' });
        gateway!.maintenance.stop();
        expect(events.map(([k]) => k)).toEqual([
          'start',
          `channel ${CHANNELS.maintenanceStart}`,
          'answer',
          `channel ${CHANNELS.maintenanceAnswer}`,
          'stop',
          `channel ${CHANNELS.maintenanceStop}`,
        ]);
        expect(events[0]![1]).toMatchObject({ until: until.toISOString(), message: 'm' });
        expect(events[2]![1]).toMatchObject({ method: 'DELETE', path: '/some/path' });
        expect(events[2]![1].retryAfter).toBeGreaterThan(100);
        expect(events[4]![1].duration).toBeGreaterThanOrEqual(0);
        expect(lines).toEqual([`warn gateway-errors: maintenance on until ${until.toISOString()}`, expect.stringMatching(/^info gateway-errors: maintenance off after \d+ s$/)]);
      } finally {
        for (const c of channels) diagnostics.unsubscribe(c, onChannel);
      }
    });

    it('turns a bad window away loudly at start(), naming the option', async () => {
      const { gateway } = await app();
      expect(() => gateway!.maintenance.start({ until: 'at two' })).toThrow(/`maintenance.start\(\).until` must be a valid Date/);
      expect(() => gateway!.maintenance.start({ retryAfter: 90_000 })).toThrow(TypeError);
      expect(gateway!.maintenance.state()).toEqual({ active: false });
    });
  });
}

for (const adapter of ADAPTERS) describeMaintenance(adapter);
