/**
 * The core as an adapter sees it: what gatewayErrors() and gatewayProxy() are made of in any
 * framework. An adapter translates its framework's request, response and `next` into these calls
 * and writes the replies through the writer it gives; every decision is made here or below.
 *
 *   ErrorsCore  maintenance, the responder for the request, the body tap, and the answer
 *               for a thrown upstream failure or a status a handler set
 *   ProxyCore   the retry policy, the proxy engine, the responder to answer with, state/close/upgrade
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Options as HpmOptions } from 'http-proxy-middleware';
import { classifyError } from '../decide/classify.js';
import { resolvePolicy } from '../decide/policy.js';
import { createInterceptor, isHandled, setResponder, responderOf } from '../answer/intercept.js';
import { createMaintenance, type Maintenance, type MaintenanceSwitch } from '../answer/maintenance.js';
import { applyHeaders, createResponder, requestFacts, type Responder } from '../answer/respond.js';
import { answerStatus, answerThrown } from '../answer/status.js';
import { tapRequestBody } from '../engine/body.js';
import { createProxyEngine, type ExchangeHooks, type ProxyEngine, type ProxyState } from '../engine/proxy.js';
import type { GatewayErrorsOptions, GatewayProxyExtras, NormalizedRetryPolicy } from '../options.js';
import type { Reply } from '../types.js';
import { fail } from '../validate.js';

export type { ExchangeHooks, ProxyState, Reply, Responder };
export { markHandled, writeReply } from '../answer/intercept.js';

/** Writes a finished reply the framework's way: on the raw response (Express), on `ctx` (Koa). */
export type Writer<TTarget> = (target: TTarget, reply: Reply) => void;

/** gatewayErrors() without its framework. `TSubject` is what predicates get (Express `req`, Koa `ctx`). */
export class ErrorsCore<TSubject, TTarget> {
  readonly maintenance: MaintenanceSwitch;
  private readonly responder: Responder;
  private readonly planned: Maintenance<TSubject>;
  private readonly limit: number;
  private readonly intercept = createInterceptor();

  constructor(
    options: GatewayErrorsOptions<TSubject> | undefined,
    private readonly write: Writer<TTarget>,
  ) {
    this.responder = createResponder(options);
    this.planned = createMaintenance<TSubject>(this.responder.options);
    this.maintenance = this.planned.switch;
    this.limit = this.responder.options.bodyLimit;
  }

  /**
   * A request comes in: during maintenance it gets the maintenance answer (true: answered);
   * otherwise its body is tapped for the proxies behind, which answer with this responder.
   * `url` is the request target as sent (Express `originalUrl`).
   */
  answered(req: IncomingMessage, url: string | undefined, subject: TSubject, target: TTarget): boolean {
    const window = this.planned.check(url, subject);
    if (window !== undefined) {
      this.write(target, this.responder.maintenanceReply(window, requestFacts(req.method, req.headers)));
      this.planned.answered(req.method, url, window.retryAfter);
      return true;
    }
    setResponder(req, this.responder);
    tapRequestBody(req, this.limit);
    return false;
  }

  /** Catch the gateway statuses a later handler writes on the raw response (Express's way). */
  watch(res: ServerResponse): void {
    this.intercept(res);
  }

  /** Answer a thrown upstream failure (true); anything else is not ours (false). */
  failed(err: unknown, req: IncomingMessage, subject: TSubject, target: TTarget): boolean {
    const failure = classifyError(err);
    if (failure === undefined) return false;
    this.write(target, this.responder.reply(failure, requestFacts(req.method, req.headers, subject)));
    return true;
  }

  /**
   * The answer for an error thrown with a status of its own (`err.status`) when that status is
   * one of `extraStatuses`; undefined for a thrown 502/503/504 and all others, which keep the
   * framework's handling.
   */
  thrown(err: unknown, req: IncomingMessage): Reply | undefined {
    return answerThrown(this.responder, req, err);
  }

  /**
   * The status the handlers left on a response not yet written (Koa's way): branded, given the
   * right headers, or left alone. A response whose answer the proxy already decided is left alone.
   */
  settle(req: IncomingMessage, res: ServerResponse, status: number, target: TTarget): void {
    // brands() first: nearly every response is not one, and needs no header read.
    if (isHandled(res) || !this.responder.brands(status)) return;
    const answer = answerStatus(this.responder, req, status, res.getHeader('retry-after'));
    if (answer?.headers !== undefined) applyHeaders(res, answer.headers);
    else if (answer?.reply !== undefined) this.write(target, answer.reply);
  }
}

/** What gatewayProxy() takes, in a framework's own request and response types. */
export type ProxyOptions<TSubject, TReq, TRes> = HpmOptions<TReq, TRes> & GatewayProxyExtras<TSubject>;

/** What gatewayProxy() adds to its middleware. */
export interface ProxyControls {
  /** Circuit and target health, for a health endpoint or a dashboard. */
  state(): ProxyState;
  /** Stop the active health checks (the app is shutting down). */
  close(): void;
  /** Proxy a WebSocket (or other) upgrade: `server.on('upgrade', proxy.upgrade)`. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** gatewayProxy() without its framework. */
export class ProxyCore<TSubject, TReq extends IncomingMessage = IncomingMessage, TRes extends ServerResponse = ServerResponse> {
  readonly controls: ProxyControls;
  private readonly policy: (subject: TSubject) => NormalizedRetryPolicy | false;
  /** The proxy's `errors` options, or the defaults (made on first use), when no gatewayErrors() is in front. */
  private fallback: Responder | undefined;
  private readonly engine: ProxyEngine<TReq, TRes>;

  constructor(options: ProxyOptions<TSubject, TReq, TRes>) {
    if (typeof options !== 'object' || options === null) fail('options', 'an object with a `target` or `router`', options);
    this.policy = resolvePolicy<TSubject>(options.retry);
    if (options.errors !== undefined) this.fallback = createResponder(options.errors, 'errors');
    const engine = (this.engine = createProxyEngine(options, () => this.defaults()));
    this.controls = {
      state: () => engine.state(),
      close: () => engine.close(),
      upgrade: (req, socket, head) => engine.upgrade(req, socket, head),
    };
  }

  /** The responder to answer `req` with: the nearest gatewayErrors()'s, else this proxy's own. */
  responder(req: IncomingMessage): Responder {
    return responderOf(req) ?? this.defaults();
  }

  /** Proxy one request; a retry policy function that throws hands its error to `hooks.skip`. */
  handle(req: TReq, res: TRes, subject: TSubject, hooks: ExchangeHooks): void {
    let policy: NormalizedRetryPolicy | false;
    try {
      policy = this.policy(subject);
    } catch (err) {
      return hooks.skip(err);
    }
    this.engine.handle(req, res, policy, hooks);
  }

  private defaults(): Responder {
    return (this.fallback ??= createResponder());
  }
}
