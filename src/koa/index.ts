/**
 * Koa adapter: translates (ctx, next) to the core. Works with Koa 2 and 3.
 */
import type { Context, Middleware, Next } from 'koa';
import type { Options as HpmOptions } from 'http-proxy-middleware';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorsCore, markHandled, ProxyCore, type ExchangeHooks, type ProxyControls, type Reply, type Responder } from '../core/gateway/index.js';
import type { GatewayErrorsOptions, GatewayProxyExtras } from '../core/options.js';
import type { MaintenanceSwitch } from '../core/answer/maintenance.js';

export type { GatewayErrorsOptions, RetryPolicy } from '../core/options.js';
export type { MaintenanceOptions, MaintenanceState, MaintenanceSwitch, MaintenanceWindow } from '../core/answer/maintenance.js';

/** Put a finished reply on the Koa context, so later-running middleware (logging, compression) see it. */
function applyReply(ctx: Context, reply: Reply): void {
  markHandled(ctx.res);
  if (ctx.headerSent || !ctx.writable) return void ctx.res.destroy();
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
 * Catch thrown upstream failures and replace 502/503/504 responses (and the listed
 * `extraStatuses`) set downstream with the branded answer; answer for the whole app while
 * maintenance is on. Install first.
 */
export function gatewayErrors(options?: GatewayErrorsOptions<Context>): GatewayErrorsMiddleware {
  const core = new ErrorsCore<Context, Context>(options, applyReply);
  async function gatewayErrorsMiddleware(ctx: Context, next: Next): Promise<void> {
    if (core.answered(ctx.req, ctx.originalUrl, ctx, ctx)) return;
    try {
      await next();
    } catch (err) {
      if (core.failed(err, ctx.req, ctx, ctx)) return;
      const reply = core.thrown(err, ctx.req);
      if (reply === undefined) throw err;
      // Reported to the app as Koa's own ctx.onerror does, so logging and monitoring still see it.
      ctx.app.emit('error', err, ctx);
      return applyReply(ctx, reply);
    }
    if (ctx.respond !== false) core.settle(ctx.req, ctx.res, ctx.status, ctx);
  }
  return Object.assign(gatewayErrorsMiddleware, { maintenance: core.maintenance });
}

export type GatewayProxyOptions = HpmOptions<IncomingMessage, ServerResponse> & GatewayProxyExtras<Context>;

/** What gatewayProxy() returns: the middleware, with its upstreams' state. */
export interface GatewayProxyMiddleware extends Middleware, ProxyControls {}

/**
 * Proxy through http-proxy-middleware with safe retries and timeouts; on final failure answer
 * with the nearest gatewayErrors()'s branded response (or the defaults).
 */
export function gatewayProxy(options: GatewayProxyOptions): GatewayProxyMiddleware {
  const core = new ProxyCore<Context>(options);
  function gatewayProxyMiddleware(ctx: Context, next: Next): Promise<void> {
    return new Promise<void>((resolve, reject) => core.handle(ctx.req, ctx.res, ctx, new KoaHooks(ctx, next, resolve, reject, core.responder(ctx.req))));
  }
  return Object.assign(gatewayProxyMiddleware, core.controls);
}

/** One proxied Koa request, as the core's exchange calls back into it: one object, no closures. */
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
    const request = this.ctx.request;
    return ('rawBody' in request ? request.rawBody : undefined) ?? ('body' in request ? request.body : undefined);
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
