/**
 * The owner's view of the error page (README, "The owner's view"): for requests the `diagnose`
 * predicate allows, the page, the problem+json and the text carry the diagnosis; every other
 * request gets exactly what it got before, with nothing of it. Real Express 5 and Koa 3 apps, a
 * real refused port.
 */
import { afterEach, expect, it } from 'vitest';
import { forEachAdapter, type Mount, type MountedApp } from '../support/apps.js';
import { send } from '../support/client.js';
import { closedPort } from '../support/fault-kit.js';

const TOKEN = 'let-me-see';
const allowed = (r: { get(name: string): string }) => r.get('x-staff-token') === TOKEN;
const FORMATS = {
  html: { accept: 'text/html' },
  json: { accept: 'application/json' },
  text: { accept: 'text/plain' },
} as const;

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function mount(m: Mount, errors: Record<string, unknown>, options: Record<string, unknown>): Promise<MountedApp> {
  const app = await m({ errors, proxies: [{ prefix: '/api', options }] });
  cleanup.push(() => app.close());
  return app;
}

forEachAdapter('the owner view on $name', ({ mount: m }) => {
  it('shows the allowed request which target, each attempt, the breaker and what to check, in HTML, JSON and text', async () => {
    const port = await closedPort();
    const target = `http://127.0.0.1:${port}`;
    const app = await mount(m, { diagnose: allowed }, { target, retry: { retries: 2, baseDelay: 0, maxDelay: 0 } });
    const json = await send(`${app.url}/api/x`, { headers: { ...FORMATS.json, 'x-staff-token': TOKEN } });
    expect(json.status).toBe(502);
    // The headers stay what every client gets: details only with `expose`.
    expect(json.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
    const d = JSON.parse(json.body).diagnosis;
    expect(d).toMatchObject({
      upstream: target,
      target,
      reason: 'retries_exhausted',
      circuit: 'closed',
      proxyStatus: 'gateway-errors; error=connection_refused; details="ECONNREFUSED"',
      cause: { code: 'ECONNREFUSED' },
    });
    expect(d.attempts.map((a: { attempt: number; target: string; result: string }) => [a.attempt, a.target, a.result])).toEqual([
      [1, target, 'connection_refused'],
      [2, target, 'connection_refused'],
      [3, target, 'connection_refused'],
    ]);
    for (const a of d.attempts) expect(a.ms).toBeGreaterThanOrEqual(0);
    expect(d.hints[0]).toMatch(/Nothing listens/);
    expect(d.hints.join(' ')).toMatch(/firewall/i);

    const html = await send(`${app.url}/api/x`, { headers: { ...FORMATS.html, 'x-staff-token': TOKEN } });
    expect(html.body).toContain('<h2 id="diagnosis">Diagnosis</h2>');
    expect(html.body).toContain(`<code>${target}</code>`);
    expect(html.body).toContain('<code>connection_refused</code>');
    expect(html.body).toContain('What to check');
    expect(html.body).toContain('details=&quot;ECONNREFUSED&quot;');
    expect(html.body).not.toMatch(/style="/); // the page's CSP allows no inline style attributes

    const text = await send(`${app.url}/api/x`, { headers: { ...FORMATS.text, 'x-staff-token': TOKEN } });
    expect(text.body).toContain(`Attempt 1: ${target} connection_refused after`);
    expect(text.body).toContain('What to check:');
  });

  it.each([
    ['no token', {}],
    ['a wrong token', { 'x-staff-token': 'guess' }],
  ] as const)('gives a request with %s nothing of it: no address, no attempts, in HTML, JSON or text', async (_what, headers) => {
    const port = await closedPort();
    const app = await mount(m, { diagnose: allowed }, { target: `http://127.0.0.1:${port}`, retry: { retries: 2, baseDelay: 0, maxDelay: 0 } });
    const plain = await mount(m, {}, { target: `http://127.0.0.1:${port}`, retry: { retries: 2, baseDelay: 0, maxDelay: 0 } });
    for (const accept of Object.values(FORMATS)) {
      const r = await send(`${app.url}/api/x`, { headers: { ...accept, ...headers } });
      expect(r.status).toBe(502);
      for (const secret of [String(port), '127.0.0.1', 'ECONNREFUSED', 'connection_refused</code>', 'Attempt', 'attempts', 'retries_exhausted', 'What to check']) {
        expect(r.body).not.toContain(secret);
      }
      expect(r.body).not.toMatch(/diagnos/i);
      // The same answer as an app without the option, but for the request id and the time.
      const same = await send(`${plain.url}/api/x`, { headers: { ...accept, ...headers, 'x-request-id': 'fixed' } });
      const mine = await send(`${app.url}/api/x`, { headers: { ...accept, ...headers, 'x-request-id': 'fixed' } });
      const strip = (s: string) => s.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'T').replace(/<time[^>]*>[^<]*<\/time>|\d{1,2} \w{3} \d{4}, [\d:]+ UTC/g, 'T');
      expect(strip(mine.body)).toBe(strip(same.body));
    }
  });

  it('opens nothing when the predicate throws', async () => {
    const port = await closedPort();
    const app = await mount(m, { diagnose: () => { throw new Error('no'); } }, { target: `http://127.0.0.1:${port}`, retry: false });
    const r = await send(`${app.url}/api/x`, { headers: FORMATS.json });
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body).diagnosis).toBeUndefined();
  });

  it('diagnoses a thrown upstream error (fetch to a refused port) with its Proxy-Status details and hints', async () => {
    const app = await mount(m, { diagnose: allowed }, { target: `http://127.0.0.1:${await closedPort()}` });
    const r = await send(`${app.url}/throw-refused`, { headers: { ...FORMATS.json, 'x-staff-token': TOKEN } });
    expect(r.status).toBe(502);
    const d = JSON.parse(r.body).diagnosis;
    expect(d.proxyStatus).toBe('gateway-errors; error=connection_refused; details="ECONNREFUSED"');
    expect(d.attempts).toBeUndefined();
    expect(d.hints.length).toBeGreaterThan(0);
  });

  it('shows the breaker open and every target health for a group of targets', async () => {
    const targets = [`http://127.0.0.1:${await closedPort()}`, `http://127.0.0.1:${await closedPort()}`];
    const app = await mount(m, { diagnose: allowed }, { targets, retry: { retries: 1, baseDelay: 0, maxDelay: 0 }, circuit: { consecutiveFailures: 1, halfOpenAfter: 60_000 } });
    const first = JSON.parse((await send(`${app.url}/api/x`, { headers: { ...FORMATS.json, 'x-staff-token': TOKEN } })).body).diagnosis;
    expect(first.upstream).toBe(targets.join(','));
    expect(new Set(first.attempts.map((a: { target: string }) => a.target))).toEqual(new Set(targets));
    expect(first.targets.map((t: { url: string }) => t.url)).toEqual(targets);
    const second = await send(`${app.url}/api/x`, { headers: { ...FORMATS.json, 'x-staff-token': TOKEN } });
    expect(second.status).toBe(503);
    const d = JSON.parse(second.body).diagnosis;
    expect(d).toMatchObject({ circuit: 'open', reason: 'circuit_open', attempts: [] });
    expect(d.hints[0]).toMatch(/breaker/);
  });
});
