/**
 * The Express interceptor next to what real Express apps have around it: mounted sub-apps (which
 * swap the response's prototype), middleware that wraps the response's methods before or after
 * gatewayErrors() (morgan through on-headers, compression), a handler's explicit writeHead(503),
 * and an app without gatewayErrors() in the same process, which must stay untouched. Express 5
 * and Express 4, real servers, a real client.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import compression from 'compression';
import morgan from 'morgan';
import { afterAll, describe, expect, it } from 'vitest';
import { gatewayErrors } from '../../src/express/index.js';
import { ADAPTERS, MATRIX_ADAPTERS } from '../support/apps.js';
import { send } from '../support/client.js';

const require = createRequire(import.meta.url);
const JSON_ACCEPT = { accept: 'application/json' };
type Express = typeof import('express');

const servers: http.Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function listen(app: http.RequestListener): Promise<string> {
  const server = http.createServer(app);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The routes every app below serves after its middleware. */
function routes(express: Express): import('express').Router {
  const router = express.Router();
  router.get('/send-status', (_req, res) => void res.sendStatus(503));
  router.get('/write-head', (_req, res) => {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('handler body');
  });
  router.get('/ok', (_req, res) => void res.send('fine'));
  return router;
}

function expectBranded(r: { status: number; headers: http.IncomingHttpHeaders; body: string }): void {
  expect(r.status).toBe(503);
  expect(r.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  expect(JSON.parse(r.body).status).toBe(503);
  expect(r.headers['retry-after']).toBe('30');
}

for (const { name, pkg } of [...ADAPTERS, ...MATRIX_ADAPTERS].filter((a) => a.kind === 'express')) {
  describe(`gatewayErrors() among other Express middleware (${name})`, () => {
    const express = require(pkg) as Express;

    // First in its describe: the first request through gatewayErrors() on this copy of Express is
    // the one that finds morgan's and compression's wrappers made before ours existed.
    it('brands behind morgan and compression mounted first, for the first request and the next', async () => {
      const lines: string[] = [];
      const app = express();
      app.use(morgan(':method :url :status', { stream: { write: (l: string) => void lines.push(l.trim()) } }));
      app.use(compression({ threshold: 0 }));
      app.use(gatewayErrors());
      app.use(routes(express));
      const url = await listen(app);
      for (let i = 0; i < 2; i++) {
        for (const path of ['/write-head', '/send-status']) {
          const r = await send(`${url}${path}`, { headers: JSON_ACCEPT });
          expectBranded(r);
          expect(r.body).not.toContain('handler body');
        }
      }
      const ok = await send(`${url}/ok`, { headers: { 'accept-encoding': 'identity' } });
      expect(ok.body).toBe('fine');
      // morgan saw the status that went out.
      expect(lines.filter((l) => l.includes('503'))).toHaveLength(4);
    });

    it('brands a 503 written inside a mounted sub-app', async () => {
      const app = express();
      app.use(gatewayErrors());
      const sub = express();
      sub.use(routes(express));
      app.use('/sub', sub);
      const url = await listen(app);
      for (const path of ['/sub/send-status', '/sub/write-head']) expectBranded(await send(`${url}${path}`, { headers: JSON_ACCEPT }));
      expect((await send(`${url}/sub/ok`)).body).toBe('fine');
    });

    it('brands with compression mounted after it: the branded answer goes out whole, uncompressed', async () => {
      const app = express();
      app.use(gatewayErrors());
      app.use(compression({ threshold: 0 }));
      app.use(routes(express));
      const url = await listen(app);
      for (const path of ['/write-head', '/send-status']) {
        const r = await send(`${url}${path}`, { headers: { ...JSON_ACCEPT, 'accept-encoding': 'gzip' } });
        expectBranded(r);
        expect(r.complete).toBe(true);
        expect(r.headers['content-encoding']).toBeUndefined();
        expect(Number(r.headers['content-length'])).toBe(r.bytes.length);
      }
      // Answers that are not gateway errors are still compressed.
      const ok = await send(`${url}/ok`, { headers: { 'accept-encoding': 'gzip' } });
      expect(ok.headers['content-encoding']).toBe('gzip');
    });

    it('leaves an app without gatewayErrors() in the same process alone', async () => {
      const branded = express();
      branded.use(gatewayErrors());
      branded.use(routes(express));
      const plain = express();
      plain.use(routes(express));
      const [a, b] = await Promise.all([listen(branded), listen(plain)]);
      expectBranded(await send(`${a}/send-status`, { headers: JSON_ACCEPT }));
      const r = await send(`${b}/send-status`, { headers: JSON_ACCEPT });
      expect(r.status).toBe(503);
      expect(r.body).toBe('Service Unavailable');
      expect(r.headers['proxy-status']).toBeUndefined();
      const w = await send(`${b}/write-head`);
      expect(w.body).toBe('handler body');
    });
  });
}
