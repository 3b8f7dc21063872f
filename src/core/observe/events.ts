/**
 * Observability without a dependency: typed hooks, `diagnostics_channel` channels and an optional
 * pino-style logger, all in one place. Channels publish only when someone subscribed, hooks and
 * logger only when given, so an unobserved gateway pays nothing.
 */
import diagnostics from 'node:diagnostics_channel';
import { MAINTENANCE_CHANNELS } from './maintenance-events.js';
import { otelMetrics } from './telemetry.js';
import type { Failure, ProxyErrorType } from '../types.js';

/** Payload of `onRetry` and the `gateway-errors:retry` channel. */
export interface RetryEvent {
  /** The upstream (target origin) this request went to. */
  readonly upstream: string;
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  /** ms waited before the next attempt. */
  readonly delay: number;
  /** `retry_after`: the upstream's Retry-After replaced the backoff. */
  readonly reason: 'backoff' | 'retry_after';
  readonly failure: Failure;
  readonly method: string;
  /** Request path as the client sent it (no query string). */
  readonly path: string;
}

/**
 * Payload of `onGiveUp` and the `gateway-errors:give-up` channel: the answer is a gateway error
 * (a stored copy sent instead, with `stale`, is reported by `onStale`).
 */
export interface GiveUpEvent {
  readonly upstream: string;
  /** Attempts made (0 when the circuit or the concurrency limit refused the request). */
  readonly attempts: number;
  /** Why no further attempt was made: a GiveUpReason, 'circuit_open' or 'concurrency_limit'. */
  readonly reason: string;
  readonly failure: Failure;
  readonly method: string;
  readonly path: string;
}

/**
 * Payload of `onStale` and the `gateway-errors:stale` channel: the request failed for good (as
 * for a give-up, which is then not reported), and the client got the stored copy instead.
 */
export interface StaleEvent extends GiveUpEvent {
  /** Seconds since the copy came from the upstream: the `Age` sent. */
  readonly age: number;
  /** The stored status sent. */
  readonly status: number;
}

/** Payload of `onCircuitOpen` and `gateway-errors:circuit-open`. */
export interface CircuitOpenEvent {
  readonly upstream: string;
  /** Seconds until the first probe. */
  readonly retryAfter: number;
}

/** Payload of `onCircuitClose` and `gateway-errors:circuit-close`. */
export interface CircuitCloseEvent {
  readonly upstream: string;
}

/** Payload of `onTargetEject` and `gateway-errors:target-eject`: a target stops getting traffic. */
export interface TargetEjectEvent {
  /** The gatewayProxy()'s upstream group. */
  readonly upstream: string;
  readonly target: string;
  /** `consecutive_failures` (outlier detection) or `health_check` (active checks). */
  readonly reason: 'consecutive_failures' | 'health_check';
  /** When an outlier ejection ends, ISO 8601 (a failing health check lasts until a good one). */
  readonly until?: string;
  /** Times the target was ejected so far. */
  readonly ejections: number;
}

/** Payload of `onTargetReturn` and `gateway-errors:target-return`: a target gets traffic again. */
export interface TargetReturnEvent {
  readonly upstream: string;
  readonly target: string;
  /** `ejection_ended` (its time ran out) or `health_check` (good probes). */
  readonly reason: 'ejection_ended' | 'health_check';
}

/**
 * How a client request through the proxy ended, from the gateway's side:
 * - `ok`: the first attempt's answer went to the client (whatever its status: a 404 is the app's);
 * - `recovered`: a later attempt's answer did, after retries;
 * - `gave_up`: the client got a gateway error after at least one attempt (`reason` says why no more);
 * - `fast_fail`: the client got a gateway error without any attempt (`circuit_open`, `concurrency_limit`);
 * - `passed_through`: the last attempt failed and its own answer went to the client (a retried 429,
 *   or an upstream 502/503/504 with `keepUpstreamBody`);
 * - `stale`: the request failed for good and a stored copy went to the client instead (`stale`);
 * - `client_gone`: the client left before any answer;
 * - `error`: not an upstream failure (a throwing `on.proxyReq`, an unreadable request body): the
 *   framework's error handling answered.
 */
export type RequestOutcome = 'ok' | 'recovered' | 'gave_up' | 'fast_fail' | 'passed_through' | 'stale' | 'client_gone' | 'error';

/** Payload of `onRequestEnd` and `gateway-errors:request-end`: one client request is over. */
export interface RequestEndEvent {
  readonly upstream: string;
  readonly outcome: RequestOutcome;
  /** Why no further attempt was made (a GiveUpReason, `circuit_open`, `concurrency_limit`), for `gave_up`, `fast_fail` and `passed_through`. */
  readonly reason?: string;
  /** Attempts made, 0 for `fast_fail`. */
  readonly attempts: number;
  /** ms from the request reaching the proxy to the response's end (or the client leaving). */
  readonly duration: number;
  /** The status the client got, read from the response itself; absent when none was sent. */
  readonly status?: number;
  /** RFC 9209 error type of the failure answered, when the answer is a gateway error naming one. */
  readonly error?: ProxyErrorType;
  /** The upstream's own status that failed (`received-status`), when that is what was answered. */
  readonly receivedStatus?: number;
  /** The target origin of the last attempt (with `targets`, one of them). */
  readonly target?: string;
  readonly method: string;
  /** Request path as the client sent it (no query string). */
  readonly path: string;
}

/** Payload of `onAttemptEnd` and `gateway-errors:attempt-end`: one try against a target is over. */
export interface AttemptEndEvent {
  readonly upstream: string;
  /** The target origin this attempt went to. */
  readonly target: string;
  /** From 1. */
  readonly attempt: number;
  /**
   * `ok` (an answer the client may get), an RFC 9209 error type, `received_status` (the upstream
   * answered a status that counts as failure: see `status`), `aborted` (the client left) or
   * `error` (not an upstream failure).
   */
  readonly result: 'ok' | ProxyErrorType | 'received_status' | 'aborted' | 'error';
  /** The upstream's status, when it answered. */
  readonly status?: number;
  /** ms from the attempt's start to its outcome (the response head, or the failure). */
  readonly duration: number;
  readonly method: string;
}

/** The hooks a `gatewayProxy()` accepts. */
export interface GatewayHooks {
  /** Before each retry's wait. */
  onRetry?: (event: RetryEvent) => void;
  /** When a request fails for good. */
  onGiveUp?: (event: GiveUpEvent) => void;
  /** When an upstream's circuit opens. */
  onCircuitOpen?: (event: CircuitOpenEvent) => void;
  /** When an upstream's circuit closes again after a successful probe. */
  onCircuitClose?: (event: CircuitCloseEvent) => void;
  /** When one of several `targets` is ejected (outlier detection) or fails its health checks. */
  onTargetEject?: (event: TargetEjectEvent) => void;
  /** When an ejected or unhealthy target gets traffic again. */
  onTargetReturn?: (event: TargetReturnEvent) => void;
  /** When a request fails for good and a stored copy is sent instead of the error (`stale`). */
  onStale?: (event: StaleEvent) => void;
  /** When a client request through the proxy is over: its outcome, attempts, duration and status. */
  onRequestEnd?: (event: RequestEndEvent) => void;
  /** When one attempt against a target is over. */
  onAttemptEnd?: (event: AttemptEndEvent) => void;
}

/** The subset of pino's (and console's) interface used for one line per event. */
export interface GatewayLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** Channel names, stable across versions. */
export const CHANNELS = Object.freeze({
  retry: 'gateway-errors:retry',
  giveUp: 'gateway-errors:give-up',
  circuitOpen: 'gateway-errors:circuit-open',
  circuitClose: 'gateway-errors:circuit-close',
  targetEject: 'gateway-errors:target-eject',
  targetReturn: 'gateway-errors:target-return',
  stale: 'gateway-errors:stale',
  requestEnd: 'gateway-errors:request-end',
  attemptEnd: 'gateway-errors:attempt-end',
  ...MAINTENANCE_CHANNELS,
});

const channels = {
  retry: diagnostics.channel(CHANNELS.retry),
  giveUp: diagnostics.channel(CHANNELS.giveUp),
  circuitOpen: diagnostics.channel(CHANNELS.circuitOpen),
  circuitClose: diagnostics.channel(CHANNELS.circuitClose),
  targetEject: diagnostics.channel(CHANNELS.targetEject),
  targetReturn: diagnostics.channel(CHANNELS.targetReturn),
  stale: diagnostics.channel(CHANNELS.stale),
  requestEnd: diagnostics.channel(CHANNELS.requestEnd),
  attemptEnd: diagnostics.channel(CHANNELS.attemptEnd),
};

/**
 * Another consumer of request and attempt ends besides hooks and channels: the OpenTelemetry
 * recorder (telemetry.ts). `active()` is asked once per request, so it must be cheap.
 */
export interface EndSink {
  active(): boolean;
  requestEnd(e: RequestEndEvent): void;
  attemptEnd(e: AttemptEndEvent): void;
}

export interface Emitter {
  retry(e: RetryEvent): void;
  giveUp(e: GiveUpEvent): void;
  circuitOpen(e: CircuitOpenEvent): void;
  circuitClose(e: CircuitCloseEvent): void;
  targetEject(e: TargetEjectEvent): void;
  targetReturn(e: TargetReturnEvent): void;
  stale(e: StaleEvent): void;
  /**
   * Whether anyone takes request-end and attempt-end events now: asked once per request, so an
   * unobserved request builds neither event (nor reads a clock).
   */
  observed(): boolean;
  requestEnd(e: RequestEndEvent): void;
  attemptEnd(e: AttemptEndEvent): void;
}

/** Logged without the Failure's `cause`, which may hold upstream internals. */
function loggable(e: { failure?: { status: number; error?: string; receivedStatus?: number } }): object {
  if (!e.failure) return e;
  const { status, error, receivedStatus } = e.failure;
  return { ...e, failure: { status, error, receivedStatus } };
}

/** `sink`: the OpenTelemetry recorder unless given (it records only while a MeterProvider is registered). */
export function createEmitter(hooks: GatewayHooks, logger: GatewayLogger | undefined, sink: EndSink | undefined = otelMetrics): Emitter {
  const { onRequestEnd, onAttemptEnd } = hooks;
  const hooked = onRequestEnd !== undefined || onAttemptEnd !== undefined;
  return {
    retry(e) {
      hooks.onRetry?.(e);
      if (channels.retry.hasSubscribers) channels.retry.publish(e);
      logger?.info({ event: 'retry', ...loggable(e) }, `gateway-errors: retrying ${e.method} ${e.path} in ${e.delay} ms`);
    },
    giveUp(e) {
      hooks.onGiveUp?.(e);
      if (channels.giveUp.hasSubscribers) channels.giveUp.publish(e);
      logger?.warn({ event: 'give-up', ...loggable(e) }, `gateway-errors: ${e.method} ${e.path} failed with ${e.failure.status} (${e.reason})`);
    },
    circuitOpen(e) {
      hooks.onCircuitOpen?.(e);
      if (channels.circuitOpen.hasSubscribers) channels.circuitOpen.publish(e);
      logger?.warn({ event: 'circuit-open', ...e }, `gateway-errors: circuit to ${e.upstream} opened`);
    },
    circuitClose(e) {
      hooks.onCircuitClose?.(e);
      if (channels.circuitClose.hasSubscribers) channels.circuitClose.publish(e);
      logger?.info({ event: 'circuit-close', ...e }, `gateway-errors: circuit to ${e.upstream} closed`);
    },
    targetEject(e) {
      hooks.onTargetEject?.(e);
      if (channels.targetEject.hasSubscribers) channels.targetEject.publish(e);
      logger?.warn({ event: 'target-eject', ...e }, `gateway-errors: target ${e.target} ejected (${e.reason})`);
    },
    targetReturn(e) {
      hooks.onTargetReturn?.(e);
      if (channels.targetReturn.hasSubscribers) channels.targetReturn.publish(e);
      logger?.info({ event: 'target-return', ...e }, `gateway-errors: target ${e.target} back (${e.reason})`);
    },
    stale(e) {
      hooks.onStale?.(e);
      if (channels.stale.hasSubscribers) channels.stale.publish(e);
      logger?.warn({ event: 'stale', ...loggable(e) }, `gateway-errors: ${e.method} ${e.path} failed with ${e.failure.status} (${e.reason}), sent a copy ${e.age} s old`);
    },
    observed() {
      return hooked || channels.requestEnd.hasSubscribers || channels.attemptEnd.hasSubscribers || (sink !== undefined && sink.active());
    },
    // Not logged: one line per request is an access log's job.
    requestEnd(e) {
      onRequestEnd?.(e);
      if (channels.requestEnd.hasSubscribers) channels.requestEnd.publish(e);
      if (sink?.active()) sink.requestEnd(e);
    },
    attemptEnd(e) {
      onAttemptEnd?.(e);
      if (channels.attemptEnd.hasSubscribers) channels.attemptEnd.publish(e);
      if (sink?.active()) sink.attemptEnd(e);
    },
  };
}

// Maintenance's events live in their own module; exported here too, so every event type and hook
// comes from one place.
export * from './maintenance-events.js';
