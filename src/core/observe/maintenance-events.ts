/**
 * Planned maintenance (gatewayErrors()) told through the same three outlets as the request path
 * (events.ts): hooks, `diagnostics_channel` channels and the optional logger, for the switch and
 * for each request it turns away.
 */
import diagnostics from 'node:diagnostics_channel';
import type { GatewayLogger } from './events.js';

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

/** Channel names, stable across versions (also in CHANNELS, with the request path's). */
export const MAINTENANCE_CHANNELS = Object.freeze({
  maintenanceStart: 'gateway-errors:maintenance-start',
  maintenanceStop: 'gateway-errors:maintenance-stop',
  maintenanceAnswer: 'gateway-errors:maintenance-answer',
});

const maintenanceChannels = {
  start: diagnostics.channel(MAINTENANCE_CHANNELS.maintenanceStart),
  stop: diagnostics.channel(MAINTENANCE_CHANNELS.maintenanceStop),
  answer: diagnostics.channel(MAINTENANCE_CHANNELS.maintenanceAnswer),
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
