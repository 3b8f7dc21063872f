/**
 * Express adapter: translates (req, res, next) to the core. Works with Express 4 and 5.
 */
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Options as HpmOptions } from 'http-proxy-middleware';
import { tapRequestBody } from '../core/engine/body.js';
import { classifyError } from '../core/decide/classify.js';
import { interceptGatewayStatuses, sinkOf, writeReply } from '../core/answer/intercept.js';
import type { GatewayErrorsOptions, GatewayProxyExtras, NormalizedRetryPolicy } from '../core/options.js';
import { createProxyEngine, type ExchangeHooks, type ProxyState } from '../core/engine/proxy.js';
import type { Reply } from '../core/types.js';
import { createMaintenance, type MaintenanceSwitch } from '../core/answer/maintenance.js';
import { createResponder, defaultResponderInstance, requestFacts, type Responder } from '../core/answer/respond.js';
import { resolvePolicy } from '../core/decide/policy.js';

export type { GatewayErrorsOptions, RetryPolicy } from '../core/options.js';
export type { MaintenanceOptions, MaintenanceState, MaintenanceSwitch, MaintenanceWindow } from '../core/answer/maintenance.js';


export interface GatewayErrorsMiddleware extends RequestHandler {
  /** Error-handling middleware: install last. Maps thrown upstream failures to 502/503/504. */
  readonly errorHandler: ErrorRequestHandler;
  /** Planned maintenance, switched at run time: `start({ until, message })`, `stop()`, `state()`. */
  readonly maintenance: MaintenanceSwitch;
}

/**
 * Turn every 502, 503 and 504 (and the listed `extraStatuses`) that a later handler produces into
 * the branded answer, and answer for the whole app while maintenance is on. Install first.
 */
export function gatewayErrors(options?: GatewayErrorsOptions<Request>): GatewayErrorsMiddleware {
  const responder = createResponder(options);
  const maintenance = createMaintenance<Request>(responder.options);
  const limit = responder.options.bodyLimit;
  const middleware = function gatewayErrorsMiddleware(req: Request, res: Response, next: NextFunction): void {
    const window = maintenance.check(req.originalUrl, req);
    if (window !== undefined) {
      writeReply(res, responder.maintenanceReply(window, requestFacts(req.method, req.headers)));
      maintenance.answered(req.method, req.originalUrl, window.retryAfter);
      return;
    }
    tapRequestBody(req, limit);
    interceptGatewayStatuses(req, res, responder);
    next();
  } as GatewayErrorsMiddleware;
  const errorHandler: ErrorRequestHandler = function gatewayErrorHandler(err, req, res, next) {
    const failure = classifyError(err);
    if (failure === undefined) return next(err);
    writeReply(res, responder.reply(failure, requestFacts(req.method, req.headers, req)));
  };
  return Object.assign(middleware, { errorHandler, maintenance: maintenance.switch });
}

export type GatewayProxyOptions = HpmOptions<Request, Response> & GatewayProxyExtras<Request>;

/**
 * Proxy through http-proxy-middleware with safe retries and timeouts; on final failure answer
 * with the nearest gatewayErrors()'s branded response (or the defaults).
 */
/** What gatewayProxy() returns: the middleware, with its upstreams' state. */
export interface GatewayProxyMiddleware extends RequestHandler {
  /** Circuit and target health, for a health endpoint or a dashboard. */
  state(): ProxyState;
  /** Stop the active health checks (the app is shutting down). */
  close(): void;
  /** Proxy a WebSocket (or other) upgrade: `server.on('upgrade', proxy.upgrade)`. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

export function gatewayProxy(options: GatewayProxyOptions): GatewayProxyMiddleware {
  const policyFor = resolvePolicy<Request>(options?.retry);
  const fallback = options?.errors === undefined ? undefined : createResponder(options.errors, 'errors');
  const engine = createProxyEngine(options as never, () => fallback ?? defaultResponderInstance());
  const middleware = function gatewayProxyMiddleware(req: Request, res: Response, next: NextFunction): void {
    let policy: NormalizedRetryPolicy | false;
    try {
      policy = policyFor(req);
    } catch (err) {
      return next(err);
    }
    engine.handle(req, res, policy, new ExpressHooks(res, next, sinkOf(req) ?? fallback ?? defaultResponderInstance(), (req as { body?: unknown }).body));
  };
  return Object.assign(middleware, {
    state: () => engine.state(),
    close: () => engine.close(),
    upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => engine.upgrade(req, socket, head),
  });
}

/** The exchange's hooks for one Express request: one object, no closures per request. */
class ExpressHooks implements ExchangeHooks {
  constructor(
    private readonly res: Response,
    private readonly next: NextFunction,
    readonly responder: Responder,
    readonly parsedBody: unknown,
  ) {}
  skip(err?: unknown): void {
    this.next(err);
  }
  start(): void {}
  reply(reply: Reply): void {
    writeReply(this.res, reply);
  }
}


