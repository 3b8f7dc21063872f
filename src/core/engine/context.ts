/** What the exchanges of one gatewayProxy() share, and what an adapter hands each one. */
import type { IncomingMessage } from 'node:http';
import type { Responder } from '../answer/respond.js';
import type { Emitter } from '../observe/events.js';
import type { NormalizedProxyExtras } from '../options.js';
import type { StaleCache } from './stale.js';
import type { Reply } from '../types.js';
import type { Attempt } from './attempt.js';
import type { TargetSet } from './targets.js';

/** What an adapter provides for one request. */
export interface ExchangeHooks {
  /** The responder to answer with (the nearest gatewayErrors(), or the defaults). */
  readonly responder: Responder;
  /** A body a parser left behind (Express `req.body`, Koa `ctx.request.rawBody`). */
  readonly parsedBody?: unknown;
  /** Not for this proxy (pathFilter), or a non-upstream error: hand to the framework. */
  skip(err?: unknown): void;
  /** Right before the upstream response is written to the client (Koa: `ctx.respond = false`). */
  start(): void;
  /** The final answer is an error reply: write it. */
  reply(reply: Reply): void;
  /** The exchange is over: the response closed (Koa resolves its middleware here). */
  done?(): void;
  /** What `diagnose` is asked about (Koa's `ctx`); the request itself when absent (Express's `req`). */
  readonly subject?: unknown;
}

/** What proxy.ts reaches of a request in flight. */
export interface InFlight {
  /** The attempt under way, for the events of http-proxy's own `web()`. */
  readonly current: Attempt | undefined;
  skip(err?: unknown): void;
}

/** Shared by all exchanges of one gatewayProxy(). */
export interface EngineContext {
  readonly extras: NormalizedProxyExtras;
  readonly emit: Emitter;
  /** The user set selfHandleResponse: their on.proxyRes writes the response. */
  readonly userHandlesResponse: boolean;
  /** Options only http-proxy's own `web()` handles are set: attempts go through it (through-web.ts), not send.ts. */
  readonly throughWeb: boolean;
  /** `targets`: each attempt picks its own. */
  readonly targets: TargetSet | undefined;
  /** The copies for stale-if-error, when `stale` is on. */
  readonly stale: StaleCache | undefined;
  /**
   * The exchange of each request in flight through `web()` (throughWeb), for the events it
   * reports. A WeakMap, not a property of the request: on Express each property added to a request
   * gives it a hidden class of its own (Express swaps every request's prototype).
   */
  readonly exchanges: WeakMap<IncomingMessage, InFlight>;
}

/** The request's path as the client sent it, without the query string: what events report. */
export function pathOf(req: IncomingMessage & { originalUrl?: string }): string {
  const url = req.originalUrl ?? req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
