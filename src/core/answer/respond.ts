/**
 * The single error sink: one classified failure in, one finished reply out (status, headers,
 * negotiated body). Adapters only write what this returns; they never build error answers.
 */
import { STATUS_CODES } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { validateBrand } from './brand.js';
import { createCatalog, interpolate, type Catalog, type Messages, type StatusKey } from './i18n.js';
import { negotiateFormat, negotiateLanguage } from './negotiate.js';
import { isReplayable, normalizeGateway, type GatewayErrorsOptions, type NormalizedGatewayOptions } from '../options.js';
import { createRenderer, type Renderer } from './render.js';
import { requestIdFrom } from './request-id.js';
import { formatRetryAfter, parseRetryAfter } from '../decide/retry-after.js';
import type { ActiveMaintenance } from './maintenance.js';
import { hintsFor } from './diagnose.js';
import type { Brand, BrandedStatus, Diagnosis, DiagnosisRecord, ErrorView, Failure, GatewayStatus, Reply } from '../types.js';

/** What the sink needs to know about the request. */
/** Set on a response whose answer this library already decided; the status interceptor leaves it alone. */
export const kHandled = Symbol.for('gateway-errors.handled');

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

/** A configured sink: everything costly (templates, catalog, brand checks) is done once here. */
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

/**
 * A handler's own answer (502/503/504, or a listed 429/500), no upstream involved: only its
 * Retry-After, when valid, is kept. A 429 turned the request away unprocessed (RFC 6585), so
 * even a POST is safe to send again: the page must not say it may have gone through.
 */
export function handlerFailure(status: BrandedStatus, retryAfterHeader: unknown): Failure<BrandedStatus> {
  const retryAfter = parseRetryAfter(retryAfterHeader);
  return { status, retryable: false, ...(retryAfter !== undefined && { retryAfter }), ...(status === 429 && { unsent: true }) };
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

const GATEWAY_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/** True for 502, 503 and 504: the statuses this library owns. */
export function isGatewayStatus(status: number): status is GatewayStatus {
  return GATEWAY_STATUSES.has(status);
}

/** RFC 9457 `type` for a classified failure: the RFC 9209 section that defines it. */
function problemType(failure: Failure<BrandedStatus>): string {
  return failure.error === undefined
    ? 'about:blank'
    : `https://www.rfc-editor.org/rfc/rfc9209#name-${failure.error.replaceAll('_', '-')}`;
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

/** Create the sink for one `gatewayErrors()` configuration. Throws at setup on bad options. */
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

  function proxyStatus(failure: Failure<BrandedStatus>): string | undefined {
    if (failure.error !== undefined) {
      let value = `${options.proxyName}; error=${failure.error}`;
      if (options.expose) {
        const d = upstreamDetails(failure.cause);
        if (d?.code) value += `; details=${sfString(d.code)}`;
      }
      return value;
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
    let proxyStatus = `${options.proxyName}; ${failure.error !== undefined ? `error=${failure.error}` : `received-status=${failure.receivedStatus}`}`;
    if (failure.error !== undefined && cause?.code) proxyStatus += `; details=${sfString(cause.code)}`;
    return {
      ...record,
      proxyStatus,
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

  function body(format: 'json' | 'text', v: ErrorView, messages: Messages): string {
    if (format === 'json') {
      return JSON.stringify({
        type: v.proxyStatus === undefined ? 'about:blank' : problemType({ status: v.status, error: v.proxyStatus, retryable: false }),
        title: STATUS_CODES[v.status],
        status: v.status,
        detail: v.detail,
        ...(v.proxyStatus !== undefined && { proxyStatus: v.proxyStatus }),
        ...(v.receivedStatus !== undefined && { receivedStatus: v.receivedStatus }),
        requestId: v.requestId,
        ...(v.retryAfter !== undefined && { retryAfter: v.retryAfter }),
        ...(!v.idempotent && { mayHaveGoneThrough: true }),
        ...(v.upstream && { upstream: v.upstream }),
        ...(v.maintenance && { maintenance: v.maintenance }),
        ...(v.diagnosis && { diagnosis: v.diagnosis }),
      });
    }
    const lines = [`${v.status} ${v.title}`, '', v.detail];
    if (v.maintenance?.until !== undefined) {
      lines.push(Date.parse(v.maintenance.until) > Date.now() ? interpolate(messages.maintenance.until, { time: v.maintenance.until }) : messages.maintenance.overrun);
    }
    if (v.maintenance?.message !== undefined) lines.push('', v.maintenance.message);
    if (!v.idempotent) lines.push(messages.mayHaveGoneThrough);
    else if (v.retryAfter !== undefined) {
      lines.push(v.retryAfter <= 1 ? messages.retryNow : interpolate(messages.retryIn, { seconds: v.retryAfter }));
    }
    lines.push('', `${messages.reference}: ${v.requestId}`);
    if (v.upstream) lines.push(`Upstream: ${v.upstream.code ?? ''} ${v.upstream.message ?? ''}`.trimEnd());
    if (v.diagnosis) lines.push('', ...diagnosisText(v.diagnosis));
    return `${lines.join('\n')}\n`;
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
    const headers = commonHeaders(failure, requestId);
    headers['cache-control'] = 'no-store';
    headers.vary = 'Accept, Accept-Language';
    headers['x-content-type-options'] = 'nosniff';
    let text: string;
    if (format === 'html') {
      const page = renderer.page(v, messages);
      text = page.html;
      headers['content-type'] = 'text/html; charset=utf-8';
      headers['content-security-policy'] = page.csp;
      headers['x-robots-tag'] = 'noindex';
    } else if (format === 'json') {
      text = body('json', v, messages);
      headers['content-type'] = 'application/problem+json; charset=utf-8';
    } else {
      text = body('text', v, messages);
      headers['content-type'] = 'text/plain; charset=utf-8';
    }
    headers['content-language'] = messages.lang;
    headers['content-length'] = String(Buffer.byteLength(text));
    const head = facts.method.toUpperCase() === 'HEAD';
    return { status: failure.status, headers, body: head ? undefined : text };
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

/** The owner's view as plain text lines (the page has its own template, diagnosis.eta). */
function diagnosisText(d: Diagnosis): string[] {
  const lines = ['Diagnosis (shown only to requests `diagnose` allows)'];
  if (d.upstream !== undefined) lines.push(`Upstream: ${d.upstream}${d.target !== undefined && d.target !== d.upstream ? ` (last target ${d.target})` : ''}`);
  if (d.proxyStatus !== undefined) lines.push(`Proxy-Status: ${d.proxyStatus}`);
  if (d.cause?.message !== undefined) lines.push(`Cause: ${d.cause.code ?? ''} ${d.cause.message}`.replace('  ', ' '));
  for (const a of d.attempts ?? []) lines.push(`Attempt ${a.attempt}: ${a.target} ${a.result}${a.status !== undefined ? ` ${a.status}` : ''} after ${a.ms} ms`);
  if (d.reason !== undefined) lines.push(`No further attempt: ${d.reason}`);
  if (d.elapsed !== undefined) lines.push(`Elapsed: ${d.elapsed} ms`);
  if (d.circuit !== undefined) lines.push(`Circuit: ${d.circuit}`);
  for (const t of d.targets ?? []) lines.push(`Target ${t.url}: ${t.healthy ? 'healthy' : `not healthy${t.ejectedUntil ? ` (ejected until ${t.ejectedUntil})` : ''}`}, ${t.consecutiveFailures} failures in a row`);
  if (d.hints.length > 0) lines.push('What to check:', ...d.hints.map((h) => `- ${h}`));
  return lines;
}
