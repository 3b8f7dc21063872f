/**
 * Observability without a dependency: typed hooks, `diagnostics_channel` channels and an optional
 * pino-style logger, all in one place. Channels publish only when someone subscribed, hooks and
 * logger only when given, so an unobserved gateway pays nothing.
 */
import diagnostics from 'node:diagnostics_channel';
import type { Failure } from './types.js';

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

/** Payload of `onGiveUp` and the `gateway-errors:give-up` channel: the answer is a gateway error. */
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
});

const channels = {
  retry: diagnostics.channel(CHANNELS.retry),
  giveUp: diagnostics.channel(CHANNELS.giveUp),
  circuitOpen: diagnostics.channel(CHANNELS.circuitOpen),
  circuitClose: diagnostics.channel(CHANNELS.circuitClose),
};

export interface Emitter {
  retry(e: RetryEvent): void;
  giveUp(e: GiveUpEvent): void;
  circuitOpen(e: CircuitOpenEvent): void;
  circuitClose(e: CircuitCloseEvent): void;
}

/** Logged without the Failure's `cause`, which may hold upstream internals. */
function loggable(e: { failure?: { status: number; error?: string; receivedStatus?: number } }): object {
  if (!e.failure) return e;
  const { status, error, receivedStatus } = e.failure;
  return { ...e, failure: { status, error, receivedStatus } };
}

export function createEmitter(hooks: GatewayHooks, logger: GatewayLogger | undefined): Emitter {
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
  };
}
