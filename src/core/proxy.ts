/**
 * The proxy engine: http-proxy-middleware does the proxying (every option of it passes through);
 * this file adds attempts, retries, timeouts and the hand-over to the error sink.
 *
 * How it hooks in: http-proxy-middleware applies pathFilter, router and pathRewrite once, then
 * calls `proxyServer.web(req, res, options)`. A plugin wraps that call and runs the attempt loop,
 * calling the original `web` once per attempt with:
 * - `selfHandleResponse: true`, so an upstream status is seen before a byte reaches the client
 *   (a 503 can be retried or replaced);
 * - `buffer`: a fresh body stream per attempt (replayed from memory when replayable);
 * - an error callback per attempt, so errors belong to the attempt that caused them.
 */
import http, { type IncomingMessage, type ServerResponse, type ClientRequest } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { pipeline, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import {
  createProxyMiddleware,
  fixRequestBody,
  loggerPlugin,
  proxyEventsPlugin,
  type Options as HpmOptions,
  type Plugin,
  type RequestHandler,
} from 'http-proxy-middleware';
import webOutgoing from 'http-proxy/lib/http-proxy/passes/web-outgoing.js';
import { bodySource, type BodySource } from './body.js';
import { classifyError, failureOf } from './classify.js';
import { isReplayable, normalizeProxyExtras, type NormalizedProxyExtras, type NormalizedRetryPolicy } from './options.js';
import { isGatewayStatus, type RequestFacts, type Responder } from './respond.js';
import { decideRetry } from './retry.js';
import { parseRetryAfter } from './retry-after.js';
import type { Failure, ProxyErrorType, Reply } from './types.js';

/** What an adapter provides for one request. */
export interface ExchangeHooks {
  /** The sink to answer with (the nearest gatewayErrors(), or the defaults). */
  readonly responder: Responder;
  /** A body a parser left behind (Express `req.body`, Koa `ctx.request.rawBody`). */
  readonly parsedBody?: unknown;
  /** Not for this proxy (pathFilter), or a non-upstream error: hand to the framework. */
  skip(err?: unknown): void;
  /** Right before the upstream response is written to the client (Koa: `ctx.respond = false`). */
  start(): void;
  /** The final answer is an error reply: write it. */
  reply(reply: Reply): void;
  /** The exchange is over from the proxy's side (response handed over, or client gone). */
  done(): void;
}

export interface ProxyEngine {
  handle(req: IncomingMessage, res: ServerResponse, policy: NormalizedRetryPolicy | false, hooks: ExchangeHooks): void;
}

const kExchange = Symbol('gateway-errors.exchange');
/** Set on a response whose answer this library already decided; the status interceptor leaves it alone. */
export const kHandled = Symbol.for('gateway-errors.handled');

type Req = IncomingMessage & { [kExchange]?: Exchange };
type Res = ServerResponse & { [kHandled]?: boolean };

/** One attempt's result. */
type AttemptResult =
  | { kind: 'response'; proxyRes: IncomingMessage }
  | { kind: 'failed'; failure: Failure; retryable: boolean; retryAfter?: number; proxyRes?: IncomingMessage }
  | { kind: 'error'; error: unknown }
  | { kind: 'aborted' };

class AttemptFailed extends Error {
  constructor(readonly result: AttemptResult) {
    super('attempt failed');
  }
}

const XFWD = ['x-forwarded-for', 'x-forwarded-port', 'x-forwarded-proto', 'x-forwarded-host'] as const;
const RESPONSE_PASSES = [
  webOutgoing.removeChunked,
  webOutgoing.setConnection,
  webOutgoing.setRedirectHostRewrite,
  webOutgoing.writeHeaders,
  webOutgoing.writeStatusCode,
];
/** A small error body is read to the end so its keep-alive socket can be reused; a large one is dropped. */
const DRAIN_LIMIT = 64 * 1024;

function discard(res: IncomingMessage | undefined): void {
  if (res === undefined) return;
  const len = Number(res.headers['content-length']);
  if (Number.isFinite(len) && len <= DRAIN_LIMIT) res.resume();
  else res.destroy();
}

type WebFn = (req: IncomingMessage, res: ServerResponse, options: Record<string, unknown>, cb: (err: Error) => void) => void;

/** Per-request state: the attempt loop for one client request. */
class Exchange {
  readonly abort = new AbortController();
  clientGone = false;
  started = false;
  attempts = 0;
  giveUpReason = 'retries_exhausted';
  current: Attempt | undefined;
  body!: BodySource;
  private readonly reqListeners: { aborted: Function[]; error: Function[] };

  constructor(
    readonly req: Req,
    readonly res: Res,
    readonly policy: NormalizedRetryPolicy | false,
    readonly hooks: ExchangeHooks,
    readonly timing: NormalizedProxyExtras,
    readonly userHandlesResponse: boolean,
  ) {
    this.reqListeners = { aborted: req.listeners('aborted'), error: req.listeners('error') };
    res.once('close', this.onClientClose);
  }

  private readonly onClientClose = (): void => {
    if (this.res.writableFinished) return;
    this.clientGone = true;
    this.abort.abort();
    this.current?.cancel();
  };

  facts(): RequestFacts {
    const { method = 'GET', headers } = this.req;
    return { method, headers, idempotent: isReplayable(method, headers, this.policy) };
  }

  /** Runs when http-proxy-middleware has resolved target and path: the whole attempt loop. */
  async run(web: WebFn, server: unknown, options: Record<string, unknown>): Promise<void> {
    const { req, policy } = this;
    const replayableRequest = policy !== false && policy.retries > 0 && isReplayable(req.method, req.headers, policy);
    try {
      this.body = await bodySource(req, replayableRequest, policy === false ? 0 : policy.bodyLimit, this.hooks.parsedBody);
    } catch (err) {
      if (this.clientGone) return this.finish();
      return this.skip(err);
    }
    const xfwd = options.xfwd === true ? XFWD.map((h) => req.headers[h]) : undefined;
    const attempt = (n: number): Promise<AttemptResult> => {
      this.attempts = n;
      if (n > 1) this.resetRequest(xfwd);
      return new Promise<AttemptResult>((resolve) => {
        const a = new Attempt(this, resolve);
        this.current = a;
        const buffer = this.body.stream();
        const pipe = buffer.pipe;
        // http-proxy pipes `buffer` into the upstream request right after creating it: the one
        // moment we can reach that request whatever the headers (its 'proxyReq' event skips
        // requests with `Expect`).
        buffer.pipe = function <T extends NodeJS.WritableStream>(this: Readable, dest: T, o?: { end?: boolean }): T {
          buffer.pipe = pipe;
          a.attach(dest as unknown as ClientRequest);
          return pipe.call(this, dest, o) as T;
        };
        a.options = { ...options, buffer, selfHandleResponse: true };
        try {
          web.call(server, req, this.res, a.options, (err) => a.error(err));
        } catch (err) {
          a.error(err); // e.g. http.request() rejecting an invalid path synchronously
        }
      });
    };

    let result: AttemptResult;
    if (policy === false || !replayableRequest || !this.body.replayable) {
      result = await attempt(1);
    } else {
      result = await pRetry(
        async (n) => {
          const r = await attempt(n);
          if (r.kind === 'failed') throw new AttemptFailed(r);
          return r;
        },
        {
          retries: policy.retries,
          // p-retry's own delay is zero: the wait (backoff with full jitter, or the upstream's
          // Retry-After in its place) happens in shouldRetry, after the decision, so it is never
          // added on top of another delay and never spent after the last attempt.
          minTimeout: 0,
          maxTimeout: 0,
          signal: this.abort.signal,
          shouldRetry: async ({ error, retriesConsumed }) => {
            const r = (error as AttemptFailed).result;
            if (r?.kind !== 'failed') return false;
            const decision = decideRetry({
              policy,
              replayable: true,
              retriesUsed: retriesConsumed,
              retryable: r.retryable,
              retryAfter: r.retryAfter,
              responseStarted: this.started,
              clientGone: this.clientGone,
            });
            if (!decision.retry) {
              this.giveUpReason = decision.reason;
              return false;
            }
            this.timing.onRetry?.({
              attempt: retriesConsumed + 1,
              delay: decision.delay,
              reason: decision.reason,
              failure: r.failure,
              method: req.method ?? 'GET',
              path: pathOf(req),
            });
            discard(r.proxyRes);
            if (decision.delay > 0) await sleep(decision.delay, undefined, { signal: this.abort.signal });
            return true;
          },
        },
      ).catch((err: unknown): AttemptResult => {
        if (err instanceof AttemptFailed) return err.result;
        if (this.clientGone) return { kind: 'aborted' };
        return { kind: 'error', error: err };
      });
    }
    this.conclude(result);
  }

  /** Restore what http-proxy changed on `req` during the last attempt. */
  private resetRequest(xfwd: (string | string[] | undefined)[] | undefined): void {
    const { req } = this;
    if (xfwd) XFWD.forEach((h, i) => {
      const v = xfwd[i];
      if (v === undefined) delete req.headers[h];
      else req.headers[h] = v as string;
    });
    // http-proxy adds an 'aborted' and an 'error' listener to req per call: drop the stale ones.
    for (const event of ['aborted', 'error'] as const) {
      const keep = this.reqListeners[event];
      for (const l of req.listeners(event)) if (!keep.includes(l)) req.off(event, l as (...a: unknown[]) => void);
    }
  }

  private conclude(result: AttemptResult): void {
    const { res, hooks } = this;
    switch (result.kind) {
      case 'response':
        return this.deliver(result.proxyRes);
      case 'failed': {
        if (this.clientGone) {
          discard(result.proxyRes);
          return this.finish();
        }
        const { failure, proxyRes } = result;
        if (proxyRes !== undefined && !isGatewayStatus(proxyRes.statusCode ?? 0)) {
          // A retried status that is not ours to brand (e.g. 429 in `statuses`): hand it over as is.
          return this.deliver(proxyRes);
        }
        if (proxyRes !== undefined && hooks.responder.options.keepUpstreamBody) {
          return this.deliver(proxyRes, hooks.responder.passthroughHeaders(failure, this.facts()));
        }
        discard(proxyRes);
        this.timing.onGiveUp?.({
          attempts: this.attempts,
          reason: this.attempts === 1 && !result.retryable ? 'not_retryable' : this.giveUpReason,
          failure,
          method: this.req.method ?? 'GET',
          path: pathOf(this.req),
        });
        res[kHandled] = true;
        hooks.reply(hooks.responder.reply(failure, this.facts()));
        return this.finish();
      }
      case 'error':
        if (this.clientGone) return this.finish();
        return this.skip(result.error);
      case 'aborted':
        return this.finish();
    }
  }

  /** Hand the upstream response to the client, streaming, untouched but for http-proxy's passes. */
  private deliver(proxyRes: IncomingMessage, extraHeaders?: Record<string, string>): void {
    const { req, res } = this;
    if (this.clientGone) {
      proxyRes.destroy();
      return this.finish();
    }
    this.started = true;
    res[kHandled] = true;
    this.hooks.start();
    if (this.userHandlesResponse) return this.finish(); // the user's own on.proxyRes writes it
    const options = this.current!.options;
    for (const pass of RESPONSE_PASSES) pass(req, res, proxyRes, options);
    if (extraHeaders) for (const [k, v] of Object.entries(extraHeaders)) res.setHeader(k, v);
    // pipeline destroys the client response if the upstream dies mid-body, so the client sees
    // an incomplete response instead of hanging, and destroys the upstream if the client leaves.
    pipeline(proxyRes, res, () => undefined);
    this.finish();
  }

  /** Not ours after all: hand the request back to the framework. */
  skip(err?: unknown): void {
    this.res.off('close', this.onClientClose);
    delete this.req[kExchange];
    this.hooks.skip(err);
  }

  private finish(): void {
    this.res.off('close', this.onClientClose);
    delete this.req[kExchange];
    if (this.clientGone || this.res.writableFinished) this.hooks.done();
    else this.res.once('close', () => this.hooks.done());
  }
}

/** One try against the upstream, with its own timers. Settles exactly once. */
class Attempt {
  proxyReq: ClientRequest | undefined;
  options: Record<string, unknown> = {};
  private settled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly x: Exchange,
    private readonly resolve: (r: AttemptResult) => void,
  ) {}

  attach(proxyReq: ClientRequest): void {
    this.proxyReq = proxyReq;
    const { length } = this.x.body;
    if (length !== undefined) {
      proxyReq.removeHeader('transfer-encoding');
      proxyReq.setHeader('content-length', length);
    }
    proxyReq.once('socket', (socket: Socket) => {
      if (this.settled) return;
      if (socket.connecting) {
        this.arm('connection_timeout', this.x.timing.connectTimeout);
        socket.once('connect', () => this.arm('http_response_timeout', this.x.timing.responseTimeout));
      } else this.arm('http_response_timeout', this.x.timing.responseTimeout);
    });
  }

  private arm(type: ProxyErrorType, ms: number): void {
    clearTimeout(this.timer);
    if (this.settled || ms === 0) return;
    this.timer = setTimeout(() => {
      // Settle first: destroying the request makes http-proxy report ECONNRESET "socket hang up",
      // which would otherwise be indistinguishable from a real reset.
      this.fail(failureOf(type));
      this.proxyReq?.destroy();
    }, ms);
  }

  private settle(r: AttemptResult): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.resolve(r);
  }

  private fail(failure: Failure, proxyRes?: IncomingMessage, retryable = failure.retryable): void {
    this.settle({
      kind: 'failed',
      failure,
      retryable,
      ...(failure.retryAfter !== undefined && { retryAfter: failure.retryAfter }),
      ...(proxyRes && { proxyRes }),
    });
  }

  error(err: unknown): void {
    if (this.settled) return;
    if (this.x.clientGone) return this.settle({ kind: 'aborted' });
    const failure = classifyError(err);
    if (failure === undefined) return this.settle({ kind: 'error', error: err });
    this.fail(failure);
  }

  response(proxyRes: IncomingMessage): void {
    if (this.settled) {
      proxyRes.destroy();
      return;
    }
    // Held paused until the decision; an error meanwhile must not crash the process.
    proxyRes.on('error', () => undefined);
    const status = proxyRes.statusCode ?? 0;
    // Node parses a status line of "099" as 99 and then refuses to relay it; Koa asserts on it.
    if (status < 100 || status > 599) {
      proxyRes.destroy();
      return this.fail(failureOf('http_protocol_error', new Error(`invalid upstream status ${status}`)));
    }
    const { policy } = this.x;
    const retriedStatus = policy !== false && policy.statuses.has(status) && !this.x.userHandlesResponse;
    if (!retriedStatus && !isGatewayStatus(status)) return this.settle({ kind: 'response', proxyRes });
    if (this.x.userHandlesResponse) return this.settle({ kind: 'response', proxyRes });
    const retryAfter = parseRetryAfter(proxyRes.headers['retry-after']);
    const failure: Failure = {
      status: isGatewayStatus(status) ? status : 502,
      receivedStatus: status,
      retryable: retriedStatus,
      ...(retryAfter !== undefined && { retryAfter }),
    };
    this.fail(failure, proxyRes, retriedStatus);
  }

  /** The client went away: stop the upstream request and the loop. */
  cancel(): void {
    this.proxyReq?.destroy();
    this.settle({ kind: 'aborted' });
  }
}

function pathOf(req: IncomingMessage & { originalUrl?: string }): string {
  const url = req.originalUrl ?? req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Target protocol after http-proxy-middleware's router: picks the matching keep-alive agent. */
function isHttps(target: unknown): boolean {
  if (typeof target === 'string') return target.startsWith('https:') || target.startsWith('wss:');
  if (target && typeof target === 'object') {
    const p = (target as { protocol?: unknown }).protocol;
    return p === 'https:' || p === 'wss:';
  }
  return false;
}

/**
 * Create the engine for one `gatewayProxy()`: one http-proxy-middleware instance, one pair of
 * keep-alive agents (http-proxy's default sends `Connection: close` per request, which halves
 * throughput and pushes p99 to seconds under load).
 */
export function createProxyEngine(options: HpmOptions & Record<string, unknown>): ProxyEngine {
  const timing = normalizeProxyExtras(options);
  const userAgent = options.agent;
  const agents = userAgent
    ? undefined
    : {
        http: new http.Agent({ keepAlive: true, scheduling: 'lifo' }),
        https: new https.Agent({ keepAlive: true, scheduling: 'lifo', ...(options.secure === false && { rejectUnauthorized: false }) }),
      };
  const userHandlesResponse = options.selfHandleResponse === true;

  const gatewayPlugin: Plugin = (proxyServer) => {
    const server = proxyServer as unknown as { web: WebFn };
    const web = server.web;
    server.web = function gatewayWeb(this: unknown, req, res, opts, cb) {
      const x = (req as Req)[kExchange];
      if (x === undefined) return web.call(this, req, res, opts, cb);
      const attemptOptions = agents && !opts.agent ? { ...opts, agent: isHttps(opts.target) ? agents.https : agents.http } : opts;
      x.run(web, this, attemptOptions).catch((err: unknown) => x.skip(err));
    } as WebFn;
    proxyServer.on('proxyRes', (proxyRes, req) => {
      const a = (req as Req)[kExchange]?.current;
      if (a !== undefined && a.proxyReq === (proxyRes as IncomingMessage & { req?: ClientRequest }).req) a.response(proxyRes);
    });
    // WebSocket upgrades still report through the 'error' event; without a listener it would throw.
    proxyServer.on('error', (_err, _req, target) => {
      const socket = target as unknown as Socket;
      if (socket && typeof socket.destroy === 'function' && !('writeHead' in socket)) socket.destroy();
    });
  };

  const on = { ...(options.on ?? {}) } as NonNullable<HpmOptions['on']>;
  // We deliver parsed bodies ourselves; fixRequestBody would write them a second time.
  if (on.proxyReq === fixRequestBody) delete on.proxyReq;
  const userPlugins = options.plugins ?? [];
  const plugins: Plugin[] = [gatewayPlugin, ...(options.ejectPlugins ? [] : [proxyEventsPlugin, ...(options.logger ? [loggerPlugin] : [])]), ...userPlugins];

  const hpmOptions: HpmOptions = { ...options, on, ejectPlugins: true, plugins };
  for (const k of ['retry', 'connectTimeout', 'responseTimeout', 'errors', 'proxyTimeout', 'onRetry', 'onGiveUp']) delete (hpmOptions as Record<string, unknown>)[k];
  const middleware: RequestHandler = createProxyMiddleware(hpmOptions);

  return {
    handle(req, res, policy, hooks) {
      const x = new Exchange(req as Req, res, policy, hooks, timing, userHandlesResponse);
      (req as Req)[kExchange] = x;
      // next() from http-proxy-middleware: pathFilter did not match, or router/pathRewrite threw.
      void middleware(req, res, (err?: unknown) => x.skip(err));
    },
  };
}
