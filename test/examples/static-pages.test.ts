/**
 * examples/static-pages as a user runs it: export the pages with the CLI, serve them from real
 * nginx with the example's own server block, and take the gateway away. nginx must answer with
 * the branded page (or problem+json), the placeholders filled and the exported CSP satisfied.
 * .ci/run installs nginx; elsewhere the test skips when nginx is absent.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { send } from '../support/client.js';
import { closedPort, startFaultKit, type FaultKit } from '../support/fault-kit.js';
import { NGINX, startNginx, type RunningNginx } from '../support/nginx.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/static-pages/nginx.conf', import.meta.url));
const hasNginx = NGINX !== undefined;
if (!hasNginx && process.env.CI) throw new Error('nginx is missing: .ci/run installs it (apt-get install nginx-light)');

describe.skipIf(!hasNginx)('examples/static-pages behind nginx', () => {
  let dir: string;
  let kit: FaultKit;
  let nginx: RunningNginx | undefined;
  let url: string;
  let csp: string;
  let maintenanceFlag: string;
  let maintenanceCsp: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ge-static-'));
    kit = await startFaultKit();
    const out = path.join(dir, 'pages');
    writeFileSync(path.join(dir, 'brand.json'), JSON.stringify({ name: 'Acme Static', support: 'help@acme.example' }));
    const sink = { out: () => undefined, err: (t: string) => void process.stderr.write(t) };
    const args = ['export', '--out', out, '--brand', path.join(dir, 'brand.json'), '--request-id', '__REQUEST_ID__', '--time', '__TIME__'];
    expect(main(args, sink)).toBe(0);
    const headers = JSON.parse(readFileSync(path.join(out, 'headers.json'), 'utf8')) as Record<string, Record<string, string>>;
    csp = headers['502.html']!['Content-Security-Policy'] ?? headers['502.html']!['content-security-policy']!;
    expect(csp).toContain("style-src 'sha256-");

    // The example's server block, with this machine's ports and paths: the "app" behind nginx is
    // a closed port (the gateway is down) or the fault kit's hanging route (a read timeout).
    const port = await closedPort();
    const dead = await closedPort();
    const server = readFileSync(EXAMPLE, 'utf8')
      .replace('listen 8080;', `listen 127.0.0.1:${port};`)
      .replace('proxy_pass http://127.0.0.1:3000;', `proxy_pass http://127.0.0.1:${dead};`)
      .replace(
        'location ^~ /_gateway-errors/ {',
        `location = /slow {\n        proxy_pass ${kit.url}/hang;\n        proxy_read_timeout 1s;\n` +
          '        error_page 504 /_gateway-errors/504.$gateway_error_ext;\n    }\n\n    location ^~ /_gateway-errors/ {',
      )
      .replace('alias /var/www/gateway-errors/;', `alias ${out}/;`)
      .replace('-f /var/www/gateway-errors/maintenance.on', `-f ${out}/maintenance.on`)
      .replace("PASTE-FROM-headers.json: the Content-Security-Policy of maintenance.html", headers['maintenance.html']!['Content-Security-Policy']!)
      .replace(/style-src 'sha256-PASTE-FROM-headers\.json'; script-src 'none'/, csp.replace(/^.*?(style-src [^;]+; script-src [^;]+).*$/, '$1'));
    maintenanceFlag = path.join(out, 'maintenance.on');
    maintenanceCsp = headers['maintenance.html']!['Content-Security-Policy']!;
    expect(server).not.toContain('PASTE-FROM');
    nginx = await startNginx(server, port);
    url = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await nginx?.stop();
    await kit?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers a refused gateway with the branded 502 page, reference and time filled in', async () => {
    const r = await send(`${url}/checkout`, { headers: { accept: 'text/html' } });
    expect(r.status).toBe(502);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['content-security-policy']).toContain(csp.match(/style-src [^;]+/)![0]);
    expect(r.headers['retry-after']).toBeUndefined();
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.body).toContain('Acme Static');
    expect(r.body).not.toContain('__REQUEST_ID__');
    expect(r.body).not.toContain('__TIME__');
    expect(r.body).toContain(String(r.headers['x-request-id']));
  });

  it('gives JSON clients the exported problem+json with the request id', async () => {
    const r = await send(`${url}/api/orders`, { headers: { accept: 'application/json' } });
    expect(r.status).toBe(502);
    expect(r.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    const problem = JSON.parse(r.body) as Record<string, unknown>;
    expect(problem).toMatchObject({ status: 502, title: 'Bad Gateway' });
    expect(problem.requestId).toBe(r.headers['x-request-id']);
  });

  it('answers everything with the maintenance page while the flag file exists, and stops when it is gone', async () => {
    writeFileSync(maintenanceFlag, '');
    try {
      const r = await send(`${url}/checkout`, { headers: { accept: 'text/html' } });
      expect(r.status).toBe(503);
      expect(r.headers['retry-after']).toBe('30');
      expect(r.headers['content-security-policy']).toBe(maintenanceCsp);
      expect(r.body).toContain('<h1>We are doing some planned maintenance</h1>');
      const json = await send(`${url}/api/orders`, { headers: { accept: 'application/json' } });
      expect(JSON.parse(json.body)).toMatchObject({ status: 503, maintenance: {} });
    } finally {
      rmSync(maintenanceFlag);
    }
    expect((await send(`${url}/checkout`, { headers: { accept: 'text/html' } })).status).toBe(502);
  });

  it('answers a gateway that does not answer in time with the 504 page', async () => {
    const r = await send(`${url}/slow`, { headers: { accept: 'text/html' }, timeout: 10_000 });
    expect(r.status).toBe(504);
    expect(r.body).toContain('Acme Static');
    expect(r.body).toMatch(/<html lang="en"/);
  });
});
