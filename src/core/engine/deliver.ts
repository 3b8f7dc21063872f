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
 * section 7.6.1), but http-proxy copies them to the client: an upstream's `close` would end the
 * client's keep-alive connection to the gateway, its `keep-alive` keep open a connection the
 * client had asked to close (Node honours the header it is given), and its `Keep-Alive: timeout=`
 * tell the client the upstream's idle limit. So after http-proxy's passes the client gets what
 * setConnection answers when the upstream sends neither. `proxyRes.headers` stays as it came:
 * Node's agent reads the upstream's Keep-Alive hint there to retire the socket in time.
 */
function answerClientConnection(req: IncomingMessage, res: ServerResponse, proxyRes: IncomingMessage): void {
  const { connection } = proxyRes.headers;
  if (proxyRes.headers['keep-alive'] !== undefined) res.removeHeader('keep-alive');
  if (connection === undefined || /\bupgrade\b/i.test(connection)) return;
  if (req.httpVersion === '2.0') return void res.removeHeader('connection');
  const own = req.headers.connection ?? (req.httpVersion === '1.0' ? 'close' : 'keep-alive');
  if (own !== connection) res.setHeader('connection', own);
}

const RESPONSE_PASSES = [
  webOutgoing.removeChunked,
  webOutgoing.setConnection,
  webOutgoing.setRedirectHostRewrite,
  webOutgoing.writeHeaders,
  answerClientConnection,
  webOutgoing.writeStatusCode,
];

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
  for (const pass of RESPONSE_PASSES) pass(req, res, proxyRes, options);
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

