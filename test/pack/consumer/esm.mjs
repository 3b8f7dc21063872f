/**
 * An ES module app using the packed package by its own name, as `import` users do.
 */
import assert from 'node:assert/strict';
import express from 'express';
import Koa from 'koa';
import * as core from 'gateway-errors';
import * as forExpress from 'gateway-errors/express';
import * as forKoa from 'gateway-errors/koa';
import { closedPort, expectRefused } from './harness.cjs';

assert.equal(typeof core.classifyError, 'function');
assert.equal(core.RETRY_DEFAULTS.retries, 2);
assert.equal(typeof forExpress.gatewayErrors, 'function');
assert.equal(typeof forExpress.gatewayProxy, 'function');
assert.equal(typeof forKoa.gatewayErrors, 'function');
assert.equal(typeof forKoa.gatewayProxy, 'function');

const target = `http://127.0.0.1:${await closedPort()}`;

{
  const retried = [];
  const app = express();
  const gateway = forExpress.gatewayErrors({ proxyName: 'esm-express' });
  app.use(gateway);
  app.use('/api', forExpress.gatewayProxy({
    target,
    // per-route policy: one quick retry for GET, none otherwise
    retry: (req) => (req.method === 'GET' ? { retries: 1, baseDelay: 0 } : false),
    onRetry: (event) => retried.push(event.attempt),
  }));
  app.use(gateway.errorHandler);
  await expectRefused('esm express', app, '/api/items', 'esm-express');
  assert.deepEqual(retried, [1], 'esm express: the function-form policy retried once');
}

{
  const app = new Koa();
  app.use(forKoa.gatewayErrors({ proxyName: 'esm-koa' }));
  app.use(forKoa.gatewayProxy({ target, pathFilter: '/api', retry: false }));
  await expectRefused('esm koa', app.callback(), '/api/items', 'esm-koa');
}
