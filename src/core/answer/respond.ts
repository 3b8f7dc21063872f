/**
 * The Responder: one classified failure in, one finished reply out (status, headers, negotiated
 * body). Adapters only write what this returns; they never build error answers.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { validateBrand } from './brand.js';
import { createCatalog, type Catalog, type Messages, type StatusKey } from './i18n.js';
import { negotiateFormat, negotiateLanguage } from './negotiate.js';
import { isReplayable, normalizeGateway, type GatewayErrorsOptions, type NormalizedGatewayOptions } from '../options.js';
import { createRenderer, type Renderer } from './render.js';
import { requestIdFrom } from './request-id.js';
import { formatRetryAfter } from '../decide/retry-after.js';
import { isGatewayStatus, statusFailure } from '../decide/classify.js';
import type { ActiveMaintenance } from './maintenance.js';
import { hintsFor } from './diagnose.js';
import { represent } from './formats.js';
import type { Brand, BrandedStatus, Diagnosis, DiagnosisRecord, ErrorView, Failure, Reply } from '../types.js';

export { isGatewayStatus } from '../decide/classify.js';

/** Set on a response whose answer this library already decided; the status interceptor leaves it alone. */
export const kHandled = Symbol.for('gateway-errors.handled');

/** What the Responder needs to know about the request. */
export interface RequestFacts {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  /** May the client repeat it safely (idempotent method or Idempotency-Key)? */
  readonly idempotent: boolean;
  /** What the `diagnose` predicate is asked about: Express's `req`, Koa's `ctx`. */
  readonly subject?: unknown;
  /** The proxy's record of the request (attempts, breaker, targets), for the owner's view only. */
  readonly diagnosis?: () => DiagnosisRecord;
}

/** A configured Responder: everything costly (templates, catalog, brand checks) is done once here. */
export interface Responder {
  readonly options: NormalizedGatewayOptions;
  /** Build the answer for a failure. Never throws. */
  reply(failure: Failure<BrandedStatus>, facts: RequestFacts): Reply;
  /** Build the planned-maintenance 503 (no upstream involved, so no Proxy-Status). Never throws. */
  maintenanceReply(window: ActiveMaintenance, facts: RequestFacts): Reply;
  /** Whether a handler's answer with this status is branded: 502/503/504, and `extraStatuses`. */
  brands(status: number): status is BrandedStatus;
  /**
   * Headers for an upstream's (or handler's) own gateway error let through (`keepUpstreamBody`);
   * a name mapped to `undefined` must be removed (an invalid Retry-After is dropped, never echoed).
   */
  passthroughHeaders(failure: Failure<BrandedStatus>, facts: RequestFacts): Record<string, string | undefined>;
}

/** A handler's own answer (502/503/504, or a listed 429/500), no upstream involved: see {@link statusFailure}. */
export function handlerFailure(status: BrandedStatus, retryAfterHeader: unknown): Failure<BrandedStatus> {
  return statusFailure(status, retryAfterHeader, 'handler');
}

/** Set `headers` on a Node response; a name mapped to `undefined` is removed. */
export function applyHeaders(res: { setHeader(k: string, v: string): unknown; removeHeader(k: string): void }, headers: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) res.removeHeader(k);
    else res.setHeader(k, v);
  }
}

/** Facts of a request answered outside a proxy's retry policy: RFC 9110 idempotent method or Idempotency-Key. */
export function requestFacts(method: string | undefined, headers: IncomingHttpHeaders, subject?: unknown): RequestFacts {
  const m = method ?? 'GET';
  return { method: m, headers, idempotent: isReplayable(m, headers, false), ...(subject !== undefined && { subject }) };
}

/** RFC 8941 sf-string, for the Proxy-Status `details` parameter. */
function sfString(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '\\$&')}"`;
}

function upstreamDetails(cause: unknown): { code?: string; message?: string } | undefined {
  if (typeof cause !== 'object' || cause === null) return undefined;
  try {
    const e = cause as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
    const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : undefined;
    const message = typeof e.message === 'string' ? e.message.slice(0, 500) : undefined;
    return { ...(code && { code }), ...(message && { message }) };
  } catch {
    return undefined;
  }
}

/** Create the Responder for one `gatewayErrors()` configuration. Throws at setup on bad options. */
export function createResponder(input?: GatewayErrorsOptions<never>, prefix?: string): Responder {
  const options = normalizeGateway(input, prefix ?? 'options');
  const at = (key: string) => (prefix === undefined ? key : `${prefix}.${key}`);
  const brand: Brand = validateBrand(input?.brand === undefined ? {} : input.brand, at('brand'));
  const catalog: Catalog = createCatalog(input?.locales as Record<string, unknown> | undefined, at('locales'));
  const renderer: Renderer = createRenderer({ brand, ...(input?.templates !== undefined && { templates: input.templates }) });

  function retryAfterOf(failure: Failure<BrandedStatus>): number | undefined {
    if (failure.retryAfter !== undefined) return failure.retryAfter;
    return failure.status === 503 ? options.retryAfter : undefined;
  }

  /** The error code goes in `details` with `expose`, and always in the owner's view. */
  function proxyStatus(failure: Failure<BrandedStatus>, details = options.expose): string | undefined {
    if (failure.error !== undefined) {
      const code = details ? upstreamDetails(failure.cause)?.code : undefined;
      return `${options.proxyName}; error=${failure.error}${code ? `; details=${sfString(code)}` : ''}`;
    }
    if (failure.receivedStatus !== undefined) return `${options.proxyName}; received-status=${failure.receivedStatus}`;
    return undefined;
  }

  /**
   * The owner's view, for a request `diagnose` allows: only for failures that involved an
   * upstream (a handler's own 503 has nothing to diagnose). Asked here, when an error answer is
   * built, so the healthy path never calls the predicate.
   */
  function diagnosisOf(failure: Failure<BrandedStatus>, facts: RequestFacts): Diagnosis | undefined {
    const allows = options.diagnose as ((subject: unknown) => boolean) | undefined;
    if (allows === undefined || facts.subject === undefined) return undefined;
    if (failure.error === undefined && failure.receivedStatus === undefined) return undefined;
    try {
      if (allows(facts.subject) !== true) return undefined;
    } catch {
      return undefined; // a failing predicate must not turn an error page into a crash, nor open the view
    }
    const record = facts.diagnosis?.();
    const cause = upstreamDetails(failure.cause);
    return {
      ...record,
      proxyStatus: proxyStatus(failure, true)!,
      ...(cause !== undefined && Object.keys(cause).length > 0 && { cause }),
      hints: hintsFor(failure.error, failure.receivedStatus, record?.circuit),
    };
  }

  function commonHeaders(failure: Failure<BrandedStatus>, requestId: string): Record<string, string> {
    const headers: Record<string, string> = { 'x-request-id': requestId };
    const ps = proxyStatus(failure);
    if (ps !== undefined) headers['proxy-status'] = ps;
    const ra = retryAfterOf(failure);
    if (ra !== undefined) headers['retry-after'] = formatRetryAfter(ra);
    return headers;
  }

  function view(failure: Failure<BrandedStatus>, facts: RequestFacts, messages: Messages, requestId: string): ErrorView {
    const s = messages.statuses[String(failure.status) as StatusKey];
    const retryAfter = retryAfterOf(failure);
    const upstream = options.expose ? upstreamDetails(failure.cause) : undefined;
    const diagnosis = diagnosisOf(failure, facts);
    return {
      status: failure.status,
      title: s.title,
      detail: s.detail,
      ...(retryAfter !== undefined && { retryAfter }),
      requestId,
      time: new Date().toISOString(),
      brand,
      method: facts.method.toUpperCase(),
      idempotent: facts.idempotent || failure.unsent === true,
      ...(failure.error !== undefined && { proxyStatus: failure.error }),
      ...(failure.receivedStatus !== undefined && { receivedStatus: failure.receivedStatus }),
      lang: messages.lang,
      ...(upstream && { upstream }),
      ...(diagnosis && { diagnosis }),
    };
  }

  /** Every branded answer is assembled here: negotiation, headers, body. */
  function answer(failure: Failure<BrandedStatus>, facts: RequestFacts, maintenance?: ActiveMaintenance): Reply {
    const requestId = requestIdFrom(facts.headers['x-request-id']);
    const messages = catalog.get(negotiateLanguage(facts.headers['accept-language'], catalog.languages));
    const format = negotiateFormat(facts.headers.accept);
    let v = view(failure, facts, messages, requestId);
    if (maintenance !== undefined) {
      v = {
        ...v,
        title: messages.maintenance.title,
        detail: messages.maintenance.detail,
        maintenance: {
          ...(maintenance.until !== undefined && { until: new Date(maintenance.until).toISOString() }),
          ...(maintenance.message !== undefined && { message: maintenance.message }),
        },
      };
    }
    const { headers, text } = represent(format, v, messages, renderer);
    const ps = proxyStatus(failure);
    const all: Record<string, string> = { 'x-request-id': requestId, ...(ps !== undefined && { 'proxy-status': ps }), vary: 'Accept, Accept-Language', ...headers };
    all['content-length'] = String(Buffer.byteLength(text));
    const head = facts.method.toUpperCase() === 'HEAD';
    return { status: failure.status, headers: all, body: head ? undefined : text };
  }

  return {
    options,
    reply: (failure, facts) => answer(failure, facts),
    maintenanceReply(window, facts) {
      // Nothing was sent anywhere: even a POST is safe to send again, and no Proxy-Status.
      return answer({ status: 503, retryable: false, retryAfter: window.retryAfter, unsent: true }, facts, window);
    },
    brands(status): status is BrandedStatus {
      return isGatewayStatus(status) || options.extraStatuses.has(status);
    },
    passthroughHeaders(failure, facts) {
      return { 'retry-after': undefined, ...commonHeaders(failure, requestIdFrom(facts.headers['x-request-id'])) };
    },
  };
}
