// @ts-nocheck -- type-checked in the packed app by scripts/pack-test.mjs (which drops this line), not in the repository, where 'gateway-errors' is not installed
/**
 * A strict TypeScript app (module NodeNext) using the packed package: it must type-check with
 * no casts anywhere, and then run. What it proves about the published types:
 * - the option types accept their documented defaults, and reject wrong types;
 * - the per-route `retry` function receives the framework's own request type;
 * - both adapters' middleware fit `app.use` as they are, on plain and on typed apps.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request } from 'express';
import Koa, { type Context } from 'koa';
import {
  GATEWAY_DEFAULTS,
  PROXY_DEFAULTS,
  RETRY_DEFAULTS,
  classifyError,
  type Failure,
  type GatewayErrorsOptions,
  type GatewayProxyExtras,
  type GatewayStatus,
  type ProxyErrorType,
  type RetryPolicy,
} from 'gateway-errors';
import * as forExpress from 'gateway-errors/express';
import * as forKoa from 'gateway-errors/koa';

/** Compile-time equality of two types. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_: T): void {}

// --- options types with their documented defaults ---------------------------------------------

const defaultPolicy: Required<RetryPolicy> = {
  retries: RETRY_DEFAULTS.retries,
  methods: RETRY_DEFAULTS.methods,
  idempotencyKey: RETRY_DEFAULTS.idempotencyKey,
  statuses: RETRY_DEFAULTS.statuses,
  baseDelay: RETRY_DEFAULTS.baseDelay,
  maxDelay: RETRY_DEFAULTS.maxDelay,
  maxRetryAfter: RETRY_DEFAULTS.maxDelay, // documented: equals maxDelay
  bodyLimit: RETRY_DEFAULTS.bodyLimit,
};
assert.deepEqual(
  { ...defaultPolicy, methods: [...defaultPolicy.methods], statuses: [...defaultPolicy.statuses] },
  {
    retries: 2,
    methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'],
    idempotencyKey: 'idempotency-key',
    statuses: [502, 503, 504],
    baseDelay: 100,
    maxDelay: 2000,
    maxRetryAfter: 2000,
    bodyLimit: 1048576,
  },
  'RETRY_DEFAULTS are the documented defaults',
);

const defaultErrors: GatewayErrorsOptions = {
  proxyName: GATEWAY_DEFAULTS.proxyName,
  retryAfter: GATEWAY_DEFAULTS.retryAfter,
  expose: GATEWAY_DEFAULTS.expose,
  keepUpstreamBody: GATEWAY_DEFAULTS.keepUpstreamBody,
};
assert.deepEqual(
  defaultErrors,
  { proxyName: 'gateway-errors', retryAfter: 30, expose: false, keepUpstreamBody: false },
  'GATEWAY_DEFAULTS are the documented defaults',
);

const timing: GatewayProxyExtras = {
  connectTimeout: PROXY_DEFAULTS.connectTimeout,
  responseTimeout: PROXY_DEFAULTS.responseTimeout,
  retry: defaultPolicy,
};
assert.equal(timing.connectTimeout, 5000);
assert.equal(timing.responseTimeout, 30000);

const refused: Failure | undefined = classifyError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
const status: GatewayStatus | undefined = refused?.status;
const type: ProxyErrorType | undefined = refused?.error;
assert.equal(status, 502);
assert.equal(type, 'connection_refused');

// --- per-route function form: the framework's own request type ------------------------------

type RetryFn<O> = Extract<NonNullable<O extends { retry?: infer R } ? R : never>, (...args: never[]) => unknown>;
expectType<Equal<Parameters<RetryFn<forExpress.GatewayProxyOptions>>[0], Request>>(true);
expectType<Equal<Parameters<RetryFn<forKoa.GatewayProxyOptions>>[0], Context>>(true);

// --- wrong types are compile errors (and, for plain-JS callers, TypeErrors at creation) -------

assert.throws(
  // @ts-expect-error `retries` is a number
  () => forExpress.gatewayProxy({ target: 'http://127.0.0.1:9', retry: { retries: '2' } }),
  TypeError,
);
assert.throws(
  // @ts-expect-error a policy, false, or a function returning one of those
  () => forKoa.gatewayProxy({ target: 'http://127.0.0.1:9', retry: 3 }),
  TypeError,
);
assert.throws(
  // @ts-expect-error `proxyName` is a string
  () => forExpress.gatewayErrors({ proxyName: 5 }),
  TypeError,
);
// @ts-expect-error the function form returns a policy or false, not a number
const badRetryFn: forExpress.GatewayProxyOptions['retry'] = () => 2;
void badRetryFn;

// --- real apps: middleware fits app.use without casts ----------------------------------------

async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function expectRefused(label: string, handler: http.RequestListener, path: string, proxyName: string): Promise<void> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
    await res.text();
    assert.equal(res.status, 502, `${label}: status`);
    assert.equal(res.headers.get('proxy-status'), `${proxyName}; error=connection_refused`, `${label}: Proxy-Status`);
    console.log(`ok - ${label}: 502 with Proxy-Status ${res.headers.get('proxy-status')}`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const target = `http://127.0.0.1:${await closedPort()}`;

// Express: the README's shape, with the per-route function form typed by Express's Request.
{
  const seenPaths: string[] = [];
  const app = express();
  const gateway = forExpress.gatewayErrors({ ...defaultErrors, proxyName: 'ts-express' });
  app.use(gateway);
  app.use(express.json());
  app.use(
    '/api/search',
    forExpress.gatewayProxy({
      target,
      retry: (req) => {
        seenPaths.push(req.originalUrl); // Express's Request, not a bare IncomingMessage
        return req.method === 'GET' ? { retries: 1, baseDelay: 0 } : false;
      },
      onGiveUp: (event) => assert.equal(event.attempts, 2),
    }),
  );
  app.use('/api/orders', forExpress.gatewayProxy({ target, retry: false }));
  app.get('/weather', (_req, res) => {
    res.json({ sunny: true });
  });
  app.use(gateway.errorHandler);
  await expectRefused('ts express (function-form retry)', app, '/api/search?q=1', 'ts-express');
  await expectRefused('ts express (retry: false)', app, '/api/orders', 'ts-express');
  assert.deepEqual(seenPaths, ['/api/search?q=1']);

  // A router with typed locals takes the same middleware.
  const router = express.Router();
  router.use(gateway);
  router.use(forExpress.gatewayProxy({ target, pathFilter: '/typed' }));
  router.use(gateway.errorHandler);
  app.use(router);
}

// Koa: plain app, and an app with its own state and context types.
{
  const app = new Koa();
  app.use(forKoa.gatewayErrors({ proxyName: 'ts-koa' }));
  app.use(
    forKoa.gatewayProxy({
      target,
      pathFilter: '/api',
      retry: (ctx) => (ctx.path.startsWith('/api/search') ? { retries: 1, baseDelay: 0 } : false),
    }),
  );
  await expectRefused('ts koa (function-form retry)', app.callback(), '/api/search', 'ts-koa');

  interface State {
    user?: string;
  }
  interface Custom {
    requestStart: number;
  }
  const typed = new Koa<State, Custom>();
  typed.use(async (ctx, next) => {
    ctx.requestStart = Date.now();
    ctx.state.user = 'anonymous';
    await next();
  });
  typed.use(forKoa.gatewayErrors({ proxyName: 'ts-koa-typed' }));
  typed.use(forKoa.gatewayProxy({ target, retry: false }));
  await expectRefused('ts koa (typed app)', typed.callback(), '/anything', 'ts-koa-typed');
}
