'use strict';
/**
 * A CommonJS app loading the packed ESM package with require(), which Node supports from 20.19
 * (require of a synchronous ES module graph).
 */
const assert = require('node:assert/strict');
const express = require('express');
const Koa = require('koa');
const core = require('gateway-errors');
const { gatewayErrors, gatewayProxy } = require('gateway-errors/express');
const forKoa = require('gateway-errors/koa');
const { closedPort, expectRefused } = require('./harness.cjs');

assert.equal(typeof core.classifyError, 'function');
assert.equal(core.GATEWAY_DEFAULTS.proxyName, 'gateway-errors');
assert.equal(typeof forKoa.gatewayErrors, 'function');

async function main() {
  const target = `http://127.0.0.1:${await closedPort()}`;

  const app = express();
  const gateway = gatewayErrors({ proxyName: 'cjs-express' });
  app.use(gateway);
  app.use('/api', gatewayProxy({ target, retry: false }));
  app.use(gateway.errorHandler);
  await expectRefused('cjs express', app, '/api/items', 'cjs-express');

  const koa = new Koa();
  koa.use(forKoa.gatewayErrors({ proxyName: 'cjs-koa' }));
  koa.use(forKoa.gatewayProxy({ target, pathFilter: '/api', retry: false }));
  await expectRefused('cjs koa', koa.callback(), '/api/items', 'cjs-koa');
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
