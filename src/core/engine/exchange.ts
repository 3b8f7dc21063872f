/**
 * One client request through the proxy: its attempts, their timers, the retry loop, and the
 * hand-over — to the client (streaming) or to the error sink. See proxy.ts for how it is reached.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import webOutgoing from 'http-proxy/lib/http-proxy/passes/web-outgoing.js';
import { bodySource, type BodySource } from './body.js';
import { OPEN, type Verdict } from './circuit.js';
import { classifyError, failureOf } from '../decide/classify.js';
import type { Emitter } from '../observe/events.js';
import { isReplayable, type NormalizedProxyExtras, type NormalizedRetryPolicy } from '../options.js';
import { applyHeaders, isGatewayStatus, kHandled, type RequestFacts, type Responder } from '../answer/respond.js';
import { afterHandlers, asClientError, beforeHandlers, guardWrites, nativeOf, HandlerError, strictLength } from './framing.js';
import { dropHopByHop, hop, sentHopByHop, type ProxyServerLike } from './hop.js';
import { observe, type Observation } from './observe.js';
import { decideRetry } from '../decide/retry.js';
import { parseRetryAfter } from '../decide/retry-after.js';
import type { StaleCache } from './stale.js';
import type { Span } from '../observe/telemetry.js';
import type { Failure, ProxyErrorType, Reply } from '../types.js';
import type { Target, TargetSet } from './targets.js';
import type { Upstream } from './upstream.js';

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
  /** The exchange is over: the response closed (Koa resolves its middleware here). */
  done?(): void;
  /** What `diagnose` is asked about (Koa's `ctx`); the request itself when absent (Express's `req`). */
  readonly subject?: unknown;
}

export { kHandled };

export type Req = IncomingMessage & { originalUrl?: string };
type Res = ServerResponse & { [kHandled]?: boolean };

/** One attempt's result. `unsent`: the attempt failed before its connection was made, so no byte of the request left. */
export type AttemptResult =
  | { kind: 'response'; proxyRes: IncomingMessage }
  | { kind: 'failed'; failure: Failure; retryable: boolean; retryAfter?: number; proxyRes?: IncomingMessage; unsent?: boolean }
  | { kind: 'error'; error: unknown }
  | { kind: 'aborted' };

/**
 * How a request's (or an attempt's) outcome counts for the upstream's health: a gateway failure
 * against it, any answer for it, an app error or a client that left not at all.
 */
export const verdictOf = (r: { readonly kind: string }): Verdict => (r.kind === 'failed' ? 'failure' : r.kind === 'error' || r.kind === 'aborted' ? 'neutral' : 'success');

export type WebFn = (
  req: IncomingMessage,
  res: ServerResponse,
  options: Record<string, unknown>,
  cb: (err: Error) => void,
) => void;

/** Shared by all exchanges of one gatewayProxy(). */
export interface EngineContext {
  readonly extras: NormalizedProxyExtras;
  readonly emit: Emitter;
  /** The user set selfHandleResponse: their on.proxyRes writes the response. */
  readonly userHandlesResponse: boolean;
  /** Options only http-proxy's own `web()` handles are set: attempts go through it, not `hop`. */
  readonly viaWeb: boolean;
  /** `targets`: each attempt picks its own. */
  readonly targets: TargetSet | undefined;
  /**
   * The exchange of each request in flight, for the hook in http-proxy-middleware's call to
   * `web()`. A WeakMap, not a property of the request: on Express each property added to a request
   * gives it a hidden class of its own (Express swaps every request's prototype).
   */
  readonly exchanges: WeakMap<IncomingMessage, Exchange>;
  /** The copies for stale-if-error, when `stale` is on. */
  readonly stale: StaleCache | undefined;
}

class AttemptFailed extends Error {
  constructor(readonly result: AttemptResult) {
    super('attempt failed');
  }
}

const XFWD = ['x-forwarded-for', 'x-forwarded-port', 'x-forwarded-proto', 'x-forwarded-host'] as const;
/**
 * The upstream's `Connection` and `Keep-Alive` are about the gateway's connection to it (RFC 9110,
 * section 7.6.1), but http-proxy copies them to the client: an upstream's `close` ended the
 * client's keep-alive connection to the gateway, its `keep-alive` kept open a connection the
 * client had asked to close (Node honours the header it is given), and its `Keep-Alive: timeout=`
 * told the client the upstream's idle limit. So after http-proxy's passes the client gets what
 * setConnection answers when the upstream sends neither. `proxyRes.headers` stays as it came:
 * Node's agent reads the upstream's Keep-Alive hint there to retire the socket in time.
 */
function answerClientConnection(req: IncomingMessage, res: ServerResponse, proxyRes: IncomingMessage): void {
  const { connection } = proxyRes.headers;
  if (proxyRes.headers['keep-alive'] !== undefined) res.removeHeader('keep-alive');
  if (connection === undefined || /\bupgrade\b/i.test(connection)) return;
  if (req.httpVersion === '2.0') return void res.removeHeader('connection');
  const own = req.headers.connection ?? (req.httpVersion === '1.0' ? 'close' : 'keep-alive');
  if (own !== connection) res.setHeader('connection', own);
}

const RESPONSE_PASSES = [
  webOutgoing.removeChunked,
  webOutgoing.setConnection,
  webOutgoing.setRedirectHostRewrite,
  webOutgoing.writeHeaders,
  answerClientConnection,
  webOutgoing.writeStatusCode,
];
/** A small error body is read to the end so its keep-alive socket can be reused; a large one is dropped. */
const DRAIN_LIMIT = 64 * 1024;
/** Retry-After for a request refused by the concurrency limit: capacity frees up in moments. */
const LIMIT_RETRY_AFTER = 1;

function discard(res: IncomingMessage | undefined): void {
  if (res === undefined) return;
  const len = Number(res.headers['content-length']);
  if (Number.isFinite(len) && len <= DRAIN_LIMIT) res.resume();
  else res.destroy();
}

function pathOf(req: Req): string {
  const url = req.originalUrl ?? req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Per-request state: the attempt loop for one client request. */
export class Exchange {
  /** Aborted when the client leaves; made on first use (only a retry's wait needs one). */
  private controller: AbortController | undefined;
  clientGone = false;
  started = false;
  current: Attempt | undefined;
  body!: BodySource;
  /** When the whole request must have its answer (ms since epoch), or 0 for none. */
  deadlineAt = 0;
  /** Some attempt got a connection: the request may have reached the upstream. */
  reached = false;
  /** The upstream response being streamed to the client. */
  streaming: IncomingMessage | undefined;
  /** Attempts started so far. */
  attempts = 0;
  private giveUpReason = 'retries_exhausted';
  /** `targets` this request's attempts went to. */
  private tried: Set<Target> | undefined;
  /** No stored copy could answer this failure (`stale`): the error answer it is. */
  private staleMissed = false;
  private upstream: Upstream<AttemptResult> | undefined;
  /** The upstream's name for events, also for a request answered before it counted as in flight. */
  private upstreamName = 'unknown';
  /** Listener counts on req before the first attempt: http-proxy's web() adds to them per call. */
  private baseAborted = 0;
  private baseError = 0;

  constructor(
    readonly req: Req,
    readonly res: Res,
    readonly policy: NormalizedRetryPolicy | false,
    readonly hooks: ExchangeHooks,
    readonly ctx: EngineContext,
  ) {
    res.on('close', this.onClose); // a response closes once: no once() wrapper needed
    // Made once pathFilter and an async router had their say: the client may have left meanwhile.
    if (res.destroyed) this.clientGone = true;
    this.obs = observe(this);
  }

  /** Events, metrics, spans and the owner's view of this request; undefined when nobody looks. */
  readonly obs: Observation | undefined;

  /** The one 'close' listener of the exchange: the client left early, or the answer is complete. */
  private readonly onClose = (): void => {
    if (!this.res.writableFinished) {
      this.clientGone = true;
      this.controller?.abort();
      this.current?.cancel();
      // A client that leaves mid-body cuts the upstream response it was reading.
      if (this.streaming !== undefined && !this.streaming.complete) this.streaming.destroy();
    }
    this.obs?.end(this.res);
    this.hooks.done?.();
  };

  private get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.clientGone) this.controller.abort();
    return this.controller.signal;
  }

  facts(): RequestFacts {
    const { method = 'GET', headers } = this.req;
    const { obs } = this;
    return {
      method,
      headers,
      idempotent: isReplayable(method, headers, this.policy),
      subject: this.hooks.subject ?? this.req,
      ...(obs !== undefined && { diagnosis: () => obs.diagnosis() }),
    };
  }

  /** Runs when http-proxy-middleware has resolved target and path: the whole attempt loop. */
  async run(web: WebFn, server: unknown, options: Record<string, unknown>, upstream: Upstream<AttemptResult>): Promise<void> {
    const { req, policy, ctx } = this;
    const { maxConcurrent, deadline } = ctx.extras;
    this.obs?.begin(upstream, ctx.targets);
    this.upstreamName = upstream.name;
    if (maxConcurrent > 0 && upstream.active >= maxConcurrent) {
      this.giveUpReason = 'concurrency_limit';
      return this.conclude({ kind: 'failed', failure: { ...failureOf('connection_limit_reached'), retryAfter: LIMIT_RETRY_AFTER }, retryable: false });
    }
    const blocked = upstream.circuit?.blockedFor();
    if (blocked !== undefined) return this.conclude(this.circuitOpen(blocked));
    if (req.headers.upgrade !== undefined && /^\s*websocket\s*$/i.test(req.headers.upgrade) && /\bupgrade\b/i.test(req.headers.connection ?? '')) {
      // Node hands an upgrade to the app as a plain request while no 'upgrade' listener is on
      // the server (before `server.on('upgrade', proxy.upgrade)`, or with `ws: true` before the
      // first plain request let http-proxy-middleware add one): its 101 could not be relayed on
      // this path. Answered at once, so the client tries again, rather than waiting for timeouts.
      // Other upgrades (curl's h2c) go on as plain requests: the upstream may ignore the offer.
      this.giveUpReason = 'upgrade_not_attached';
      return this.conclude({ kind: 'failed', failure: { ...failureOf('destination_unavailable'), retryAfter: 1 }, retryable: false });
    }
    this.upstream = upstream;
    upstream.active++;

    const replayableRequest = policy !== false && policy.retries > 0 && isReplayable(req.method, req.headers, policy);
    try {
      // Read into memory (up to the limit) whenever another attempt could follow: an idempotent
      // request may be replayed, and any request may be sent again when no byte of it left
      // (nginx buffers request bodies for the same reason: proxy_request_buffering).
      const source = bodySource(req, policy !== false && policy.retries > 0, policy === false ? 0 : policy.bodyLimit, this.hooks.parsedBody);
      this.body = source instanceof Promise ? await source : source; // no wait for a body already at hand
    } catch (err) {
      if (this.clientGone) return this.finish();
      return this.skip(err);
    }
    upstream.budget?.deposit();
    if (deadline > 0) this.deadlineAt = Date.now() + deadline;
    const xfwd = options.xfwd === true ? XFWD.map((h) => req.headers[h]) : undefined;
    if (ctx.viaWeb) {
      this.baseAborted = req.listenerCount('aborted');
      this.baseError = req.listenerCount('error');
    }

    const attempt = (n: number): Promise<AttemptResult> => {
      this.attempts = n;
      if (n > 1) this.resetRequest(xfwd);
      return new Promise<AttemptResult>((resolve) => {
        const a = new Attempt(this, resolve);
        this.current = a;
        if (ctx.targets !== undefined) {
          const t = ctx.targets.pick(this.tried);
          (this.tried ??= new Set()).add(t);
          t.active++;
          a.target = t;
          options.target = t.legacy;
        }
        if (this.deadlineAt > 0 && this.deadlineAt <= Date.now()) return a.timeout('http_response_timeout');
        // `options` is this request's own copy (http-proxy-middleware makes one per request).
        options.selfHandleResponse = true;
        a.options = options;
        try {
          if (ctx.viaWeb) this.viaWeb(web, server, options, a);
          else hop(server as ProxyServerLike, req, this.res, options, this.body.empty ? undefined : this.body.stream(), a);
        } catch (err) {
          a.error(err); // e.g. http.request() rejecting an invalid path synchronously
        }
      });
    };
    // The whole request, retries and all: the circuit counts its final outcome, not its attempts.
    // Promise chains, not async functions: an attempt lasts a whole upstream round trip, and each
    // async function awaiting it would keep a suspended frame per request for that long.
    const request = (): Promise<AttemptResult> =>
      attempt(1).then((first) => {
        if (first.kind !== 'failed' || policy === false) return first;
        if (!this.mayResend(first, replayableRequest)) {
          // With `retries: 0` nothing is sent again whatever the request: no retries left.
          if (policy.retries > 0) this.giveUpReason = 'not_replayable';
          return first;
        }
        return this.retry(first, attempt, policy, replayableRequest);
      });
    const circuit = upstream.circuit;
    const outcome = circuit === undefined ? request() : circuit.run(request).then((r) => (r === OPEN ? this.circuitOpen(circuit.blockedFor() ?? 1) : r));
    // Returned, not awaited: no suspended frame of this function for the whole round trip.
    return outcome.then((r) => this.conclude(r));
  }

  /**
   * Whether a failed attempt may be followed by another: the request may be replayed (an
   * idempotent method or Idempotency-Key), or nothing of it left — the connection was never made
   * (refused, DNS, connect timeout) — so sending it again, to another target or the same one,
   * cannot run it twice (what nginx does for non-idempotent requests). Either way the body must be
   * in memory.
   */
  private mayResend(r: AttemptResult & { kind: 'failed' }, replayableRequest: boolean): boolean {
    return this.body.replayable && (replayableRequest || r.unsent === true);
  }

  /**
   * The retries, over p-retry. The first attempt ran before, outside it, so a request that
   * succeeds at once — nearly all of them — pays nothing for the retry machinery.
   */
  private async retry(
    first: AttemptResult,
    attempt: (n: number) => Promise<AttemptResult>,
    policy: NormalizedRetryPolicy,
    replayableRequest: boolean,
  ): Promise<AttemptResult> {
    const settle = (err: unknown): AttemptResult => {
      if (err instanceof AttemptFailed) return err.result;
      if (this.clientGone) return { kind: 'aborted' };
      return { kind: 'error', error: err };
    };
    try {
      if (!(await this.shouldRetry(first, 0, policy, replayableRequest))) return first;
    } catch (err) {
      return this.clientGone ? { kind: 'aborted' } : settle(err);
    }
    return pRetry(
      async (n) => {
        const r = await attempt(n + 1);
        if (r.kind === 'failed') throw new AttemptFailed(r);
        return r;
      },
      {
        retries: policy.retries - 1,
        // p-retry's own delay is zero: the wait (backoff with full jitter, or the upstream's
        // Retry-After in its place) happens in shouldRetry, after the decision, so it is never
        // added on top of another delay and never spent after the last attempt.
        minTimeout: 0,
        maxTimeout: 0,
        signal: this.signal,
        shouldRetry: ({ error, retriesConsumed }) => this.shouldRetry((error as AttemptFailed).result, retriesConsumed + 1, policy, replayableRequest),
      },
    ).catch(settle);
  }

  private async shouldRetry(r: AttemptResult | undefined, retriesConsumed: number, policy: NormalizedRetryPolicy, replayableRequest: boolean): Promise<boolean> {
    if (r?.kind !== 'failed') return false;
    // An instance's Retry-After speaks for that instance: with another of `targets` left to try,
    // the retry goes there without waiting for it (nginx's proxy_next_upstream http_503).
    const elsewhere = this.ctx.targets?.hasUntried(this.tried) === true;
    const decision = decideRetry({
      policy,
      replayable: this.mayResend(r, replayableRequest),
      retriesUsed: retriesConsumed,
      retryable: r.retryable,
      retryAfter: elsewhere ? undefined : r.retryAfter,
      responseStarted: this.started,
      clientGone: this.clientGone,
      remaining: this.deadlineAt > 0 ? this.deadlineAt - Date.now() : undefined,
    });
    if (!decision.retry) {
      this.giveUpReason = decision.reason;
      return false;
    }
    if (this.upstream?.circuit?.blockedFor() !== undefined) {
      // The failure just opened the circuit: the next attempt would be refused anyway.
      this.giveUpReason = 'circuit_open';
      return false;
    }
    if (this.upstream?.budget?.tryWithdraw() === false) {
      this.giveUpReason = 'budget_exhausted';
      return false;
    }
    this.ctx.emit.retry({
      upstream: this.upstreamName,
      attempt: retriesConsumed + 1,
      delay: decision.delay,
      reason: decision.reason,
      failure: r.failure,
      method: this.req.method ?? 'GET',
      path: pathOf(this.req),
    });
    discard(r.proxyRes);
    if (decision.delay > 0) await sleep(decision.delay, undefined, { signal: this.signal });
    return true;
  }

  /**
   * An attempt through http-proxy's own `web()`, for the options only it handles (`forward`,
   * `followRedirects`). It gets the body as `buffer` and reports through its error callback and
   * the 'proxyReq' / 'proxyRes' events (see proxy.ts).
   */
  private viaWeb(web: WebFn, server: unknown, options: Record<string, unknown>, a: Attempt): void {
    // With `forward`, http-proxy first sends a copy to the mirror, fire and forget (as nginx's
    // `mirror`): its request is not the attempt's, and its failure is not the upstream's.
    let mirror = Boolean(options.forward);
    let mirrorError: unknown;
    if (!mirror && this.body.empty && this.req.headers.expect === undefined) {
      // No body: http-proxy pipes the ended request, and its 'proxyReq' event hands us the
      // upstream request.
      options.buffer = undefined;
    } else {
      const buffer = this.body.stream();
      const pipe = buffer.pipe;
      const { req } = this;
      // The user's on.proxyReq handlers may write the body themselves (framing.ts); ours is one.
      const userHandlers = (server as { listenerCount(e: string): number }).listenerCount('proxyReq') > 1;
      let mirrorPipe: (() => void) | undefined;
      // http-proxy pipes `buffer` into each request right after creating it, the mirror's first:
      // the one moment we can reach them whatever the headers (its 'proxyReq' event skips
      // requests with `Expect`, and has none for the mirror's).
      buffer.pipe = function <T extends NodeJS.WritableStream>(this: Readable, dest: T, o?: { end?: boolean }): T {
        const outgoing = dest as unknown as ClientRequest;
        if (mirror) {
          mirror = false;
          outgoing.prependListener('error', (err) => (mirrorError = err));
          amendHead(outgoing, req, options, undefined);
          if (!userHandlers) return pipe.call(this, dest, o) as T;
          // Held until the upstream request's handlers have run: both read the one buffer.
          mirrorPipe = () => pipe.call(buffer, dest, o);
          return dest;
        }
        buffer.pipe = pipe;
        a.attach(outgoing);
        if (!userHandlers) return pipe.call(this, dest, o) as T;
        // http-proxy emits 'proxyReq' on 'socket', before this listener runs: the body is ours
        // only if the handlers wrote none. The mirror gets the client's body either way.
        const before = beforeHandlers(outgoing);
        outgoing.once('socket', () => {
          let sent = false;
          afterHandlers(outgoing, before, undefined, () => {
            sent = true;
            mirrorPipe?.();
            pipe.call(buffer, dest, o);
          });
          if (!sent) mirrorPipe?.();
        });
        return dest;
      };
      options.buffer = buffer;
    }
    web.call(server, this.req, this.res, options, (err) => {
      if (err !== mirrorError) a.error(err);
    });
  }

  private circuitOpen(retryAfter: number): AttemptResult {
    this.giveUpReason = 'circuit_open';
    return { kind: 'failed', failure: { ...failureOf('destination_unavailable'), retryAfter }, retryable: false };
  }

  /** Restore what http-proxy changed on `req` during the last attempt. */
  private resetRequest(xfwd: (string | string[] | undefined)[] | undefined): void {
    const { req } = this;
    if (xfwd)
      XFWD.forEach((h, i) => {
        const v = xfwd[i];
        if (v === undefined) delete req.headers[h];
        else req.headers[h] = v as string;
      });
    // http-proxy's web() adds an 'aborted' and an 'error' listener to req per call (appended
    // after ours and the framework's): drop the stale ones before they trip MaxListenersExceeded.
    if (!this.ctx.viaWeb) return;
    for (const [event, keep] of [['aborted', this.baseAborted], ['error', this.baseError]] as const) {
      for (const l of req.listeners(event).slice(keep)) req.off(event, l as (...a: unknown[]) => void);
    }
  }

  /** Why the last failed attempt was the last: a GiveUpReason, `circuit_open` or `concurrency_limit`. */
  reasonFor(result: AttemptResult & { kind: 'failed' }): string {
    return this.attempts === 1 && !result.retryable && this.giveUpReason === 'retries_exhausted' ? 'not_retryable' : this.giveUpReason;
  }

  private conclude(result: AttemptResult): void {
    const { res, hooks } = this;
    this.obs?.concluded(result);
    switch (result.kind) {
      case 'response':
        return this.deliver(result.proxyRes);
      case 'failed': {
        if (this.clientGone) {
          discard(result.proxyRes);
          return this.finish();
        }
        const { proxyRes } = result;
        const failure = this.reached ? result.failure : { ...result.failure, unsent: true };
        if (proxyRes !== undefined && !isGatewayStatus(proxyRes.statusCode ?? 0)) {
          // A retried status that is not ours to brand (e.g. 429 in `statuses`): hand it over as is.
          return this.deliver(proxyRes);
        }
        const reason = this.reasonFor(result);
        const stale = this.ctx.stale;
        if (stale !== undefined && !this.staleMissed) return this.answerStale(stale, result, failure, reason);
        this.ctx.emit.giveUp({
          upstream: this.upstreamName,
          attempts: this.attempts,
          reason,
          failure,
          method: this.req.method ?? 'GET',
          path: pathOf(this.req),
        });
        if (proxyRes !== undefined && hooks.responder.options.keepUpstreamBody) {
          return this.deliver(proxyRes, hooks.responder.passthroughHeaders(failure, this.facts()));
        }
        discard(proxyRes);
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

  /** The last good copy instead of the error answer (stale.ts); without one, the error answer after all. */
  private answerStale(stale: StaleCache, result: AttemptResult & { kind: 'failed' }, failure: Failure, reason: string): void {
    const { req, hooks } = this;
    let decided = false;
    const after = (served: boolean): void => {
      if (decided) return;
      decided = true;
      if (!served) {
        this.staleMissed = true;
        return this.conclude(result);
      }
      this.obs?.servedStale();
      discard(result.proxyRes);
      this.finish();
    };
    const served = stale.answer({
      req, res: this.res, failure, reason, attempts: this.attempts, upstream: this.upstreamName, path: pathOf(req),
      responder: hooks.responder, facts: this.facts(), emit: this.ctx.emit, gone: () => this.clientGone || decided, start: () => hooks.start(),
    });
    if (typeof served === 'boolean') return after(served);
    // A store that does not answer is a miss: the error answer by the deadline (or in 2 s),
    // never a client left waiting. A copy that comes later finds the answer sent and stays home.
    const wait = this.deadlineAt > 0 ? Math.max(100, this.deadlineAt - Date.now()) : STORE_WAIT;
    const timer = setTimeout(() => after(false), wait);
    served.then(
      (ok) => {
        clearTimeout(timer);
        after(ok);
      },
      () => {
        clearTimeout(timer);
        after(false);
      },
    );
  }

  /** Hand the upstream response to the client, streaming, untouched but for http-proxy's passes. */
  private deliver(proxyRes: IncomingMessage, extraHeaders?: Record<string, string | undefined>): void {
    const { req, res } = this;
    if (this.clientGone) {
      proxyRes.destroy();
      return this.finish();
    }
    // A user's on.proxyRes that threw destroyed it (proxy.ts): nothing of it has gone out yet.
    if (proxyRes.errored instanceof HandlerError) return this.skip(proxyRes.errored);
    this.started = true;
    // Only a gateway status let through (keepUpstreamBody) needs the interceptor told to keep off;
    // marking every response would add a property to each one on the hot path.
    if (isGatewayStatus(proxyRes.statusCode ?? 0)) res[kHandled] = true;
    this.hooks.start();
    if (this.ctx.userHandlesResponse) {
      // The user's own on.proxyRes writes the answer: let the body go to what it set up (a
      // responseInterceptor's 'data' listener), or drain it if nothing did.
      if (proxyRes.isPaused()) proxyRes.resume();
      return this.finish();
    }
    const options = this.current!.options;
    for (const pass of RESPONSE_PASSES) pass(req, res, proxyRes, options);
    if (extraHeaders) applyHeaders(res, extraHeaders);
    if (proxyRes.complete && proxyRes.readableLength <= WHOLE_BODY_MAX && proxyRes.readableFlowing !== true && noReader(proxyRes)) {
      // The whole answer is here already (most small ones are, by the time the attempt settles)
      // and nobody reads it but us: head and body in one end() instead of a pipe, whose listeners
      // on both streams, resume tick and 'data' event cost more than the write. read() hands over
      // everything buffered and ends the response, which frees its socket for the next request.
      const body = proxyRes.read() as Buffer | null;
      res.end(body);
      this.ctx.stale?.keep(req, proxyRes, body);
      return this.finish();
    }
    // A body of unknown length is a stream (SSE, long poll): send the head now, not with the first
    // chunk, so the client sees the stream open even when the first event is minutes away.
    if (proxyRes.headers['content-length'] === undefined && !proxyRes.complete) res.flushHeaders();
    const idle = this.ctx.extras.idleTimeout;
    if (idle > 0 && !proxyRes.complete) {
      // A body silent for too long is dead: end the connection (the head is gone, no page now).
      const timer = setTimeout(() => proxyRes.destroy(Object.assign(new Error('upstream body idle'), { code: 'ETIMEDOUT' })), idle);
      proxyRes.on('data', () => timer.refresh());
      proxyRes.once('close', () => clearTimeout(timer));
    }
    // An upstream that dies mid-body cuts the client's connection, so the client sees an
    // incomplete response instead of hanging; a client that leaves cuts the upstream (onClose).
    // Not pipeline(): it would hand the upstream's error to `res`, which Koa reports as the app's.
    this.streaming = proxyRes; // from now on its errors cut the client's connection (Attempt.response)
    proxyRes.pipe(res);
    this.ctx.stale?.keep(req, proxyRes);
    this.finish();
  }

  /** Not ours after all: hand the request back to the framework. */
  skip(err?: unknown): void {
    this.res.off('close', this.onClose);
    if (err !== undefined) this.obs?.skipped(this.res);
    this.release();
    this.hooks.skip(err);
  }

  /** The proxy's part is over (answer handed over, or client gone); `onClose` still ends it. */
  private finish(): void {
    this.release();
  }

  private release(): void {
    this.ctx.exchanges.delete(this.req);
    if (this.upstream) {
      this.upstream.active--;
      this.upstream = undefined;
    }
  }

}

/**
 * On the web() path http-proxy makes the upstream requests, so what hop() does to the headers
 * before making one (hop.ts: the client's hop-by-hop headers, the body's length) is done here, at
 * the first moment we hold the request. A client's Expect makes Node write the head as the request
 * is made: it then goes out as http-proxy made it.
 */
function amendHead(proxyReq: ClientRequest, req: IncomingMessage, options: Record<string, unknown>, length: number | undefined): void {
  // follow-redirects' request wraps the native one, whose head it is.
  if (((proxyReq as ClientRequest & { _currentRequest?: ClientRequest })._currentRequest ?? proxyReq).headersSent) return;
  if (sentHopByHop(req.headers)) {
    dropHopByHop((name) => proxyReq.getHeader(name), (name) => proxyReq.removeHeader(name), req.headers, options.headers as object | undefined);
  }
  if (length !== undefined) {
    // removeHeader() on a header that is not there still tells Node the message has no coding.
    if (proxyReq.getHeader('transfer-encoding') !== undefined) proxyReq.removeHeader('transfer-encoding');
    proxyReq.setHeader('content-length', length);
  }
}

/** ms a `stale.store` may take to answer when the request has no deadline. */
const STORE_WAIT = 2000;

/** Up to this many bytes, an upstream answer that arrived whole goes out in one write (deliver). */
const WHOLE_BODY_MAX = 64 * 1024;

/** No one else (an on.proxyRes handler) listens for the body. */
function noReader(proxyRes: IncomingMessage): boolean {
  return proxyRes.listenerCount('data') === 0 && proxyRes.listenerCount('readable') === 0;
}

/** One try against the upstream, with its own timers. Settles exactly once. */
export class Attempt {
  proxyReq: ClientRequest | undefined;
  options: Record<string, unknown> = {};
  /** Which of `targets` it went to. */
  target: Target | undefined;
  /** Its place in the request, from 1. */
  readonly number: number;
  /** performance.now() at its start, and its span: only when the request is observed (observe.ts). */
  startedAt = 0;
  span: Span | undefined;
  private settled = false;
  /** Its connection was made: from here on bytes of the request may have left. */
  private connected = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly x: Exchange,
    private readonly resolve: (r: AttemptResult) => void,
  ) {
    this.number = x.attempts;
    if (x.obs !== undefined) this.startedAt = performance.now();
  }

  /** hop.ts: the upstream request's head is being made; the attempt's trace context goes on it. */
  carry(headers: Record<string, unknown>): void {
    this.x.obs?.attemptStart(this, (name, value) => (headers[name] = value));
  }

  get bodyLength(): number | undefined {
    return this.x.body.length;
  }

  attach(proxyReq: ClientRequest): void {
    this.proxyReq = proxyReq;
    // Cancelled (client gone) before http-proxy handed us the request: it must not go out.
    if (this.settled) {
      proxyReq.destroy();
      return;
    }
    if (this.x.ctx.viaWeb) {
      amendHead(proxyReq, this.x.req, this.options, this.bodyLength);
      this.x.obs?.attemptStart(this, nativeOf(proxyReq).headersSent ? undefined : (name, value) => proxyReq.setHeader(name, value));
      // hop() does the same for the requests it makes (framing.ts).
      // Node's check throws from wherever the write came from: follow-redirects' request ends
      // the native one from a callback, where a throw would take the process down.
      if (nativeOf(proxyReq) === proxyReq) strictLength(proxyReq);
      guardWrites(proxyReq);
      // follow-redirects drops the events of a request that a handler destroyed: without this the
      // attempt would wait for its timeout. An error reported first (the handler's own) stands.
      proxyReq.once('close', () => process.nextTick(() => this.error(new HandlerError('proxyReq', 'the upstream request was destroyed'))));
    }
    if (proxyReq.socket) this.onSocket(proxyReq.socket);
    else proxyReq.once('socket', (socket: Socket) => this.onSocket(socket));
  }

  private onSocket(socket: Socket): void {
    if (this.settled) return;
    const { connectTimeout, responseTimeout } = this.x.ctx.extras;
    if (socket.connecting) {
      this.arm('connection_timeout', connectTimeout);
      socket.once('connect', () => {
        this.connected = this.x.reached = true;
        this.arm('http_response_timeout', responseTimeout);
      });
    } else {
      this.connected = this.x.reached = true;
      this.arm('http_response_timeout', responseTimeout);
    }
  }


  /** Start the timer for the current phase, cut short by the request's deadline. */
  private arm(type: ProxyErrorType, ms: number): void {
    clearTimeout(this.timer);
    if (this.settled) return;
    const { deadlineAt } = this.x;
    if (deadlineAt > 0) {
      const left = deadlineAt - Date.now();
      if (ms === 0 || left < ms) ms = Math.max(1, left);
    } else if (ms === 0) return;
    this.timer = setTimeout(() => this.timeout(type), ms);
  }

  /** Settle first: destroying the request makes http-proxy report ECONNRESET "socket hang up",
   * which would otherwise be indistinguishable from a real reset. */
  timeout(type: ProxyErrorType): void {
    this.fail(failureOf(type));
    this.proxyReq?.destroy();
  }

  private settle(r: AttemptResult): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (this.target !== undefined) this.x.ctx.targets!.settled(this.target, verdictOf(r));
    this.x.obs?.attemptEnd(this, r);
    this.resolve(r);
  }

  private fail(failure: Failure, proxyRes?: IncomingMessage, retryable = failure.retryable): void {
    this.settle({
      kind: 'failed',
      failure,
      retryable,
      ...(failure.retryAfter !== undefined && { retryAfter: failure.retryAfter }),
      ...(proxyRes && { proxyRes }),
      ...(!this.connected && { unsent: true }),
    });
  }

  error(err: unknown): void {
    if (this.settled) return;
    if (this.x.clientGone) return this.settle({ kind: 'aborted' });
    const failure = classifyError(err);
    if (failure === undefined) return this.settle({ kind: 'error', error: asClientError(err) });
    this.fail(failure);
  }

  response(proxyRes: IncomingMessage): void {
    if (this.settled) {
      proxyRes.destroy();
      return;
    }
    // Held paused until the decision (deliver): an on.proxyRes handler that listens for 'data'
    // must not set the body flowing before the client's pipe is in place, or the client would
    // never get the bytes it read. Meanwhile an error must not crash the process; once the body
    // is being streamed to the client, an error cuts the client's connection.
    proxyRes.pause();
    const x = this.x;
    proxyRes.on('error', () => {
      if (x.streaming === proxyRes) x.res.destroy();
    });
    const status = proxyRes.statusCode ?? 0;
    // Node parses a status line of "099" as 99 and then refuses to relay it; Koa asserts on it.
    if (status < 100 || status > 599) {
      proxyRes.destroy();
      return this.fail(failureOf('http_protocol_error', new Error(`invalid upstream status ${status}`)));
    }
    const { policy, ctx } = x;
    if (ctx.userHandlesResponse) return this.settle({ kind: 'response', proxyRes });
    const retriedStatus = policy !== false && policy.statuses.has(status);
    if (!retriedStatus && !isGatewayStatus(status)) return this.settle({ kind: 'response', proxyRes });
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
