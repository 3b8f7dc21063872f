/**
 * One attempt: one upstream request, its timers, and its result. It reads what it needs through
 * `AttemptHost` and writes nothing back: its only output is the result it settles, once.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Verdict } from './circuit.js';
import { classifyError, failureOf, isGatewayStatus, statusFailure } from '../decide/classify.js';
import type { NormalizedProxyExtras, NormalizedRetryPolicy } from '../options.js';
import { asClientError } from './framing.js';
import type { Observation } from './observe.js';
import type { Span } from '../observe/telemetry.js';
import type { Failure, ProxyErrorType } from '../types.js';
import type { Target, TargetSet } from './targets.js';
import { adoptWebRequest } from './through-web.js';

/** One attempt's result. `unsent`: the attempt failed before its connection was made, so no byte of the request left. */
export type AttemptResult =
  | { kind: 'response'; proxyRes: IncomingMessage }
  | { kind: 'failed'; failure: Failure; retryable: boolean; retryAfter?: number; proxyRes?: IncomingMessage; unsent?: boolean }
  | { kind: 'error'; error: unknown }
  | { kind: 'aborted' };

export type Failed = AttemptResult & { kind: 'failed' };

/**
 * How a request's (or an attempt's) outcome counts for the upstream's health: a gateway failure
 * against it, any answer for it, an app error or a client that left not at all.
 */
export const verdictOf = (r: { readonly kind: string }): Verdict => (r.kind === 'failed' ? 'failure' : r.kind === 'error' || r.kind === 'aborted' ? 'neutral' : 'success');

/** What an attempt reads of its request (the exchange); it never writes to it. */
export interface AttemptHost {
  readonly req: IncomingMessage;
  readonly policy: NormalizedRetryPolicy | false;
  readonly ctx: {
    readonly extras: Pick<NormalizedProxyExtras, 'connectTimeout' | 'responseTimeout'>;
    readonly userHandlesResponse: boolean;
    readonly throughWeb: boolean;
    readonly targets: TargetSet | undefined;
  };
  /** When the whole request must have its answer (ms since epoch), or 0 for none. */
  readonly deadlineAt: number;
  readonly clientGone: boolean;
  readonly obs: Observation | undefined;
  /** `length`: Content-Length to send instead of the client's (a recorded or rebuilt body), if any. */
  readonly body: { readonly length?: number | undefined };
}

/** The upstream body's errors before delivery (a client stream then owns them): none may crash the process. */
function ignoreError(): void {}

/** One try against the upstream, with its own timers. Settles exactly once. */
export class Attempt {
  proxyReq: ClientRequest | undefined;
  /** The request's own options copy (http-proxy-middleware makes one per request), as this attempt sends it. */
  options: Record<string, unknown>;
  /** Which of `targets` it went to. */
  readonly target: Target | undefined;
  /** performance.now() at its start, and its span: only when the request is observed (observe.ts). */
  startedAt = 0;
  span: Span | undefined;
  /** Its connection was made: from here on bytes of the request may have left. */
  connected = false;
  /** The result, settled once. */
  readonly result: Promise<AttemptResult>;
  private resolve!: (r: AttemptResult) => void;
  private settled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: AttemptHost,
    /** Its place in the request, from 1. */
    readonly number: number,
    options: Record<string, unknown>,
    target: Target | undefined,
  ) {
    this.options = options;
    this.target = target;
    this.result = new Promise((resolve) => (this.resolve = resolve));
    if (host.obs !== undefined) this.startedAt = performance.now();
  }

  /** send.ts: the upstream request's head is being made; the attempt's trace context goes on it. */
  carry(headers: Record<string, unknown>): void {
    this.host.obs?.attemptStart(this, (name, value) => (headers[name] = value));
  }

  get bodyLength(): number | undefined {
    return this.host.body.length;
  }

  attach(proxyReq: ClientRequest): void {
    this.proxyReq = proxyReq;
    // Cancelled (client gone) before http-proxy handed us the request: it must not go out.
    if (this.settled) {
      proxyReq.destroy();
      return;
    }
    if (this.host.ctx.throughWeb) adoptWebRequest(proxyReq, this, this.host.req, this.host.obs);
    if (proxyReq.socket) this.onSocket(proxyReq.socket);
    else proxyReq.once('socket', (socket: Socket) => this.onSocket(socket));
  }

  private onSocket(socket: Socket): void {
    if (this.settled) return;
    const { connectTimeout, responseTimeout } = this.host.ctx.extras;
    if (socket.connecting) {
      this.arm('connection_timeout', connectTimeout);
      socket.once('connect', () => {
        this.connected = true;
        this.arm('http_response_timeout', responseTimeout);
      });
    } else {
      this.connected = true;
      this.arm('http_response_timeout', responseTimeout);
    }
  }

  /** Start the timer for the current phase, cut short by the request's deadline. */
  private arm(type: ProxyErrorType, ms: number): void {
    clearTimeout(this.timer);
    if (this.settled) return;
    const { deadlineAt } = this.host;
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

  /** Fix the attempt's result, once; what comes later (a late response, a second error) is dropped. */
  private settle(r: AttemptResult): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (this.target !== undefined) this.host.ctx.targets!.settled(this.target, verdictOf(r));
    this.host.obs?.attemptEnd(this, r);
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
    if (this.host.clientGone) return this.settle({ kind: 'aborted' });
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
    // never get the bytes it read.
    proxyRes.pause();
    proxyRes.on('error', ignoreError);
    const status = proxyRes.statusCode ?? 0;
    // Node parses a status line of "099" as 99 and then refuses to relay it; Koa asserts on it.
    if (status < 100 || status > 599) {
      proxyRes.destroy();
      return this.fail(failureOf('http_protocol_error', new Error(`invalid upstream status ${status}`)));
    }
    const { policy, ctx } = this.host;
    if (ctx.userHandlesResponse) return this.settle({ kind: 'response', proxyRes });
    const retriedStatus = policy !== false && policy.statuses.has(status);
    if (!retriedStatus && !isGatewayStatus(status)) return this.settle({ kind: 'response', proxyRes });
    this.fail(statusFailure(status, proxyRes.headers['retry-after'], 'upstream', retriedStatus), proxyRes, retriedStatus);
  }

  /** The client went away: stop the upstream request and the loop. */
  cancel(): void {
    this.proxyReq?.destroy();
    this.settle({ kind: 'aborted' });
  }
}
