/**
 * The hooks and logger the options accept, and the events they receive. Plain types at the base,
 * so the options can name them without depending on the code that emits them (observe/events.ts).
 */
import type { Failure, ProxyErrorType } from './types.js';

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


// Planned maintenance (gatewayErrors()): the switch and its answers.

/** Payload of `onMaintenanceStart` and `gateway-errors:maintenance-start`. */
export interface MaintenanceStartEvent {
  /** When maintenance was switched on, ISO 8601 (kept when a running window is changed). */
  readonly since: string;
  /** The announced end, ISO 8601, when given. */
  readonly until?: string;
  readonly message?: string;
  /** The configured Retry-After, when given (otherwise it counts down to `until`). */
  readonly retryAfter?: number;
}

/** Payload of `onMaintenanceStop` and `gateway-errors:maintenance-stop`. */
export interface MaintenanceStopEvent {
  readonly since: string;
  /** ms maintenance was on. */
  readonly duration: number;
}

/** Payload of `onMaintenanceAnswer` and `gateway-errors:maintenance-answer`: one request turned away. */
export interface MaintenanceAnswerEvent {
  readonly method: string;
  /** Request path as the client sent it (no query string). */
  readonly path: string;
  /** Seconds sent as Retry-After. */
  readonly retryAfter: number;
}

/** The hooks a `gatewayErrors()` accepts. */
export interface MaintenanceHooks {
  /** Maintenance was switched on (or its window changed while on). */
  onMaintenanceStart?: (event: MaintenanceStartEvent) => void;
  /** Maintenance was switched off. */
  onMaintenanceStop?: (event: MaintenanceStopEvent) => void;
  /** A request was answered with the maintenance 503 (no upstream was asked). */
  onMaintenanceAnswer?: (event: MaintenanceAnswerEvent) => void;
}

