/**
 * Real Express and Koa apps built from one description, so the scenario suite runs unchanged
 * against each adapter (and each framework major).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import type { GatewayErrorsOptions } from '../../src/core/options.js';
import * as expressAdapter from '../../src/express/index.js';
import * as koaAdapter from '../../src/koa/index.js';
import { closedPort } from './fault-kit.js';

const require = createRequire(import.meta.url);

export interface AppSpec {
  /** gatewayErrors() options, or false to leave it out. */
  errors?: GatewayErrorsOptions | false;
  /** Parse JSON bodies before the proxies (express.json() / koa-bodyparser). */
  parseJson?: boolean;
  /** Proxies in order; each `pathFilter`s its own prefix. */
  proxies: Array<{ prefix: string; options: Record<string, unknown> }>;
}

export interface MountedApp {
  url: string;
  close(): Promise<void>;
  /** The app's gatewayErrors(), for its maintenance switch (absent with `errors: false`). */
  gateway?: { maintenance: import('../../src/core/answer/maintenance.js').MaintenanceSwitch };
}

export type Mount = (spec: AppSpec) => Promise<MountedApp>;

/** A request listener on a real server on 127.0.0.1; close() cuts every connection. */
export async function listen(handler: http.RequestListener): Promise<MountedApp> {
  const server = http.createServer(handler);
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A rate limit thrown the way http-errors / ctx.throw(429, { headers }) make one. */
function rateLimited(): Error {
  return Object.assign(new Error('slow down'), { status: 429, expose: true, headers: { 'Retry-After': '12' } });
}

/** Errors routes use: a fetch to a closed port (TypeError with cause ECONNREFUSED) and a plain bug. */
export interface Throwers {
  refused: () => Promise<never>;
}

/** A real `fetch` to a closed port: rejects with TypeError('fetch failed') caused by ECONNREFUSED. */
async function fetchRefused(): Promise<never> {
  const port = await closedPort();
  await fetch(`http://127.0.0.1:${port}/`);
  throw new Error('expected fetch to fail');
}

/** Express (`express` = 5, or `express4`). */
export function expressMount(pkg: 'express' | 'express4' = 'express', throwers?: Throwers): Mount {
  const express = require(pkg) as typeof import('express');
  return async (spec) => {
    const app = express();
    const gateway = spec.errors === false ? undefined : expressAdapter.gatewayErrors(spec.errors);
    if (gateway) app.use(gateway);
    if (spec.parseJson) app.use(express.json());
    for (const p of spec.proxies) app.use(expressAdapter.gatewayProxy({ pathFilter: p.prefix, ...p.options } as never));
    app.get('/own-503', (_req, res) => {
      res.set('Retry-After', '7').status(503).json({ mine: true });
    });
    app.get('/own-502', (_req, res) => {
      res.sendStatus(502);
    });
    app.get('/own-502-soon', (_req, res) => {
      res.set('Retry-After', 'soon').status(502).json({ mine: true });
    });
    app.get('/throw-refused', (_req, _res, next) => {
      (throwers?.refused ?? fetchRefused)().catch(next);
    });
    app.get('/throw-bug', () => {
      throw new Error('a bug');
    });
    app.get('/own-429', (_req, res) => {
      res.set('Retry-After', '12').status(429).json({ mine: 429 });
    });
    app.get('/own-500', (_req, res) => {
      res.status(500).json({ mine: 500 });
    });
    app.get('/throw-429', () => {
      throw rateLimited();
    });
    if (gateway) app.use(gateway.errorHandler);
    app.use((err: Error & { status?: number; headers?: Record<string, string> }, _req: unknown, res: import('express').Response, _next: unknown) => {
      if (err.headers) res.set(err.headers);
      res.status(err.status ?? 500).type('text/plain').send(`app handler: ${err.message}`);
    });
    return { ...(await listen(app)), ...(gateway && { gateway }) };
  };
}

/** Koa (`koa` = 3, or `koa2`). */
export function koaMount(pkg: 'koa' | 'koa2' = 'koa', throwers?: Throwers): Mount {
  const Koa = require(pkg) as typeof import('koa');
  const bodyParser = require('koa-bodyparser') as typeof import('koa-bodyparser');
  return async (spec) => {
    const app = new Koa();
    app.silent = true;
    // The app's own last-resort handler, so "other errors keep their normal handling" is visible.
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (err) {
        const e = err as Error & { status?: number; headers?: Record<string, string> };
        if (e.headers) ctx.set(e.headers);
        ctx.status = e.status ?? 500;
        ctx.type = 'text/plain';
        ctx.body = `app handler: ${e.message}`;
      }
    });
    const gateway = spec.errors === false ? undefined : koaAdapter.gatewayErrors(spec.errors);
    if (gateway) app.use(gateway);
    if (spec.parseJson) app.use(bodyParser());
    for (const p of spec.proxies) app.use(koaAdapter.gatewayProxy({ pathFilter: p.prefix, ...p.options } as never));
    app.use(async (ctx) => {
      if (ctx.path === '/own-503') {
        ctx.set('Retry-After', '7');
        ctx.status = 503;
        ctx.body = { mine: true };
      } else if (ctx.path === '/own-502') {
        ctx.status = 502;
      } else if (ctx.path === '/own-502-soon') {
        ctx.set('Retry-After', 'soon');
        ctx.status = 502;
        ctx.body = { mine: true };
      } else if (ctx.path === '/throw-refused') {
        await (throwers?.refused ?? fetchRefused)();
      } else if (ctx.path === '/throw-bug') {
        throw new Error('a bug');
      } else if (ctx.path === '/own-429') {
        ctx.set('Retry-After', '12');
        ctx.status = 429;
        ctx.body = { mine: 429 };
      } else if (ctx.path === '/own-500') {
        ctx.status = 500;
        ctx.body = { mine: 500 };
      } else if (ctx.path === '/throw-429') {
        throw rateLimited();
      }
    });
    return { ...(await listen(app.callback())), ...(gateway && { gateway }) };
  };
}
