/**
 * Brand this status or pass it through? The one place that decides, for an answer a handler put
 * on a response, whichever adapter saw it (Express catches it as the head is written,
 * intercept.ts; Koa reads `ctx.status` once the handlers are done), for an error a handler threw,
 * and for an upstream's failed answer the proxy gave up on (the engine's exchange and its
 * request-end outcome both ask).
 */
import type { IncomingMessage } from 'node:http';
import { handlerFailure, isGatewayStatus, requestFacts, type Responder } from './respond.js';
import type { Reply } from '../types.js';

/**
 * What to do with the answer: nothing (`undefined`: not a status we brand, or an upstream's own
 * extra status relayed), keep its body and set these headers (`keepUpstreamBody`; a name mapped
 * to `undefined` is removed), or replace it with this reply.
 */
export type StatusAnswer = { readonly headers: Record<string, string | undefined>; readonly reply?: never } | { readonly reply: Reply; readonly headers?: never } | undefined;

/**
 * The answer for `status` set on `req`'s response. `relayed`: the answer came from an upstream
 * through a proxy (see intercept.ts); its `extraStatuses` (429, 500) are the upstream API's own
 * and go through as they are, while a 502/503/504 is ours to brand wherever it came from.
 */
export function answerStatus(responder: Responder, req: IncomingMessage, status: number, retryAfter: unknown, relayed = false): StatusAnswer {
  if (!responder.brands(status)) return undefined;
  if (relayed && !isGatewayStatus(status)) return undefined;
  const failure = handlerFailure(status, retryAfter);
  const facts = requestFacts(req.method, req.headers);
  if (responder.options.keepUpstreamBody) return { headers: responder.passthroughHeaders(failure, facts) };
  return { reply: responder.reply(failure, facts) };
}

/**
 * What the client gets when the proxy gives up on an upstream answer it holds (the last attempt
 * answered a status counted as failure): `relay` — not a status ours to brand (a 429 in the
 * retry `statuses`), it goes as it is; `keep` — `keepUpstreamBody`: its body, with our headers;
 * `brand` — the branded answer. No upstream answer held (`status` undefined): `brand`.
 */
export function upstreamAnswer(responder: Responder, status: number | undefined): 'relay' | 'keep' | 'brand' {
  if (status === undefined) return 'brand';
  if (!isGatewayStatus(status)) return 'relay';
  return responder.options.keepUpstreamBody ? 'keep' : 'brand';
}

/**
 * The status and Retry-After an error carries by the http-errors convention (`ctx.throw(429)`,
 * `createError(503)`, `err.status` or `err.statusCode`, `err.headers`), as Koa's `ctx.onerror`
 * and Express's final handler read them; 500 when it carries none.
 */
function carried(err: unknown): { status: number; retryAfter: unknown } {
  if (typeof err !== 'object' || err === null) return { status: 500, retryAfter: undefined };
  const status = ('status' in err ? err.status : undefined) ?? ('statusCode' in err ? err.statusCode : undefined);
  let retryAfter: unknown;
  if ('headers' in err && typeof err.headers === 'object' && err.headers !== null) {
    for (const [name, value] of Object.entries(err.headers)) if (name.toLowerCase() === 'retry-after') retryAfter = value;
  }
  return { status: typeof status === 'number' && Number.isInteger(status) ? status : 500, retryAfter };
}

/**
 * The answer for an error a handler threw with a status of its own: branded when that status is
 * one of `extraStatuses` and bodies are replaced. A thrown 502/503/504 keeps the framework's own
 * handling, as do all others.
 */
export function answerThrown(responder: Responder, req: IncomingMessage, err: unknown): Reply | undefined {
  const { status, retryAfter } = carried(err);
  if (isGatewayStatus(status) || !responder.brands(status) || responder.options.keepUpstreamBody) return undefined;
  return responder.reply(handlerFailure(status, retryAfter), requestFacts(req.method, req.headers));
}
