/**
 * Koa adapter: translates (ctx, next) to the core. Works with Koa 2 and 3.
 */
import type { Context, Middleware, Next } from 'koa';
import type { Options as HpmOptions } from 'http-proxy-middleware';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { tapRequestBody } from '../core/engine/body.js';
import { classifyError } from '../core/decide/classify.js';
import type { GatewayErrorsOptions, GatewayProxyExtras } from '../core/options.js';
import { resolvePolicy } from '../core/decide/policy.js';
import { createProxyEngine, kHandled, type ExchangeHooks, type ProxyState } from '../core/engine/proxy.js';
import { createMaintenance, type MaintenanceSwitch } from '../core/answer/maintenance.js';
import { applyHeaders, createResponder, defaultResponderInstance, handlerFailure, isGatewayStatus, requestFacts, type Responder } from '../core/answer/respond.js';
import type { Reply } from '../core/types.js';

export type { GatewayErrorsOptions, RetryPolicy } from '../core/options.js';
export type { MaintenanceOptions, MaintenanceState, MaintenanceSwitch, MaintenanceWindow } from '../core/answer/maintenance.js';

const kResponder = Symbol.for('gateway-errors.responder');
type Ctx = Context & { [kResponder]?: Responder };
type Res = ServerResponse & { [kHandled]?: boolean };

const facts = (ctx: Context) => requestFacts(ctx.method, ctx.req.headers, ctx);

/** Put a finished reply on the Koa context, so later-running middleware (logging, compression) see it. */
function applyReply(ctx: Context, reply: Reply): void {
  (ctx.res as Res)[kHandled] = true;
  if (ctx.headerSent || !ctx.writable) {
    ctx.res.destroy();
    return;
  }
  ctx.respond = true;
  for (const name of Object.keys(ctx.response.headers)) ctx.remove(name);
  ctx.status = reply.status;
  ctx.set(reply.headers);
  // Koa drops the body for HEAD itself but keeps Content-Length; an empty string keeps ours.
  ctx.body = reply.body ?? '';
  if (reply.body === undefined) ctx.set('content-length', reply.headers['content-length'] ?? '0');
}

export interface GatewayErrorsMiddleware extends Middleware {
  /** Planned maintenance, switched at run time: `start({ until, message })`, `stop()`, `state()`. */
  readonly maintenance: MaintenanceSwitch;
}

/**
 * The status Koa's own error handling would answer a thrown error with (`ctx.throw(429)`,
 * http-errors, `err.status`), and its headers: Koa's `ctx.onerror` reads the same fields.
 */
function thrownAnswer(err: unknown): { status: number; retryAfter: unknown } {
  if (typeof err !== 'object' || err === null) return { status: 500, retryAfter: undefined };
  const e = err as { status?: unknown; statusCode?: unknown; headers?: unknown };
  const status = e.status ?? e.statusCode;
  let retryAfter: unknown;
  if (typeof e.headers === 'object' && e.headers !== null) {
    for (const [name, value] of Object.entries(e.headers)) if (name.toLowerCase() === 'retry-after') retryAfter = value;
  }
  return { status: typeof status === 'number' && Number.isInteger(status) ? status : 500, retryAfter };
}

/**
 * Catch thrown upstream failures and replace 502/503/504 responses (and the listed
 * `extraStatuses`) set downstream with the branded answer; answer for the whole app while
 * maintenance is on. Install first.
 */
export function gatewayErrors(options?: GatewayErrorsOptions<Context>): GatewayErrorsMiddleware {
  const responder = createResponder(options);
  const maintenance = createMaintenance<Context>(responder.options);
  const limit = responder.options.bodyLimit;
  const middleware = async function gatewayErrorsMiddleware(ctx: Context, next: Next): Promise<void> {
    const window = maintenance.check(ctx.originalUrl, ctx);
    if (window !== undefined) {
      applyReply(ctx, responder.maintenanceReply(window, facts(ctx)));
      maintenance.answered(ctx.method, ctx.originalUrl, window.retryAfter);
      return;
    }
    (ctx as Ctx)[kResponder] = responder;
    tapRequestBody(ctx.req, limit);
    try {
      await next();
    } catch (err) {
      const failure = classifyError(err);
      if (failure !== undefined) return applyReply(ctx, responder.reply(failure, facts(ctx)));
      // An error thrown with a listed extra status (ctx.throw(429), a bug as 500 when 500 is
      // listed) gets the branded page, as Express's does through its final handler. Reported to
      // the app as Koa's own ctx.onerror does, so logging and monitoring still see it. Other
      // errors, a thrown 503 included, keep their normal handling as before.
      const thrown = thrownAnswer(err);
      if (isGatewayStatus(thrown.status) || !responder.brands(thrown.status) || responder.options.keepUpstreamBody) throw err;
      ctx.app.emit('error', err, ctx);
      return applyReply(ctx, responder.reply(handlerFailure(thrown.status, thrown.retryAfter), facts(ctx)));
    }
    if (ctx.respond === false || (ctx.res as Res)[kHandled] || !responder.brands(ctx.status)) return;
    const failure = handlerFailure(ctx.status, ctx.response.get('retry-after') || undefined);
    if (responder.options.keepUpstreamBody) {
      applyHeaders(ctx.res, responder.passthroughHeaders(failure, facts(ctx)));
      return;
    }
    applyReply(ctx, responder.reply(failure, facts(ctx)));
  };
  return Object.assign(middleware, { maintenance: maintenance.switch });
}

export type GatewayProxyOptions = HpmOptions<IncomingMessage, ServerResponse> & GatewayProxyExtras<Context>;

/**
 * Proxy through http-proxy-middleware with safe retries and timeouts; on final failure answer
 * with the nearest gatewayErrors()'s branded response (or the defaults).
 */
/** What gatewayProxy() returns: the middleware, with its upstreams' state. */
export interface GatewayProxyMiddleware extends Middleware {
  /** Circuit and target health, for a health endpoint or a dashboard. */
  state(): ProxyState;
  /** Stop the active health checks (the app is shutting down). */
  close(): void;
  /** Proxy a WebSocket (or other) upgrade: `server.on('upgrade', proxy.upgrade)`. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export function gatewayProxy(options: GatewayProxyOptions): GatewayProxyMiddleware {
  const policyFor = resolvePolicy<Context>(options?.retry);
  const fallback = options?.errors === undefined ? undefined : createResponder(options.errors, 'errors');
  const engine = createProxyEngine(options as never, () => fallback ?? defaultResponderInstance());
  const middleware = function gatewayProxyMiddleware(ctx: Context, next: Next): Promise<void> {
    const policy = policyFor(ctx);
    return new Promise<void>((resolve, reject) => {
      engine.handle(ctx.req, ctx.res, policy, new KoaHooks(ctx, next, resolve, reject, (ctx as Ctx)[kResponder] ?? fallback ?? defaultResponderInstance()));
    });
  };
  return Object.assign(middleware, {
    state: () => engine.state(),
    close: () => engine.close(),
    upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => engine.upgrade(req, socket, head),
  });
}

/** The exchange's hooks for one Koa request: one object of one shape, no closures per request. */
class KoaHooks implements ExchangeHooks {
  constructor(
    private readonly ctx: Context,
    private readonly next: Next,
    private readonly resolve: () => void,
    private readonly reject: (err: unknown) => void,
    readonly responder: Responder,
  ) {}
  /** Read only once the request is the proxy's (pathFilter matched). */
  get parsedBody(): unknown {
    const request = this.ctx.request as { rawBody?: unknown; body?: unknown };
    return request.rawBody ?? request.body;
  }
  get subject(): unknown {
    return this.ctx;
  }
  skip(err?: unknown): void {
    if (err === undefined) this.next().then(this.resolve, this.reject);
    else this.reject(err);
  }
  start(): void {
    this.ctx.respond = false;
  }
  reply(reply: Reply): void {
    applyReply(this.ctx, reply);
    this.resolve();
  }
  done(): void {
    this.resolve();
  }
}
