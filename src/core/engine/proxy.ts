/**
 * The proxy engine: http-proxy-middleware does the proxying (every option of it passes through);
 * this file adds attempts, retries, timeouts and the hand-over to the responder (the error answer).
 *
 * How it hooks in: http-proxy-middleware applies pathFilter, router and pathRewrite once, then
 * calls `proxyServer.web(req, res, options)`. A plugin wraps that call and runs the attempt loop
 * (exchange.ts, retry-loop.ts); with none of those three set, handle() makes that call itself.
 * Each attempt sends its upstream request through send.ts, built from http-proxy's own web
 * passes and `setupOutgoing` (outgoing.ts), with a fresh body stream (replayed from memory when
 * replayable), its own error callback and timers, and the response head held back until the
 * status is known (a 503 can be retried or replaced before a byte reaches the client). With
 * `forward` or `followRedirects`, which only http-proxy's `web()` implements, each attempt calls
 * the original `web` instead, with `selfHandleResponse`, a `buffer` and an error callback.
 */
import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import {
  createProxyMiddleware,
  fixRequestBody,
  loggerPlugin,
  proxyEventsPlugin,
  type Options as HpmOptions,
  type Plugin,
  type RequestHandler,
} from 'http-proxy-middleware';
import { createEmitter } from '../observe/events.js';
import { verdictOf, type AttemptResult } from './attempt.js';
import type { EngineContext, ExchangeHooks, InFlight } from './context.js';
import { Exchange, type Req } from './exchange.js';
import type { WebFn } from './through-web.js';
import { normalizeProxyExtras, normalizeRetry, PROXY_OPTIONS, type RetryPolicy, type GatewayProxyExtras, type NormalizedRetryPolicy } from '../options.js';
import type { Duplex } from 'node:stream';
import type { Responder } from '../answer/respond.js';
import { TargetSet, type TargetState } from './targets.js';
import { proxyUpgrade, type UpgradeContext, type WsServerLike } from './upgrade.js';
import { Upstream, Upstreams } from './upstream.js';
import { createStaleCache } from './stale.js';
import { parseTarget, type LegacyUrl } from './outgoing.js';
import { afterEarlierAnswers, queuedBehind } from './pipelined.js';
import { guardHandlers } from './user-handlers.js';

export type { ExchangeHooks } from './exchange.js';

export interface ProxyEngine<TReq extends IncomingMessage = IncomingMessage, TRes extends ServerResponse = ServerResponse> {
  handle(req: TReq, res: TRes, policy: NormalizedRetryPolicy | false, hooks: ExchangeHooks): void;
  /** For `server.on('upgrade', proxy.upgrade)`, as on http-proxy-middleware's middleware. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** What `proxy.state()` returns. */
  state(): ProxyState;
  /** Stop the health checks' timers. */
  close(): void;
}

/** A gatewayProxy()'s upstream state, for a health endpoint or a dashboard. */
export interface ProxyState {
  /** Each upstream (a target origin, or the group of `targets`) requests went to, with its circuit. */
  readonly upstreams: readonly { readonly upstream: string; readonly circuit: 'closed' | 'open' | 'half-open' | 'off'; readonly active: number }[];
  /** Each of `targets`, when given. */
  readonly targets?: readonly TargetState[];
}

/** What handle() was given for a request, until its exchange is made. */
interface Pending {
  readonly policy: NormalizedRetryPolicy | false;
  readonly hooks: ExchangeHooks;
}

/** Our options, removed before the rest goes to http-proxy-middleware. */
const OWN_OPTIONS: ReadonlySet<string> = new Set(PROXY_OPTIONS);

/** http-proxy-middleware checks only that a target exists; a wrong one would fail every request. */
function checkTarget(target: unknown, router: unknown): void {
  if (target === undefined) {
    if (router === undefined) throw new TypeError('gateway-errors: `target` (or `router`) is required.');
    return;
  }
  if (typeof target === 'string') {
    if (URL.canParse(target)) return;
  } else if (typeof target === 'object' && target !== null) return;
  const shown = typeof target === 'string' ? JSON.stringify(target) : String(target);
  throw new TypeError(`gateway-errors: \`target\` must be a URL string, a URL or an object with host and port, got ${shown}.`);
}

/**
 * Through `web()`, 'proxyRes' listeners run in the order they were added, the user's after ours:
 * one that piped the body somewhere set it flowing before the client's pipe is attached, so this
 * one, added last, holds it again (send.ts does the same after its own emit).
 */
const holdBodyPlugin: Plugin = (proxyServer) => {
  proxyServer.on('proxyRes', (proxyRes) => {
    if (proxyRes.readableFlowing === true) proxyRes.pause();
  });
};

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
 * keep-alive agents (without one, http-proxy sends `Connection: close` and opens a connection
 * per request), state per upstream.
 */
export function createProxyEngine<TReq extends IncomingMessage, TRes extends ServerResponse>(
  input: HpmOptions<TReq, TRes> & GatewayProxyExtras<never>,
  responder: () => Responder,
): ProxyEngine<TReq, TRes> {
  // Read as Node's own request and response: http-proxy-middleware hands back the very objects
  // the framework gave, so its callbacks typed for the framework's subtypes get what they expect.
  const options = { ...input } as HpmOptions & Record<string, unknown>;
  const extras = normalizeProxyExtras(options);
  if (extras.targets === undefined) checkTarget(options.target, options.router);
  const emit = createEmitter(extras.hooks, extras.logger);
  // Attempts are sent by send.ts from http-proxy's parts, except where only its web() will do.
  const throughWeb = Boolean(options.forward) || options.followRedirects === true;
  const exchanges = new WeakMap<IncomingMessage, InFlight>();
  /** What handle() was given for a request that http-proxy-middleware has not passed on yet. */
  const pending = new WeakMap<IncomingMessage, Pending>();
  const upstreams = new Upstreams<AttemptResult>((name) => new Upstream<AttemptResult>(name, extras, verdictOf, emit));
  // `targets` share one upstream state (circuit, budget, concurrency) as a group; each attempt
  // picks its target (targets.ts).
  const groupName = extras.targets?.map((t) => new URL(t.url).origin).join(',');
  const group = groupName === undefined ? undefined : new Upstream<AttemptResult>(groupName, extras, verdictOf, emit);
  const targets = groupName === undefined ? undefined : new TargetSet(extras.targets!, groupName, extras.outlier, extras.healthCheck, emit);
  const stale = extras.stale && createStaleCache(extras.stale);
  const ctx: EngineContext = { extras, emit, userHandlesResponse: options.selfHandleResponse === true, throughWeb, exchanges, targets, stale };
  const retry = options.retry as RetryPolicy | false | undefined | ((...args: never[]) => unknown);
  const policy = normalizeRetry(retry === undefined || typeof retry === 'function' ? {} : retry);
  const upgrades: UpgradeContext = { extras, policy, emit, targets, upstreamFor: (target) => group ?? upstreams.get(target), responder };
  const agents = options.agent
    ? undefined
    : {
        http: new http.Agent({ keepAlive: true, scheduling: 'lifo' }),
        https: new https.Agent({ keepAlive: true, scheduling: 'lifo', ...(options.secure === false && { rejectUnauthorized: false }) }),
      };

  // The target of the last request as http-proxy wants it, parsed once: nearly every request of
  // one proxy goes to the same target (a `router` may vary it).
  let lastTarget: string | undefined;
  let lastLegacy: LegacyUrl | undefined;
  const legacyOf = (target: string): LegacyUrl => {
    if (target !== lastTarget) {
      lastLegacy = parseTarget(target);
      lastTarget = target;
    }
    return lastLegacy!;
  };

  /** Make the request's exchange and run it: `opts` is the request's own copy of the options. */
  const start = (req: IncomingMessage, res: ServerResponse, opts: Record<string, unknown>, p: Pending, web: WebFn, server: unknown): void => {
    const exchange = new Exchange(req as Req, res, p.policy, p.hooks, ctx);
    if (throughWeb) exchanges.set(req, exchange);
    try {
      // A `router`'s target that does not parse fails this request, through the exchange.
      if (typeof opts.target === 'string') opts.target = legacyOf(opts.target);
      if (agents && !opts.agent) opts.agent = isHttps(opts.target) ? agents.https : agents.http;
      exchange.run(web, server, opts, group ?? upstreams.get(opts.target));
    } catch (err) {
      exchange.skip(err);
    }
  };
  /** http-proxy-middleware's proxy server and its own web(), as our plugin met them. */
  let proxyServer: { web: WebFn } | undefined;
  let ownWeb: WebFn | undefined;
  let gatewayWeb: WebFn | undefined;
  const gatewayPlugin: Plugin = (hpmServer) => {
    const server = (proxyServer = hpmServer as unknown as { web: WebFn });
    const web = (ownWeb = server.web);
    server.web = gatewayWeb = function gatewayWeb(this: unknown, req, res, opts, cb) {
      const p = pending.get(req);
      if (p === undefined) return web.call(this, req, res, opts, cb);
      pending.delete(req);
      start(req, res, opts, p, web, this);
    } as WebFn;
    // Upgrades (server 'upgrade' events, through http-proxy-middleware's router and pathRewrite).
    const wsServer = hpmServer as unknown as WsServerLike & { ws: unknown };
    wsServer.ws = function gatewayWs(req: IncomingMessage, socket: Duplex, head: Buffer, opts: Record<string, unknown>) {
      proxyUpgrade(upgrades, wsServer, req, socket, head ?? Buffer.alloc(0), { ...opts }).catch(() => socket.destroy());
    };
    if (throughWeb) {
      // An attempt through web() (through-web.ts) without a body stream: its upstream request.
      hpmServer.on('proxyReq', (proxyReq, req) => {
        const a = exchanges.get(req)?.current;
        if (a !== undefined && a.proxyReq === undefined) a.attach(proxyReq);
      });
      hpmServer.on('proxyRes', (proxyRes, req) => {
        const a = exchanges.get(req)?.current;
        if (a === undefined || a.proxyReq === undefined) return;
        // Only the current attempt's response (a late one of a timed-out attempt is not). With
        // followRedirects the attempt holds follow-redirects' request, which wraps the one of
        // the final redirect.
        const from = (proxyRes as IncomingMessage & { req?: ClientRequest }).req;
        const proxyReq = a.proxyReq as ClientRequest & { _currentRequest?: ClientRequest };
        if (from === proxyReq || from === proxyReq._currentRequest) a.response(proxyRes);
      });
    }
    // WebSocket upgrades still report through the 'error' event; without a listener it would throw.
    hpmServer.on('error', (_err, _req, target) => {
      const socket = target as unknown as Socket;
      if (socket && typeof socket.destroy === 'function' && !('writeHead' in socket)) socket.destroy();
    });
  };

  const on = { ...(options.on ?? {}) } as NonNullable<HpmOptions['on']>;
  // We deliver parsed bodies ourselves, byte for byte; fixRequestBody would rebuild them.
  if (on.proxyReq === fixRequestBody) delete on.proxyReq;
  guardHandlers(on as Record<string, unknown>);
  const defaults = options.ejectPlugins ? [] : [proxyEventsPlugin, ...(options.logger ? [loggerPlugin] : [])];
  const plugins: Plugin[] = [gatewayPlugin, ...defaults, ...(options.plugins ?? []), ...(throughWeb ? [holdBodyPlugin] : [])];
  // Built without `delete`, which would leave an object that is slow to copy, and it is copied
  // for every request.
  const hpmOptions: Record<string, unknown> = {};
  for (const [k, v] of Object.entries({ ...options, on, ejectPlugins: true, plugins })) if (!OWN_OPTIONS.has(k)) hpmOptions[k] = v;
  // http-proxy-middleware wants a target; each attempt sets its own.
  if (extras.targets !== undefined) hpmOptions.target = extras.targets[0]!.url;
  const middleware: RequestHandler = createProxyMiddleware(hpmOptions as HpmOptions);

  // With no router, no pathRewrite and no pathFilter (or its default, '/'), http-proxy-middleware's
  // work per request (match '/', copy its options, two awaits) comes to calling its proxy server's
  // web() with a copy of its options: done here directly for a path it would match. Its first
  // request still goes through it, since it then subscribes to the server's 'close' (and
  // 'upgrade', with `ws`).
  const direct = (options.pathFilter === undefined || options.pathFilter === '/') && options.router === undefined && options.pathRewrite === undefined;
  let subscribed = false;
  const handle = (req: TReq, res: TRes, policy: NormalizedRetryPolicy | false, hooks: ExchangeHooks): void => {
    // A path, as the middleware's pathFilter '/' reads it; '//…' may read as a host to url.parse().
    const url = req.url;
    if (subscribed && url !== undefined && url.charCodeAt(0) === 47 && url.charCodeAt(1) !== 47) {
      const opts = Object.assign({}, hpmOptions);
      // A plugin of the user's that wrapped web() after ours is called as the middleware would.
      if (proxyServer!.web === gatewayWeb) return start(req, res, opts, { policy, hooks }, ownWeb!, proxyServer);
      pending.set(req, { policy, hooks });
      try {
        proxyServer!.web(req, res, opts, undefined as never);
      } catch (err) {
        skipped(req, hooks, err);
      }
      return;
    }
    if (direct && (req.socket as { server?: unknown } | null)?.server !== undefined) subscribed = true;
    // What handle() was given, for gatewayWeb: the exchange is made only if http-proxy-middleware's
    // pathFilter matched; a request for another route is handed on untouched, as it does.
    pending.set(req, { policy, hooks });
    // next() from http-proxy-middleware: pathFilter did not match, or router/pathRewrite threw.
    void middleware(req, res, (err?: unknown) => skipped(req, hooks, err));
  };
  /** The request goes back to the framework, with `err` when something failed. */
  const skipped = (req: IncomingMessage, hooks: ExchangeHooks, err?: unknown): void => {
    const exchange = exchanges.get(req);
    if (exchange !== undefined) return exchange.skip(err);
    pending.delete(req);
    hooks.skip(err);
  };

  return {
    handle(req, res, policy, hooks) {
      if (queuedBehind(req, res)) return afterEarlierAnswers(req, res, () => handle(req, res, policy, hooks), hooks);
      handle(req, res, policy, hooks);
    },
    upgrade(req, socket, head) {
      (middleware as RequestHandler & { upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void }).upgrade(req, socket, head);
    },
    state() {
      const list = group === undefined ? upstreams.all() : [group];
      return {
        upstreams: list.map((u) => ({ upstream: u.name, circuit: u.circuit?.state() ?? 'off', active: u.active })),
        ...(targets !== undefined && { targets: targets.state() }),
      };
    },
    close() {
      targets?.close();
    },
  };
}
