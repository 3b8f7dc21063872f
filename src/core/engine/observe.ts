/**
 * What one request tells its observers: the request-end and attempt-end events (hooks, channels,
 * OpenTelemetry metrics), the attempts' spans, and the facts of the owner's view of the error
 * page. exchange.ts calls in at a handful of points; all the rest is here, so the attempt loop
 * stays readable and an unobserved request makes no Observation at all.
 */
import type { ServerResponse } from 'node:http';
import type { AttemptEndEvent, RequestEndEvent, RequestOutcome } from '../observe/events.js';
import type { Attempt, AttemptResult } from './attempt.js';
import type { Exchange } from './exchange.js';
import type { Outcome } from './retry-loop.js';
import { track, type Tracked } from '../observe/metrics.js';
import { upstreamAnswer } from '../answer/status.js';
import type { TargetSet } from './targets.js';
import { endAttemptSpan, entryContext, startAttemptSpan } from '../observe/telemetry.js';
import type { AttemptRecord, DiagnosisRecord, ProxyErrorType } from '../types.js';
import type { Upstream } from './upstream.js';

/** An Observation for the request when anyone looks: events wanted, a tracer registered, or `diagnose` set. */
export function observe(exchange: Exchange): Observation | undefined {
  const parent = entryContext();
  if (parent === undefined && !exchange.ctx.emit.observed() && exchange.hooks.responder.options.diagnose === undefined) return undefined;
  return new Observation(exchange, parent);
}

const trackedOf = new WeakMap<object, Tracked>();

let warned = false;
/**
 * Observers run inside the attempt loop and the response's close: a throwing hook (or exporter)
 * must not leave a request hanging or take the process down. Reported once, as render.ts does for
 * a failing template. Each caller catches, and hands the error here.
 */
function threw(err: unknown): void {
  if (warned) return;
  warned = true;
  process.emitWarning(`gateway-errors: an onRequestEnd/onAttemptEnd hook or a metrics exporter threw; the request went on: ${String(err)}`);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class Observation {
  private readonly start = performance.now();
  private upstream = 'unknown';
  private source: Upstream<AttemptResult> | undefined;
  private targets: TargetSet | undefined;
  private ended = false;
  private outcome: RequestOutcome | undefined;
  private reason: string | undefined;
  private error: ProxyErrorType | undefined;
  private receivedStatus: number | undefined;
  private target: string | undefined;
  /** Each attempt's outcome, for the owner's view (at most retries + 1); kept only with `diagnose`. */
  private readonly log: AttemptRecord[] | undefined;

  constructor(
    private readonly exchange: Exchange,
    /** The context active when the request reached the proxy; undefined when nobody traces. */
    private readonly parent: unknown,
  ) {
    if (exchange.hooks.responder.options.diagnose !== undefined) this.log = [];
  }

  /** The attempt loop starts against `upstream` (before the circuit or the limit may refuse it). */
  begin(upstream: Upstream<AttemptResult>, targets: TargetSet | undefined): void {
    this.upstream = upstream.name;
    this.source = upstream;
    this.targets = targets;
    let t = trackedOf.get(upstream);
    if (t === undefined) {
      t = { name: upstream.name, circuit: upstream.circuit, targets };
      trackedOf.set(upstream, t);
    }
    track(t);
  }

  private originOf(a: Attempt): string {
    const t = a.target?.legacy;
    return t === undefined ? this.upstream : `${t.protocol}//${t.host}`;
  }

  /** The attempt's upstream request is about to be made: its span, and its trace context on `setHeader`. */
  attemptStart(a: Attempt, setHeader: ((name: string, value: string) => void) | undefined): void {
    if (this.parent === undefined || a.span !== undefined) return;
    try {
      a.span = startAttemptSpan(this.parent, this.originOf(a), this.exchange.req.method ?? 'GET', this.exchange.attempts - 1, setHeader);
    } catch (err) {
      threw(err);
    }
  }

  attemptEnd(a: Attempt, r: AttemptResult): void {
    const duration = performance.now() - a.startedAt;
    const target = (this.target = this.originOf(a));
    let result: AttemptEndEvent['result'];
    let status: number | undefined;
    if (r.kind === 'response') {
      result = 'ok';
      status = r.proxyRes.statusCode;
    } else if (r.kind === 'failed') {
      result = r.failure.error ?? 'received_status';
      status = r.failure.receivedStatus;
    } else result = r.kind === 'aborted' ? 'aborted' : 'error';
    const attempt = a.number;
    this.log?.push({ attempt, target, result, ...(status !== undefined && { status }), ms: Math.round(duration) });
    try {
      if (a.span !== undefined) {
        const error = result === 'ok' ? (status !== undefined && status >= 400 ? String(status) : undefined) : result === 'received_status' ? String(status) : result === 'error' ? '_OTHER' : result;
        endAttemptSpan(a.span, status, error);
      }
    } catch (err) {
      threw(err);
    }
    // Built by assignment in the event's key order: no temporary object per optional field.
    const e = { upstream: this.upstream, target, attempt, result } as Mutable<AttemptEndEvent>;
    if (status !== undefined) e.status = status;
    e.duration = duration;
    e.method = this.exchange.req.method ?? 'GET';
    try {
      this.exchange.ctx.emit.attemptEnd(e);
    } catch (err) {
      threw(err);
    }
  }

  /** How the attempts ended (Exchange.answer): the outcome, before the answer is written. */
  concluded(r: Outcome): void {
    const exchange = this.exchange;
    if (r.kind === 'response') this.outcome = exchange.attempts > 1 ? 'recovered' : 'ok';
    else if (r.kind === 'aborted' || exchange.clientGone) this.outcome = 'client_gone';
    else if (r.kind === 'error') this.outcome = 'error';
    else {
      this.reason = r.reason;
      this.error = r.failure.error;
      this.receivedStatus = r.failure.receivedStatus;
      const passed = upstreamAnswer(exchange.hooks.responder, r.proxyRes?.statusCode) !== 'brand';
      this.outcome = passed ? 'passed_through' : exchange.attempts === 0 ? 'fast_fail' : 'gave_up';
    }
  }

  /** The failure was answered with a stored copy (`stale`): reason and error stay, the outcome says so. */
  servedStale(): void {
    this.outcome = 'stale';
  }

  /** Handed to the framework with an error: its answer, whatever it is, ends the request. */
  skipped(res: ServerResponse): void {
    if (this.source === undefined) return; // not ours (pathFilter) or refused before the loop (router)
    this.outcome = 'error';
    res.once('close', () => this.end(res));
  }

  /** The response is over (or the client left): the request-end event, with the status the client really got. */
  end(res: ServerResponse): void {
    if (this.ended || this.source === undefined) return;
    this.ended = true;
    const sent = res.headersSent;
    const outcome = !sent && this.exchange.clientGone ? 'client_gone' : (this.outcome ?? 'client_gone');
    const url = this.exchange.req.originalUrl ?? this.exchange.req.url ?? '/';
    const q = url.indexOf('?');
    // Built by assignment in the event's key order: no temporary object per optional field.
    const e = { upstream: this.upstream, outcome } as Mutable<RequestEndEvent>;
    if (this.reason !== undefined && outcome !== 'ok' && outcome !== 'recovered' && outcome !== 'client_gone') e.reason = this.reason;
    e.attempts = this.exchange.attempts;
    e.duration = performance.now() - this.start;
    if (sent) e.status = res.statusCode;
    if (this.error !== undefined) e.error = this.error;
    if (this.receivedStatus !== undefined) e.receivedStatus = this.receivedStatus;
    if (this.target !== undefined) e.target = this.target;
    e.method = this.exchange.req.method ?? 'GET';
    e.path = q === -1 ? url : url.slice(0, q);
    try {
      this.exchange.ctx.emit.requestEnd(e);
    } catch (err) {
      threw(err);
    }
  }

  /** The owner's view of this request: where it went, each attempt, the breaker and the targets. */
  diagnosis(): DiagnosisRecord {
    const circuit = this.source?.circuit?.state();
    return {
      upstream: this.upstream,
      ...(this.target !== undefined && { target: this.target }),
      ...(this.reason !== undefined && { reason: this.reason }),
      attempts: this.log?.slice() ?? [],
      elapsed: Math.round(performance.now() - this.start),
      ...(circuit !== undefined && { circuit }),
      ...(this.targets !== undefined && {
        targets: this.targets.state().map((t) => ({
          url: t.url,
          healthy: t.healthy,
          ...(t.ejectedUntil !== undefined && { ejectedUntil: t.ejectedUntil }),
          consecutiveFailures: t.consecutiveFailures,
          ...(t.check !== undefined && { check: t.check }),
        })),
      }),
    };
  }
}
