/**
 * Observability without a dependency: typed hooks, `diagnostics_channel` channels and an optional
 * pino-style logger, all in one place. Channels publish only when someone subscribed, hooks and
 * logger only when given, so an unobserved gateway pays nothing.
 */
import diagnostics from 'node:diagnostics_channel';
import { otelMetrics } from './telemetry.js';
import type {
  AttemptEndEvent, CircuitCloseEvent, CircuitOpenEvent, GatewayHooks, GatewayLogger, GiveUpEvent, MaintenanceAnswerEvent,
  MaintenanceHooks, MaintenanceStartEvent, MaintenanceStopEvent, RequestEndEvent, RetryEvent, StaleEvent, TargetEjectEvent,
  TargetReturnEvent,
} from '../hooks.js';

// The payload and hook types live at the base, where the options name them.
export type {
  AttemptEndEvent, CircuitCloseEvent, CircuitOpenEvent, GatewayHooks, GatewayLogger, GiveUpEvent, MaintenanceAnswerEvent,
  MaintenanceHooks, MaintenanceStartEvent, MaintenanceStopEvent, RequestEndEvent, RequestOutcome, RetryEvent, StaleEvent,
  TargetEjectEvent, TargetReturnEvent,
} from '../hooks.js';

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
  maintenanceStart: 'gateway-errors:maintenance-start',
  maintenanceStop: 'gateway-errors:maintenance-stop',
  maintenanceAnswer: 'gateway-errors:maintenance-answer',
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
export interface EndRecorder {
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

/** `recorder`: the OpenTelemetry recorder unless given (it records only while a MeterProvider is registered). */
export function createEmitter(hooks: GatewayHooks, logger: GatewayLogger | undefined, recorder: EndRecorder | undefined = otelMetrics): Emitter {
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
      return hooked || channels.requestEnd.hasSubscribers || channels.attemptEnd.hasSubscribers || (recorder !== undefined && recorder.active());
    },
    // Not logged: one line per request is an access log's job.
    requestEnd(e) {
      onRequestEnd?.(e);
      if (channels.requestEnd.hasSubscribers) channels.requestEnd.publish(e);
      if (recorder?.active()) recorder.requestEnd(e);
    },
    attemptEnd(e) {
      onAttemptEnd?.(e);
      if (channels.attemptEnd.hasSubscribers) channels.attemptEnd.publish(e);
      if (recorder?.active()) recorder.attemptEnd(e);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Planned maintenance (gatewayErrors()): the same three outlets, for the switch and its answers.

const maintenanceChannels = {
  start: diagnostics.channel(CHANNELS.maintenanceStart),
  stop: diagnostics.channel(CHANNELS.maintenanceStop),
  answer: diagnostics.channel(CHANNELS.maintenanceAnswer),
};

export interface MaintenanceEmitter {
  start(e: MaintenanceStartEvent): void;
  stop(e: MaintenanceStopEvent): void;
  answer(e: MaintenanceAnswerEvent): void;
}

export function createMaintenanceEmitter(hooks: MaintenanceHooks, logger: GatewayLogger | undefined): MaintenanceEmitter {
  return {
    start(e) {
      hooks.onMaintenanceStart?.(e);
      if (maintenanceChannels.start.hasSubscribers) maintenanceChannels.start.publish(e);
      logger?.warn({ event: 'maintenance-start', ...e }, `gateway-errors: maintenance on${e.until ? ` until ${e.until}` : ''}`);
    },
    stop(e) {
      hooks.onMaintenanceStop?.(e);
      if (maintenanceChannels.stop.hasSubscribers) maintenanceChannels.stop.publish(e);
      logger?.info({ event: 'maintenance-stop', ...e }, `gateway-errors: maintenance off after ${Math.round(e.duration / 1000)} s`);
    },
    // Not logged: during a window every request is one, which is an access log's job.
    answer(e) {
      hooks.onMaintenanceAnswer?.(e);
      if (maintenanceChannels.answer.hasSubscribers) maintenanceChannels.answer.publish(e);
    },
  };
}
