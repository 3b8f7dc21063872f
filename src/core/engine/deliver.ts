/**
 * Streaming the chosen upstream answer to the client, through http-proxy's response passes
 * (status, headers, redirect rewriting) and nothing else of ours but the connection header.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import webOutgoing from 'http-proxy/lib/http-proxy/passes/web-outgoing.js';
import { applyHeaders } from '../answer/respond.js';
import type { NormalizedProxyExtras } from '../options.js';
import type { StaleCache } from './stale.js';

/**
 * The upstream's `Connection` and `Keep-Alive` are about the gateway's connection to it (RFC 9110,
 * section 7.6.1), so they are not copied to the client, whose connection Node's server manages:
 * it answers the client's own `Connection`, sends its `Keep-Alive: timeout=` hint, and says
 * `close` on the last request `maxRequestsPerSocket` allows, as nginx writes its own. http-proxy
 * copies the upstream's and sets `Connection` itself otherwise (its `setConnection` pass), and
 * any `Connection` set on the response overrides all of that: a client told keep-alive on a
 * connection the server is about to end sends its next request there and gets Node's 503, and
 * an upstream's `Connection: Upgrade, Keep-Alive` (Apache's h2c offer on every answer) would keep
 * an HTTP/1.0 client's connection open. An `Upgrade` field stays, as any other: a 426 names the
 * protocol it requires there. `proxyRes.headers` stays as it came: Node's agent reads the
 * upstream's Keep-Alive hint there to retire the socket in time.
 */
function isHopByHop(name: string): boolean {
  return name === 'connection' || name === 'keep-alive';
}

/** http-proxy's `writeHeaders` without its rewrites (none set): each header but the hop-by-hop ones. */
function copyHeaders(res: ServerResponse, proxyRes: IncomingMessage): void {
  const { headers } = proxyRes;
  for (const key of Object.keys(headers)) {
    const value = headers[key];
    // `== null` as http-proxy: an on.proxyRes handler may have set a header to null.
    if (value == null || isHopByHop(key)) continue;
    res.setHeader(key.trim(), value);
  }
}

/**
 * http-proxy's `writeHeaders`, for its cookie and header-case options, shown the headers but the
 * hop-by-hop ones: taking one off the response afterwards would not do, since a removed
 * `Connection` makes Node send none at all.
 */
function rewriteHeaders(req: IncomingMessage, res: ServerResponse, proxyRes: IncomingMessage, options: Record<string, unknown>): void {
  const headers: IncomingMessage['headers'] = {};
  for (const key of Object.keys(proxyRes.headers)) if (!isHopByHop(key)) headers[key] = proxyRes.headers[key];
  // writeHeaders reads only these two of the upstream response.
  const shown = { headers, rawHeaders: proxyRes.rawHeaders } as IncomingMessage;
  webOutgoing.writeHeaders(req, res, shown, options);
}

/** http-proxy's response passes but `setConnection`, in their order. */
function responsePasses(req: IncomingMessage, res: ServerResponse, proxyRes: IncomingMessage, options: Record<string, unknown>): void {
  webOutgoing.removeChunked(req, res, proxyRes, options);
  webOutgoing.setRedirectHostRewrite(req, res, proxyRes, options);
  if (options.cookieDomainRewrite === undefined && options.cookiePathRewrite === undefined && !options.preserveHeaderKeyCase) copyHeaders(res, proxyRes);
  else rewriteHeaders(req, res, proxyRes, options);
  webOutgoing.writeStatusCode(req, res, proxyRes, options);
}

/** Up to this many bytes, an upstream answer that arrived whole goes out in one write. */
const WHOLE_BODY_MAX = 64 * 1024;
/** A small error body is read to the end so its keep-alive socket can be reused; a large one is dropped. */
const DRAIN_LIMIT = 64 * 1024;

/** Let go of an upstream answer the client will not get (a retried or replaced one). */
export function dropUnused(res: IncomingMessage | undefined): void {
  if (res === undefined) return;
  const len = Number(res.headers['content-length']);
  if (Number.isFinite(len) && len <= DRAIN_LIMIT) res.resume();
  else res.destroy();
}

/** No one else (an on.proxyRes handler) listens for the body. */
function noReader(proxyRes: IncomingMessage): boolean {
  return proxyRes.listenerCount('data') === 0 && proxyRes.listenerCount('readable') === 0;
}

/** What of the engine's context delivery reads. */
type Setting = { readonly extras: Pick<NormalizedProxyExtras, 'idleTimeout'>; readonly stale: StaleCache | undefined };

/**
 * Write `proxyRes` to `res`: head and body, untouched but for http-proxy's passes (`options` are
 * the attempt's) and `extraHeaders`. Returns the upstream body while it is still streaming, for
 * the exchange to cut should the client leave; undefined when it went out whole.
 */
export function writeUpstreamAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  proxyRes: IncomingMessage,
  options: Record<string, unknown>,
  ctx: Setting,
  extraHeaders?: Record<string, string | undefined>,
): IncomingMessage | undefined {
  responsePasses(req, res, proxyRes, options);
  if (extraHeaders) applyHeaders(res, extraHeaders);
  if (proxyRes.complete && proxyRes.readableLength <= WHOLE_BODY_MAX && proxyRes.readableFlowing !== true && noReader(proxyRes)) {
    // The whole answer is here already (most small ones are, by the time the attempt settles)
    // and nobody reads it but us: head and body in one end() instead of a pipe, whose listeners
    // on both streams, resume tick and 'data' event cost more than the write. read() hands over
    // everything buffered and ends the response, which frees its socket for the next request.
    const body = proxyRes.read() as Buffer | null;
    res.end(body);
    ctx.stale?.keep(req, proxyRes, body);
    return undefined;
  }
  // A body of unknown length is a stream (SSE, long poll): send the head now, not with the first
  // chunk, so the client sees the stream open even when the first event is minutes away.
  if (proxyRes.headers['content-length'] === undefined && !proxyRes.complete) res.flushHeaders();
  const idle = ctx.extras.idleTimeout;
  if (idle > 0 && !proxyRes.complete) {
    // A body silent for too long is dead: end the connection (the head is gone, no page now).
    const timer = setTimeout(() => proxyRes.destroy(Object.assign(new Error('upstream body idle'), { code: 'ETIMEDOUT' })), idle);
    proxyRes.on('data', () => timer.refresh());
    proxyRes.once('close', () => clearTimeout(timer));
  }
  // An upstream that dies mid-body cuts the client's connection, so the client sees an
  // incomplete response instead of hanging; a client that leaves cuts the upstream (exchange).
  // Not pipeline(): it would hand the upstream's error to `res`, which Koa reports as the app's.
  proxyRes.on('error', () => res.destroy());
  proxyRes.pipe(res);
  ctx.stale?.keep(req, proxyRes);
  return proxyRes;
}

