/**
 * An app that ends up with both copies of the package in one process: `import` loads the ES
 * module build, `require()` (here through createRequire, as a CommonJS dependency of the app
 * would) the CommonJS one. Whatever one copy's gatewayErrors() set up must hold for the other
 * copy's gatewayProxy(): the branded answer, and the raw request body it recorded.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import express from 'express';
import * as esm from 'gateway-errors/express';
import { closedPort } from './harness.cjs';

const require = createRequire(import.meta.url);
const cjs = require('gateway-errors/express');

assert.notEqual(esm.gatewayErrors, cjs.gatewayErrors, 'import and require() load two copies');
assert.match(require.resolve('gateway-errors/express'), /index\.cjs$/);
console.log('ok - import and require() load two copies');

/** An upstream on 127.0.0.1 that answers 200 with the exact bytes it received. */
async function echoUpstream() {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(Buffer.concat(chunks)));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

async function serve(app, fn) {
  const server = http.createServer(app);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await fn(`http://127.0.0.1:${server.address().port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const refused = `http://127.0.0.1:${await closedPort()}`;
const upstream = await echoUpstream();
const live = `http://127.0.0.1:${upstream.address().port}`;
const copies = { esm, cjs };

// Both directions, then the first again: each copy's gatewayErrors() patches Express's response
// prototype once, and the second must not break apps set up with the first.
for (const [errorsFrom, proxyFrom] of [['esm', 'cjs'], ['cjs', 'esm'], ['esm', 'cjs']]) {
  const label = `gatewayErrors() from ${errorsFrom}, gatewayProxy() from ${proxyFrom}`;
  const gateway = copies[errorsFrom].gatewayErrors({ proxyName: `dual-${errorsFrom}` });
  const app = express();
  app.use(gateway);
  // A parser before the proxy drains the body: the proxy must send the bytes gatewayErrors()
  // recorded, not a re-serialisation of req.body.
  app.use(express.json());
  app.use('/down', copies[proxyFrom].gatewayProxy({ target: refused, retry: false }));
  app.use('/up', copies[proxyFrom].gatewayProxy({ target: live, retry: false }));
  app.get('/busy', (req, res) => res.sendStatus(503));
  app.use(gateway.errorHandler);

  await serve(app, async (base) => {
    const down = await fetch(`${base}/down/items`, { headers: { accept: 'application/json' } });
    assert.equal(down.status, 502, `${label}: status`);
    assert.equal(down.headers.get('proxy-status'), `dual-${errorsFrom}; error=connection_refused`, `${label}: Proxy-Status`);
    assert.equal(down.headers.get('content-type'), 'application/problem+json; charset=utf-8', `${label}: Content-Type`);
    assert.equal((await down.json()).status, 502, `${label}: problem status`);

    const body = '{ "exact":   "bytes" }';
    const up = await fetch(`${base}/up/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(up.status, 200, `${label}: proxied status`);
    assert.equal(await up.text(), body, `${label}: the upstream got the recorded bytes`);

    const busy = await fetch(`${base}/busy`, { headers: { accept: 'application/json' } });
    assert.equal(busy.status, 503, `${label}: handler's 503`);
    assert.equal(busy.headers.get('content-type'), 'application/problem+json; charset=utf-8', `${label}: handler's 503 branded`);
  });
  console.log(`ok - ${label}: branded 502, byte-exact proxied 200, branded 503`);
}

upstream.close();
