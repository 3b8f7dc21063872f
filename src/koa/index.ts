/**
 * Koa adapter: translates (ctx, next) to the core. Works with Koa 2 and 3.
 */
import type { Context, Middleware, Next } from 'koa';
import type { Options as HpmOptions } from 'http-proxy-middleware';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tapRequestBody } from '../core/body.js';
import { classifyError } from '../core/classify.js';
import type { GatewayErrorsOptions, GatewayProxyExtras } from '../core/options.js';
import { resolvePolicy } from '../core/policy.js';
import { createProxyEngine, kHandled } from '../core/proxy.js';
import { applyHeaders, createResponder, defaultResponderInstance, handlerFailure, isGatewayStatus, requestFacts, type Responder } from '../core/respond.js';
import type { Reply } from '../core/types.js';

export type { GatewayErrorsOptions, RetryPolicy } from '../core/options.js';

const kResponder = Symbol.for('gateway-errors.responder');
type Ctx = Context & { [kResponder]?: Responder };
type Res = ServerResponse & { [kHandled]?: boolean };

const facts = (ctx: Context) => requestFacts(ctx.method, ctx.req.headers);

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

export interface GatewayErrorsMiddleware extends Middleware {}

/**
 * Catch thrown upstream failures and replace 502/503/504 responses set downstream with the
 * branded answer. Install first.
 */
export function gatewayErrors(options?: GatewayErrorsOptions): GatewayErrorsMiddleware {
  const responder = createResponder(options);
  const limit = responder.options.bodyLimit;
  return async function gatewayErrorsMiddleware(ctx: Context, next: Next): Promise<void> {
    (ctx as Ctx)[kResponder] = responder;
    tapRequestBody(ctx.req, limit);
    try {
      await next();
    } catch (err) {
      const failure = classifyError(err);
      if (failure === undefined) throw err;
      return applyReply(ctx, responder.reply(failure, facts(ctx)));
    }
    if (ctx.respond === false || (ctx.res as Res)[kHandled] || !isGatewayStatus(ctx.status)) return;
    const failure = handlerFailure(ctx.status, ctx.response.get('retry-after') || undefined);
    if (responder.options.keepUpstreamBody) {
      applyHeaders(ctx.res, responder.passthroughHeaders(failure, facts(ctx)));
      return;
    }
    applyReply(ctx, responder.reply(failure, facts(ctx)));
  };
}

export type GatewayProxyOptions = HpmOptions<IncomingMessage, ServerResponse> & GatewayProxyExtras<Context>;

/**
 * Proxy through http-proxy-middleware with safe retries and timeouts; on final failure answer
 * with the nearest gatewayErrors()'s branded response (or the defaults).
 */
export function gatewayProxy(options: GatewayProxyOptions): Middleware {
  const policyFor = resolvePolicy<Context>(options?.retry);
  const fallback = options?.errors === undefined ? undefined : createResponder(options.errors, 'errors');
  const engine = createProxyEngine(options as never);
  return function gatewayProxyMiddleware(ctx: Context, next: Next): Promise<void> {
    const policy = policyFor(ctx);
    return new Promise<void>((resolve, reject) => {
      engine.handle(ctx.req, ctx.res, policy, {
        responder: (ctx as Ctx)[kResponder] ?? fallback ?? defaultResponderInstance(),
        parsedBody: (ctx.request as { rawBody?: unknown; body?: unknown }).rawBody ?? (ctx.request as { body?: unknown }).body,
        skip: (err) => (err === undefined ? next().then(resolve, reject) : reject(err)),
        start: () => {
          ctx.respond = false;
        },
        reply: (reply) => {
          applyReply(ctx, reply);
          resolve();
        },
        done: () => resolve(),
      });
    });
  };
}
