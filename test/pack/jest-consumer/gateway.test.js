'use strict';
/**
 * A plain Jest test of a CommonJS Express app: no "type": "module", no Babel or ESM options,
 * Jest's defaults. Jest's CommonJS runtime cannot require() an ES module before Node 24.9, so
 * this only passes when `require('gateway-errors/express')` gets the CommonJS build.
 */
const http = require('node:http');
const express = require('express');
const { gatewayErrors, gatewayProxy } = require('gateway-errors/express');

/** Listen on 127.0.0.1 on a free port; resolves to the server. */
function listen(handler) {
  const server = http.createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function close(server) {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(resolve));
}

/** One GET; resolves to { status, headers, body }. */
function get(url, headers) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

let upstream;
let gateway;
let base;

beforeAll(async () => {
  upstream = await listen((req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`upstream saw ${req.url}`));
  // A port that refuses connections: bound once, then closed.
  const probe = await listen(() => {});
  const refusedPort = probe.address().port;
  await close(probe);

  const app = express();
  const errors = gatewayErrors({ brand: { name: 'Jest Consumer Co' }, proxyName: 'jest-gateway' });
  app.use(errors);
  app.use('/down', gatewayProxy({ target: `http://127.0.0.1:${refusedPort}`, retry: false }));
  app.use('/up', gatewayProxy({ target: `http://127.0.0.1:${upstream.address().port}`, retry: false }));
  app.use(errors.errorHandler);
  gateway = await listen(app);
  base = `http://127.0.0.1:${gateway.address().port}`;
});

afterAll(async () => {
  await close(gateway);
  await close(upstream);
});

test('require() resolves to the CommonJS build', () => {
  expect(require.resolve('gateway-errors/express')).toMatch(/index\.cjs$/);
});

test('a refused upstream gets the branded 502 page', async () => {
  const res = await get(`${base}/down/items`, { accept: 'text/html' });
  expect(res.status).toBe(502);
  expect(res.headers['proxy-status']).toBe('jest-gateway; error=connection_refused');
  expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(res.body).toContain('Jest Consumer Co'); // the built-in templates were found
});

test('a refused upstream gets problem+json for JSON clients', async () => {
  const res = await get(`${base}/down/items`, { accept: 'application/json' });
  expect(res.status).toBe(502);
  expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  expect(JSON.parse(res.body)).toMatchObject({ status: 502 });
});

test('a live upstream is proxied', async () => {
  const res = await get(`${base}/up/items?q=1`, { accept: 'text/plain' });
  expect(res.status).toBe(200);
  expect(res.body).toBe('upstream saw /items?q=1');
});
