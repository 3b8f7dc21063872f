/**
 * Express adapter: translates (req, res, next) to the core. Works with Express 4 and 5.
 */
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import type { Options as HpmOptions } from 'http-proxy-middleware';
import { ErrorsCore, ProxyCore, writeReply, type ExchangeHooks, type ProxyControls, type Reply, type Responder } from '../core/gateway/index.js';
import type { GatewayErrorsOptions, GatewayProxyExtras } from '../core/options.js';
import type { MaintenanceSwitch } from '../core/answer/maintenance.js';

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
  const core = new ErrorsCore<Request, Response>(options, writeReply);
  function gatewayErrorsMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (core.answered(req, req.originalUrl, req, res)) return;
    core.watch(res);
    next();
  }
  const errorHandler: ErrorRequestHandler = function gatewayErrorHandler(err, req, res, next) {
    if (!core.failed(err, req, req, res)) next(err);
  };
  return Object.assign(gatewayErrorsMiddleware, { errorHandler, maintenance: core.maintenance });
}

export type GatewayProxyOptions = HpmOptions<Request, Response> & GatewayProxyExtras<Request>;

/** What gatewayProxy() returns: the middleware, with its upstreams' state. */
export interface GatewayProxyMiddleware extends RequestHandler, ProxyControls {}

/**
 * Proxy through http-proxy-middleware with safe retries and timeouts; on final failure answer
 * with the nearest gatewayErrors()'s branded response (or the defaults).
 */
export function gatewayProxy(options: GatewayProxyOptions): GatewayProxyMiddleware {
  const core = new ProxyCore<Request, Request, Response>(options);
  function gatewayProxyMiddleware(req: Request, res: Response, next: NextFunction): void {
    core.handle(req, res, req, new ExpressHooks(res, next, core.responder(req), req.body));
  }
  return Object.assign(gatewayProxyMiddleware, core.controls);
}

/** One proxied Express request, as the core's exchange calls back into it: one object, no closures. */
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
