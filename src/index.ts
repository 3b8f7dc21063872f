/**
 * gateway-errors: the framework-neutral core. Never imports Express or Koa.
 */
export type {
  AttemptRecord,
  Brand,
  BrandedStatus,
  Diagnosis,
  ErrorView,
  ExtraStatus,
  Failure,
  GatewayStatus,
  MaintenanceView,
  ProxyErrorType,
  Reply,
  BodyFormat,
} from './core/types.js';
export {
  GATEWAY_DEFAULTS,
  EXTRA_STATUSES,
  PROXY_DEFAULTS,
  RETRY_DEFAULTS,
  normalizeRetry,
  type GatewayErrorsOptions,
  type GatewayProxyExtras,
  type NormalizedRetryPolicy,
  type RetryPolicy,
} from './core/options.js';
export { classifyError, classifyStatus, ERROR_TYPES, ERROR_CODES } from './core/decide/classify.js';
export { parseRetryAfter, formatRetryAfter, MAX_RETRY_AFTER } from './core/decide/retry-after.js';
export { fullJitterDelay } from './core/decide/backoff.js';
export { decideRetry, type RetryDecision, type RetryInput, type GiveUpReason } from './core/decide/retry.js';
export { createResponder, isGatewayStatus, type Responder, type RequestFacts } from './core/answer/respond.js';
export {
  CHANNELS,
  type RetryEvent,
  type GiveUpEvent,
  type CircuitOpenEvent,
  type CircuitCloseEvent,
  type StaleEvent,
  type MaintenanceStartEvent,
  type MaintenanceStopEvent,
  type MaintenanceAnswerEvent,
  type MaintenanceHooks,
  type TargetEjectEvent,
  type TargetReturnEvent,
  type RequestEndEvent,
  type RequestOutcome,
  type AttemptEndEvent,
  type GatewayHooks,
  type GatewayLogger,
} from './core/observe/events.js';
export { BUDGET_DEFAULTS, CIRCUIT_DEFAULTS, HEALTH_CHECK_DEFAULTS, OUTLIER_DEFAULTS, STALE_DEFAULTS } from './core/defaults.js';
export type { CircuitOptions, HealthCheckOptions, OutlierOptions, RetryBudgetOptions, StaleEntry, StaleOptions, StaleStore, TargetSpec } from './core/proxy-options.js';
export type { TargetState } from './core/engine/targets.js';
export type { ProxyState } from './core/engine/proxy.js';
export { METRICS, DURATION_BUCKETS } from './core/observe/metrics.js';
export type { MaintenanceOptions, MaintenanceState, MaintenanceSwitch, MaintenanceWindow } from './core/answer/maintenance.js';
