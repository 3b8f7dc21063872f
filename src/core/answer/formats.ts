/**
 * The three forms of an error answer, built from one view: the HTML page (render.ts),
 * problem+json (RFC 9457) and plain text, each with the headers that belong to the
 * representation itself. The Responder adds what depends on the request (request id,
 * Proxy-Status, Vary, Content-Length); the static export (cli.ts) writes these as they are.
 */
import { STATUS_CODES } from 'node:http';
import { formatRetryAfter } from '../decide/retry-after.js';
import { interpolate, type Messages } from './i18n.js';
import type { Renderer } from './render.js';
import type { BodyFormat, Diagnosis, ErrorView } from '../types.js';

/** RFC 9457 `type`: the RFC 9209 section that defines the error type, else about:blank. */
function problemType(v: ErrorView): string {
  return v.proxyStatus === undefined ? 'about:blank' : `https://www.rfc-editor.org/rfc/rfc9209#name-${v.proxyStatus.replaceAll('_', '-')}`;
}

/** The problem+json object. With type about:blank the title is the status's reason phrase (RFC 9457). */
export function problemOf(v: ErrorView): Record<string, unknown> {
  return {
    type: problemType(v),
    title: STATUS_CODES[v.status],
    status: v.status,
    detail: v.detail,
    ...(v.proxyStatus !== undefined && { proxyStatus: v.proxyStatus }),
    ...(v.receivedStatus !== undefined && { receivedStatus: v.receivedStatus }),
    // A static page has no request id; the row is left out rather than sent empty.
    ...(v.requestId !== '' && { requestId: v.requestId }),
    ...(v.retryAfter !== undefined && { retryAfter: v.retryAfter }),
    ...(!v.idempotent && { mayHaveGoneThrough: true }),
    ...(v.upstream && { upstream: v.upstream }),
    ...(v.maintenance && { maintenance: v.maintenance }),
    ...(v.diagnosis && { diagnosis: v.diagnosis }),
  };
}

/** The text/plain answer. */
export function textOf(v: ErrorView, messages: Messages): string {
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

/** One form of the answer: its body and the headers that describe it (lower-case names). */
export interface Representation {
  readonly headers: Record<string, string>;
  readonly text: string;
}

/**
 * The body in `format` and its headers: never stored (an error is of the moment), never sniffed,
 * and the page's Content-Security-Policy, which hashes its own inline style and script.
 */
export function represent(format: BodyFormat, v: ErrorView, messages: Messages, renderer: Renderer): Representation {
  const headers: Record<string, string> = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
  if (v.retryAfter !== undefined) headers['retry-after'] = formatRetryAfter(v.retryAfter);
  let text: string;
  if (format === 'html') {
    const page = renderer.page(v, messages);
    text = page.html;
    headers['content-type'] = 'text/html; charset=utf-8';
    headers['content-security-policy'] = page.csp;
    headers['x-robots-tag'] = 'noindex';
  } else if (format === 'json') {
    text = JSON.stringify(problemOf(v));
    headers['content-type'] = 'application/problem+json; charset=utf-8';
  } else {
    text = textOf(v, messages);
    headers['content-type'] = 'text/plain; charset=utf-8';
  }
  headers['content-language'] = messages.lang;
  return { headers, text };
}
