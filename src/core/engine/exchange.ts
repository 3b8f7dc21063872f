/**
 * One client request through the proxy: its attempts (attempt.ts) through the retry loop
 * (retry-loop.ts), and what the client gets for their outcome — the upstream's answer
 * (deliver.ts), a stored copy (stale), or the error answer. See proxy.ts for how it is reached.
 *
 * The verbs for how its part ends, each for one act:
 * - `answer`: give the client what the attempts' outcome calls for;
 * - `deliver`: the upstream's answer goes to the client;
 * - `skip`: not ours after all: the request goes back to the framework (hooks.skip);
 * - `release`: the proxy's part is over: forget the request and free its upstream slot.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Attempt, type AttemptHost, type AttemptResult } from './attempt.js';
import { bodySource, type BodySource } from './body.js';
import { pathOf, type EngineContext, type ExchangeHooks } from './context.js';
import { OPEN } from './circuit.js';
import { isReplayable, type NormalizedRetryPolicy } from '../options.js';
import { kHandled, type RequestFacts } from '../answer/respond.js';
import { upstreamAnswer } from '../answer/status.js';
import { dropUnused, writeUpstreamAnswer } from './deliver.js';
import { HandlerError } from './framing.js';
import { observe, type Observation } from './observe.js';
import { retryLoop, type GaveUp, type Outcome, type RetryingRequest } from './retry-loop.js';
import { refusal, refused } from './refusal.js';
import { RequestMarks } from './restore.js';
import { sendAttempt, type ProxyServerLike } from './send.js';
import type { StaleCache } from './stale.js';
import { askStale } from './stale-answer.js';
import { sendThroughWeb, type WebFn } from './through-web.js';
import type { Failure } from '../types.js';
import type { Target } from './targets.js';
import type { Upstream } from './upstream.js';

export type { ExchangeHooks } from './context.js';

export type Req = IncomingMessage & { originalUrl?: string };
type Res = ServerResponse & { [kHandled]?: boolean };

/** Per-request state: the attempts of one client request and their outcome. */
export class Exchange implements AttemptHost, RetryingRequest {
  /** Aborted when the client leaves; made on first use (only a retry's wait needs one). */
  private controller: AbortController | undefined;
  clientGone = false;
  /** The upstream's answer went to the client: no retry, no error page from here on. */
  started = false;
  current: Attempt | undefined;
  body!: BodySource;
  /** When the whole request must have its answer (ms since epoch), or 0 for none. */
  deadlineAt = 0;
  /** An attempt before the current one got a connection: the request may have reached the upstream. */
  private reached = false;
  /** The upstream response being streamed to the client. */
  private streaming: IncomingMessage | undefined;
  /** Attempts started so far. */
  attempts = 0;
  /** `targets` this request's attempts went to. */
  tried: Set<Target> | undefined;
  /** No stored copy could answer this failure (`stale`): the error answer it is. */
  private staleMissed = false;
  upstream: Upstream<AttemptResult> | undefined;
  /** The upstream's name for events, also for a request answered before it counted as in flight. */
  upstreamName = 'unknown';
  /** What each attempt is sent with (set by run). */
  private web!: WebFn;
  private server: unknown;
  private options!: Record<string, unknown>;
  /** What to put back on `req` before a retry, if attempts change anything there. */
  private marks: RequestMarks | undefined;
  /** Events, metrics, spans and the owner's view of this request; undefined when nobody looks. */
  readonly obs: Observation | undefined;

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

  get signal(): AbortSignal {
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

  /** Runs when http-proxy-middleware has resolved target and path: the guards, the body, the attempts. */
  run(web: WebFn, server: unknown, options: Record<string, unknown>, upstream: Upstream<AttemptResult>): void {
    const { req, policy, ctx } = this;
    this.obs?.begin(upstream, ctx.targets);
    this.upstreamName = upstream.name;
    const refusedNow = refusal(req, upstream, ctx.extras.maxConcurrent);
    if (refusedNow !== undefined) return this.answer(refusedNow);
    this.upstream = upstream;
    upstream.active++;
    this.web = web;
    this.server = server;
    this.options = options;
    let source: BodySource | Promise<BodySource>;
    try {
      // Read into memory (up to the limit) whenever another attempt could follow: an idempotent
      // request may be replayed, and any request may be sent again when no byte of it left
      // (nginx buffers request bodies for the same reason: proxy_request_buffering).
      const retries = policy !== false && policy.retries > 0;
      source = bodySource(req, retries, policy === false ? 0 : policy.bodyLimit, this.hooks.parsedBody);
    } catch (err) {
      return this.clientGone ? this.release() : this.skip(err);
    }
    if (!(source instanceof Promise)) return this.begin(source);
    source
      .then((body) => this.begin(body), (err: unknown) => (this.clientGone ? this.release() : this.skip(err)))
      .catch((err: unknown) => this.skip(err));
  }

  /** The body is at hand: the attempts, the whole request through the circuit, then the answer. */
  private begin(body: BodySource): void {
    const { req, ctx, upstream } = this;
    this.body = body;
    upstream!.budget?.deposit();
    if (ctx.extras.deadline > 0) this.deadlineAt = Date.now() + ctx.extras.deadline;
    this.marks = RequestMarks.take(req, this.options.xfwd === true, ctx.throughWeb);
    // The circuit counts the request's final outcome, not its attempts.
    const circuit = upstream!.circuit;
    const outcome = circuit === undefined ? this.attemptAll() : circuit.run(() => this.attemptAll());
    outcome.then(
      (o) => this.answerSafely(o === OPEN ? refused('destination_unavailable', circuit!.blockedFor() ?? 1, 'circuit_open') : (o as Outcome)),
      (err: unknown) => this.answerSafely(this.clientGone ? { kind: 'aborted' } : { kind: 'error', error: err }),
    );
  }

  /** answer(), with a throw of ours or of a hook handed to the framework rather than lost. */
  private answerSafely(o: Outcome): void {
    try {
      this.answer(o);
    } catch (err) {
      this.skip(err);
    }
  }

  /**
   * The first attempt, then the retry loop only if it failed: a request that succeeds at once —
   * nearly all of them — pays nothing for the loop.
   */
  private attemptAll(): Promise<Outcome> {
    return this.attempt(1).then((first) => (first.kind === 'failed' ? retryLoop(first, this) : first));
  }

  /** Start attempt `n` (from 1): pick its target, then send it. */
  attempt(n: number): Promise<AttemptResult> {
    const { ctx, options } = this;
    this.attempts = n;
    if (this.current?.connected === true) this.reached = true;
    if (n > 1) this.marks?.restore();
    let target: Target | undefined;
    if (ctx.targets !== undefined) {
      target = ctx.targets.pick(this.tried);
      (this.tried ??= new Set()).add(target);
      target.active++;
      options.target = target.legacy;
    }
    const a = new Attempt(this, n, options, target);
    this.current = a;
    if (this.deadlineAt > 0 && this.deadlineAt <= Date.now()) {
      a.timeout('http_response_timeout');
      return a.result;
    }
    options.selfHandleResponse = true;
    try {
      if (ctx.throughWeb) sendThroughWeb(this.web, this.server, this.req, this.res, this.body, a);
      else sendAttempt(this.server as ProxyServerLike, this.req, this.res, options, this.body.empty ? undefined : this.body.stream(), a);
    } catch (err) {
      a.error(err); // e.g. http.request() rejecting an invalid path synchronously
    }
    return a.result;
  }

  /** Give the client what the outcome calls for. */
  answer(o: Outcome): void {
    this.obs?.concluded(o);
    switch (o.kind) {
      case 'response':
        return this.deliver(o.proxyRes);
      case 'failed':
        return this.answerFailure(o);
      case 'error':
        return this.clientGone ? this.release() : this.skip(o.error);
      case 'aborted':
        return this.release();
    }
  }

  private answerFailure(o: GaveUp): void {
    const { hooks, res } = this;
    if (this.clientGone) {
      dropUnused(o.proxyRes);
      return this.release();
    }
    const { proxyRes } = o;
    const reached = this.reached || this.current?.connected === true;
    const failure: Failure = reached ? o.failure : { ...o.failure, unsent: true };
    const held = upstreamAnswer(hooks.responder, proxyRes?.statusCode);
    if (held === 'relay') return this.deliver(proxyRes!);
    const stale = this.ctx.stale;
    if (stale !== undefined && !this.staleMissed) return this.answerStale(stale, o, failure);
    this.ctx.emit.giveUp({ upstream: this.upstreamName, attempts: this.attempts, reason: o.reason, failure, method: this.req.method ?? 'GET', path: pathOf(this.req) });
    if (held === 'keep') return this.deliver(proxyRes!, hooks.responder.passthroughHeaders(failure, this.facts()));
    dropUnused(proxyRes);
    res[kHandled] = true;
    hooks.reply(hooks.responder.reply(failure, this.facts()));
    this.release();
  }

  /** The upstream's answer goes to the client, streaming, untouched but for http-proxy's passes. */
  deliver(proxyRes: IncomingMessage, extraHeaders?: Record<string, string | undefined>): void {
    const { res } = this;
    if (this.clientGone) {
      proxyRes.destroy();
      return this.release();
    }
    // A user's on.proxyRes that threw destroyed it (proxy.ts): nothing of it has gone out yet.
    if (proxyRes.errored instanceof HandlerError) return this.skip(proxyRes.errored);
    this.started = true;
    // The interceptor keeps off an upstream's answer: a gateway status let through
    // (keepUpstreamBody) and the upstream API's own `extraStatuses` go as they are. Only those are
    // marked; a property on every response would cost the hot path.
    if (this.hooks.responder.brands(proxyRes.statusCode ?? 0)) res[kHandled] = true;
    this.hooks.start();
    // The user's own on.proxyRes writes the answer: let the body go to what it set up (a
    // responseInterceptor's 'data' listener), or drain it if nothing did.
    if (this.ctx.userHandlesResponse) {
      if (proxyRes.isPaused()) proxyRes.resume();
    } else this.streaming = writeUpstreamAnswer(this.req, res, proxyRes, this.current!.options, this.ctx, extraHeaders);
    this.release();
  }

  /** The last good copy instead of the error answer (stale.ts); without one, the error answer after all. */
  private answerStale(stale: StaleCache, o: GaveUp, failure: Failure): void {
    const { req, hooks } = this;
    const r = {
      req, res: this.res, failure, reason: o.reason, attempts: this.attempts, upstream: this.upstreamName, path: pathOf(req),
      responder: hooks.responder, facts: this.facts(), emit: this.ctx.emit, start: () => hooks.start(),
    };
    askStale(stale, r, () => this.clientGone, this.deadlineAt, (served) => {
      if (!served) {
        this.staleMissed = true;
        return this.answerSafely(o);
      }
      this.obs?.servedStale();
      dropUnused(o.proxyRes);
      this.release();
    });
  }

  /** Not ours after all: hand the request back to the framework. */
  skip(err?: unknown): void {
    const { res } = this;
    res.off('close', this.onClose);
    // An answer of ours that was marked but did not go out (its head threw): the framework's
    // answer is judged as any other.
    if (res[kHandled] === true && !res.headersSent) res[kHandled] = false;
    if (err !== undefined) this.obs?.skipped(res);
    this.release();
    this.hooks.skip(err);
  }

  /** The proxy's part is over (answer handed over, or client gone); `onClose` still ends the exchange. */
  release(): void {
    if (this.ctx.throughWeb) this.ctx.exchanges.delete(this.req);
    if (this.upstream) {
      this.upstream.active--;
      this.upstream = undefined;
    }
  }
}
