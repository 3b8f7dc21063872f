/**
 * What the reliability suites share: watchers for what must never happen in the process
 * (warnings, unhandled rejections, errors that reach the framework), a handle census for leak
 * checks, and real Express 5 / Koa 3 apps that record every error reaching the framework.
 *
 * The apps mirror test/support/apps.ts (gatewayErrors first, one gatewayProxy, the app's own
 * last-resort handler) and add the one thing that file cannot give: a list of the errors the
 * framework saw, so `ERR_HTTP_HEADERS_SENT` and friends fail a test instead of vanishing into
 * finalhandler or Koa's silent mode.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import express from 'express';
import Koa from 'koa';
import * as expressAdapter from '../../src/express/index.js';
import * as koaAdapter from '../../src/koa/index.js';
import type { GatewayErrorsOptions } from '../../src/core/options.js';
import { delay } from '../support/client.js';

/** Everything the process said that a healthy gateway never says. */
export interface ProcessWatch {
  readonly warnings: Error[];
  readonly rejections: unknown[];
  /** Stop listening. Safe to call twice. */
  stop(): void;
}

/**
 * Collect `process` warnings (MaxListenersExceededWarning, a template warning, deprecations)
 * and unhandled rejections until `stop()`. Listeners are added, never replacing vitest's own.
 */
export function watchProcess(): ProcessWatch {
  const warnings: Error[] = [];
  const rejections: unknown[] = [];
  const onWarning = (w: Error): void => {
    // http-proxy 1.18.1 (under http-proxy-middleware 3) calls util._extend, which Node 22+
    // deprecates once per process (DEP0060): not ours, and the same for every HPM 3 user.
    if ((w as NodeJS.ErrnoException).code === 'DEP0060') return;
    warnings.push(w);
  };
  const onRejection = (reason: unknown): void => void rejections.push(reason);
  process.on('warning', onWarning);
  process.on('unhandledRejection', onRejection);
  return {
    warnings,
    rejections,
    stop() {
      process.off('warning', onWarning);
      process.off('unhandledRejection', onRejection);
    },
  };
}

/** `process.getActiveResourcesInfo()` as counts per kind, e.g. { TCPSocketWrap: 3, Timeout: 2 }. */
export function handleCensus(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** Kinds whose count is above the baseline: `{ kind: [baseline, now] }`. */
export function handlesAbove(baseline: Record<string, number>, now = handleCensus()): Record<string, [number, number]> {
  const above: Record<string, [number, number]> = {};
  for (const [kind, n] of Object.entries(now)) {
    const base = baseline[kind] ?? 0;
    if (n > base) above[kind] = [base, n];
  }
  return above;
}

/**
 * Poll until no kind of handle is above the baseline (keep-alive sockets close on the
 * upstream's keepAliveTimeout, so this takes a moment), then return what is still above: `{}`
 * when nothing leaked.
 */
export async function handlesSettled(baseline: Record<string, number>, ms = 3000): Promise<Record<string, [number, number]>> {
  const until = Date.now() + ms;
  let above = handlesAbove(baseline);
  while (Object.keys(above).length > 0 && Date.now() < until) {
    await delay(20);
    above = handlesAbove(baseline);
  }
  return above;
}

/** What a reliability app is built from. */
export interface GatewaySpec {
  /** gatewayErrors() options. */
  errors?: GatewayErrorsOptions;
  /** gatewayProxy() options; `target` is required. */
  proxy: Record<string, unknown>;
  /** Parse JSON bodies before the proxy (express.json() / koa-bodyparser). */
  parseJson?: boolean;
  /** The server's `maxHeaderSize` (Node's default is 16 KiB). */
  maxHeaderSize?: number;
}

export interface RecordingApp {
  readonly url: string;
  readonly port: number;
  /** Every error that reached the framework (Express error handlers, Koa's 'error' event, the server's 'clientError'). */
  readonly errors: unknown[];
  /** Client connections currently open at the gateway. */
  openConnections(): number;
  close(): Promise<void>;
}

export type RecordingMount = (spec: GatewaySpec) => Promise<RecordingApp>;

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

async function serve(handler: http.RequestListener, errors: unknown[], maxHeaderSize?: number): Promise<RecordingApp> {
  const server = http.createServer(maxHeaderSize === undefined ? {} : { maxHeaderSize }, handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // A client that hangs up or sends garbage is routine; anything else is worth a look.
    if (!ROUTINE_CLIENT_ERRORS.has(err.code ?? '')) errors.push(err);
    // What Node does without a listener: a 400 unless an answer already began, then close.
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

/** Express 5 with gatewayErrors() first, one gatewayProxy on every path, errorHandler last. */
export const recordingExpress: RecordingMount = async (spec) => {
  const errors: unknown[] = [];
  const app = express();
  const gateway = expressAdapter.gatewayErrors(spec.errors);
  app.use(gateway);
  if (spec.parseJson) app.use(express.json());
  app.use(expressAdapter.gatewayProxy(spec.proxy as never));
  app.use((err: unknown, _req: express.Request, _res: express.Response, next: express.NextFunction) => {
    errors.push(err);
    next(err);
  });
  app.use(gateway.errorHandler);
  app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    if (res.headersSent) return void res.destroy();
    res.status(500).type('text/plain').send(`app handler: ${err.message}`);
  });
  return serve(app, errors, spec.maxHeaderSize);
};

/** Koa 3 with the app's last-resort handler, gatewayErrors(), one gatewayProxy. */
export const recordingKoa: RecordingMount = async (spec) => {
  const errors: unknown[] = [];
  const app = new Koa();
  app.silent = true;
  app.on('error', (err: unknown) => errors.push(err));
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      errors.push(err);
      ctx.status = 500;
      ctx.type = 'text/plain';
      ctx.body = `app handler: ${(err as Error).message}`;
    }
  });
  app.use(koaAdapter.gatewayErrors(spec.errors));
  if (spec.parseJson) {
    const { default: bodyParser } = await import('koa-bodyparser');
    app.use(bodyParser());
  }
  app.use(koaAdapter.gatewayProxy(spec.proxy as never));
  return serve(app.callback(), errors, spec.maxHeaderSize);
};

export const ADAPTERS: ReadonlyArray<readonly [string, RecordingMount]> = [
  ['Express 5', recordingExpress],
  ['Koa 3', recordingKoa],
];

/** A short description of an error for assertion messages. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}`;
  return String(err);
}

/** Run `task(i)` for i in [0, count) with at most `concurrency` in flight. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/**
 * Errors that reached the framework, minus one expected kind: Koa itself reports (app 'error'
 * event, logged by default) a client connection reset after the head went out (ECONNRESET,
 * `headerSent: true`) — for any streamed body, ours or its own. An upstream dying mid-body is no
 * longer among them: the engine cuts the client without handing the upstream's error to `res`.
 */
export function unexpectedErrors(errors: unknown[]): string[] {
  return errors
    .filter((e) => !((e as { headerSent?: boolean }).headerSent === true && (e as NodeJS.ErrnoException).code === 'ECONNRESET'))
    .map(describeError);
}
