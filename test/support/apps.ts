/**
 * The one way a test builds a real Express or Koa app around the gateway: one description
 * (`AppSpec`), one table of adapters (`ADAPTERS`: Express 5 and Koa 3; `MATRIX_ADAPTERS`: Express 4
 * and Koa 2, installed side by side), and `forEachAdapter` to run a suite once per entry. Every
 * app records the errors that reach the framework, so reliability suites can fail a test on an
 * `ERR_HTTP_HEADERS_SENT` that finalhandler or Koa's silent mode would otherwise swallow.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createRequire } from 'node:module';
import { describe } from 'vitest';
import type { GatewayErrorsOptions } from '../../src/core/options.js';
import * as expressAdapter from '../../src/express/index.js';
import * as koaAdapter from '../../src/koa/index.js';
import { closedPort } from './fault-kit.js';

const require = createRequire(import.meta.url);

/**
 * One app, in mount order: (Koa: the app's last-resort handler) → `before` → gatewayErrors() →
 * `parseJson` → `between` → `proxies` → `proxy` → the app's own routes (/own-503, /throw-bug, ...)
 * → (Express: the error recorder, gatewayErrors().errorHandler, the app's last-resort handler).
 */
export interface AppSpec {
  /**
   * The framework's own middleware ahead of gatewayErrors() (on Koa, inside the app's
   * last-resort handler): Express `RequestHandler`s or Koa `Middleware` for the row's kind.
   */
  before?: readonly unknown[];
  /** gatewayErrors() options, or false to leave it out. */
  errors?: GatewayErrorsOptions | false;
  /** Parse JSON bodies before the proxies (express.json() / koa-bodyparser). */
  parseJson?: boolean;
  /** The framework's own middleware between gatewayErrors() (and parseJson) and the proxies: body parsers, routes of the app's own. */
  between?: readonly unknown[];
  /** Proxies in order; each `pathFilter`s its own prefix. */
  proxies?: Array<{
    prefix: string;
    options: Record<string, unknown>;
    /** Express only: mount at the prefix (`app.use(prefix, proxy)`, which strips it from req.url) instead of a pathFilter. */
    mountPath?: boolean;
  }>;
  /** One gatewayProxy() on every path (no pathFilter), after `proxies`. */
  proxy?: Record<string, unknown>;
  /**
   * `server.on('upgrade', proxy.upgrade)` for each proxy, as http-proxy-middleware documents it;
   * without it only a proxy's own `ws: true` takes upgrades (after its first plain request).
   */
  upgrade?: boolean;
  /** The server's `maxHeaderSize` (Node's default is 16 KiB). */
  maxHeaderSize?: number;
  /** The server's `maxRequestsPerSocket` (Node's default, 0, is no limit). */
  maxRequestsPerSocket?: number;
}

export interface MountedApp {
  readonly url: string;
  readonly port: number;
  /** Every error that reached the framework (Express error handlers, Koa's 'error' event and last-resort handler, the server's 'clientError'). */
  readonly errors: unknown[];
  /** Client connections currently open at the app. */
  openConnections(): number;
  close(): Promise<void>;
  /** The app's gatewayErrors(), for its maintenance switch (absent with `errors: false`). */
  gateway?: { maintenance: import('../../src/core/answer/maintenance.js').MaintenanceSwitch };
}

export type Mount = (spec: AppSpec) => Promise<MountedApp>;

/** One row of the adapter table. */
export interface Adapter {
  /** 'Express 5', 'Koa 3', 'Express 4', 'Koa 2': what test titles say. */
  readonly name: string;
  readonly kind: 'express' | 'koa';
  /** The framework's package as installed (`express4` and `koa2` are the previous majors side by side). */
  readonly pkg: 'express' | 'express4' | 'koa' | 'koa2';
  /** The adapter's public functions, for tests that call gatewayErrors() / gatewayProxy() themselves. */
  readonly api: typeof expressAdapter | typeof koaAdapter;
  /** Build and start an app from an AppSpec. */
  readonly mount: Mount;
}

/**
 * Node's HTTP server reports these when a client hangs up or sends bytes that are not HTTP; a
 * server meets them every day and they say nothing about the gateway.
 */
const ROUTINE_CLIENT_ERRORS: ReadonlySet<string> = new Set([
  'ECONNRESET', // the client reset the connection
  'HPE_INVALID_EOF_STATE', // the client closed in the middle of a request
  'HPE_INVALID_METHOD', // garbage where a request line should be
  'HPE_INVALID_CONSTANT',
  'HPE_HEADER_OVERFLOW', // a head over maxHeaderSize (Node answers 431)
]);

/**
 * A request listener on a real server on 127.0.0.1; close() cuts every connection. Client errors
 * other than routine ones go into `errors`; `upgrades` are proxies whose `upgrade` takes the
 * server's 'upgrade' events.
 */
export async function listen(
  handler: http.RequestListener,
  errors: unknown[] = [],
  limits: Pick<AppSpec, 'maxHeaderSize' | 'maxRequestsPerSocket'> = {},
  upgrades: ReadonlyArray<{ upgrade: (...args: never[]) => unknown }> = [],
): Promise<MountedApp> {
  const server = http.createServer(limits.maxHeaderSize === undefined ? {} : { maxHeaderSize: limits.maxHeaderSize }, handler);
  if (limits.maxRequestsPerSocket !== undefined) server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  for (const p of upgrades) server.on('upgrade', p.upgrade as (...args: unknown[]) => void);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!ROUTINE_CLIENT_ERRORS.has(err.code ?? '')) errors.push(err);
    // What Node does without a listener: a 400 (431 for an oversized head) unless an answer
    // already began, then close.
    const pending = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    if (socket.writable && !pending?.headersSent) socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    errors,
    openConnections: () => sockets.size,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}

/** The spec's proxies in mount order, each with its mount path if any: each prefixed one, then the one on every path. */
function proxyOptions(spec: AppSpec): Array<{ path?: string; options: Record<string, unknown> }> {
  const list: Array<{ path?: string; options: Record<string, unknown> }> = (spec.proxies ?? []).map((p) => (p.mountPath ? { path: p.prefix, options: p.options } : { options: { pathFilter: p.prefix, ...p.options } }));
  if (spec.proxy) list.push({ options: spec.proxy });
  return list;
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
    const errors: unknown[] = [];
    const app = express();
    for (const m of spec.before ?? []) app.use(m as import('express').RequestHandler);
    const gateway = spec.errors === false ? undefined : expressAdapter.gatewayErrors(spec.errors);
    if (gateway) app.use(gateway);
    if (spec.parseJson) app.use(express.json());
    for (const m of spec.between ?? []) app.use(m as import('express').RequestHandler);
    const mounts = proxyOptions(spec).map(({ path, options }) => ({ path, proxy: expressAdapter.gatewayProxy(options as never) }));
    for (const { path, proxy } of mounts) {
      if (path === undefined) app.use(proxy);
      else app.use(path, proxy);
    }
    const proxies = mounts.map((m) => m.proxy);
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
    app.use((err: unknown, _req: unknown, _res: unknown, next: (err: unknown) => void) => {
      errors.push(err);
      next(err);
    });
    if (gateway) app.use(gateway.errorHandler);
    app.use((err: Error & { status?: number; headers?: Record<string, string> }, _req: unknown, res: import('express').Response, _next: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (err.headers) res.set(err.headers);
      res.status(err.status ?? 500).type('text/plain').send(`app handler: ${err.message}`);
    });
    const mounted = await listen(app, errors, spec, spec.upgrade ? proxies : []);
    return { ...mounted, ...(gateway && { gateway }) };
  };
}

/** Koa (`koa` = 3, or `koa2`). */
export function koaMount(pkg: 'koa' | 'koa2' = 'koa', throwers?: Throwers): Mount {
  const Koa = require(pkg) as typeof import('koa');
  const bodyParser = require('koa-bodyparser') as typeof import('koa-bodyparser');
  return async (spec) => {
    const errors: unknown[] = [];
    const app = new Koa();
    app.silent = true;
    app.on('error', (err: unknown) => errors.push(err));
    // The app's own last-resort handler, so "other errors keep their normal handling" is visible.
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (err) {
        errors.push(err);
        const e = err as Error & { status?: number; headers?: Record<string, string> };
        if (e.headers) ctx.set(e.headers);
        ctx.status = e.status ?? 500;
        ctx.type = 'text/plain';
        ctx.body = `app handler: ${e.message}`;
      }
    });
    for (const m of spec.before ?? []) app.use(m as import('koa').Middleware);
    const gateway = spec.errors === false ? undefined : koaAdapter.gatewayErrors(spec.errors);
    if (gateway) app.use(gateway);
    if (spec.parseJson) app.use(bodyParser());
    for (const m of spec.between ?? []) app.use(m as import('koa').Middleware);
    const proxies = proxyOptions(spec).map(({ path, options }) => {
      if (path !== undefined) throw new Error('mountPath is for Express; a Koa proxy takes a pathFilter');
      return koaAdapter.gatewayProxy(options as never);
    });
    for (const proxy of proxies) app.use(proxy);
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
    const mounted = await listen(app.callback(), errors, spec, spec.upgrade ? proxies : []);
    return { ...mounted, ...(gateway && { gateway }) };
  };
}

/** The frameworks every suite runs against. */
export const ADAPTERS: readonly Adapter[] = [
  { name: 'Express 5', kind: 'express', pkg: 'express', api: expressAdapter, mount: expressMount('express') },
  { name: 'Koa 3', kind: 'koa', pkg: 'koa', api: koaAdapter, mount: koaMount('koa') },
];

/** The previous majors, installed side by side as `express4` and `koa2`, for the matrix suites. */
export const MATRIX_ADAPTERS: readonly Adapter[] = [
  { name: 'Express 4', kind: 'express', pkg: 'express4', api: expressAdapter, mount: expressMount('express4') },
  { name: 'Koa 2', kind: 'koa', pkg: 'koa2', api: koaAdapter, mount: koaMount('koa2') },
];

/** The row of `ADAPTERS` or `MATRIX_ADAPTERS` with this name. */
export function adapterNamed(name: string): Adapter {
  const found = [...ADAPTERS, ...MATRIX_ADAPTERS].find((a) => a.name === name);
  if (!found) throw new Error(`no adapter named ${name}`);
  return found;
}

/**
 * One `describe` per adapter, titled with `$name` (for example 'stale-if-error on $name'), its
 * body given the row.
 */
export function forEachAdapter(title: string, body: (adapter: Adapter) => void, adapters: readonly Adapter[] = ADAPTERS): void {
  describe.each(adapters)(title, body);
}
