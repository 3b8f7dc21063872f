/**
 * Sending one attempt's upstream request, made from http-proxy's own parts.
 *
 * http-proxy's `web()` is built for one call per client request: every call copies its options
 * twice, parses a string target again, adds an 'aborted' and an 'error' listener to the client
 * request (which stay there), and reports through the server's events. An attempt needs its own
 * error callback, response hook and timers, and a request may have three attempts. So the request
 * is made here from the same parts, in the same order: the proxy server's web passes (deleteLength,
 * timeout, XHeaders, and any a plugin added) and http-proxy's `setupOutgoing`, so every option
 * means what it means in http-proxy; 'start', 'proxyReq', 'proxyRes' and 'end' are emitted on the
 * proxy server as http-proxy emits them, so `on.*` handlers and plugins see the same events.
 * `forward` and `followRedirects` need http-proxy's own `web()`: see proxy.ts.
 */
import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { afterHandlers, beforeHandlers, guardWrites, strictLength } from './framing.js';
import { outgoingOf } from './outgoing.js';

/** What the upstream request reports to its attempt. */
export interface AttemptListener {
  /** Content-Length to send instead of the client's (a recorded or rebuilt body), if any. */
  readonly bodyLength: number | undefined;
  /** Add the attempt's trace context to the outgoing headers (OpenTelemetry, when tracing). */
  carry?(headers: Record<string, unknown>): void;
  attach(proxyReq: ClientRequest): void;
  error(err: unknown): void;
  response(proxyRes: IncomingMessage): void;
}

type Pass = (req: IncomingMessage, res: ServerResponse, options: Record<string, unknown>, head: undefined, server: unknown) => unknown;
export interface ProxyServerLike {
  webPasses: Pass[];
  emit(event: string, ...args: unknown[]): boolean;
  listenerCount(event: string): number;
}

/**
 * Send one attempt: the upstream request is handed to `a.attach` before a byte of it leaves,
 * its errors go to `a.error` and its response head to `a.response` (nothing is written to `res`).
 * `body` is this attempt's body stream, or undefined when the request has none.
 */
export function sendAttempt(
  server: ProxyServerLike,
  req: IncomingMessage,
  res: ServerResponse,
  options: Record<string, unknown>,
  body: Readable | undefined,
  a: AttemptListener,
): void {
  // The proxy server's passes in their order, `send` standing in for http-proxy's own `stream`
  // (a pass a plugin added after it still runs after it); as in http-proxy, a pass that returns
  // true has handled the request, and a plugin that replaced `stream` sends it its own way.
  for (const pass of server.webPasses) {
    if (pass.name === 'stream') send(server, req, res, options, body, a);
    else if (pass(req, res, options, undefined, server)) return;
  }
}

/**
 * The client's `Connection`, `Keep-Alive` and `Proxy-Connection` headers are about its own
 * connection to us (RFC 9110, section 7.6.1) and are not forwarded. http-proxy forwards them
 * (http-party/node-http-proxy#446): a client's `Connection: close` (nginx sends it by default, as
 * HTTP/1.0 clients do) then closes the pooled upstream connection after every request. That
 * holds for a `Connection` that names `upgrade` too: a request sent from here is a plain one (Node
 * hands a real upgrade to the server's 'upgrade' event, which upgrade.ts serves), so an upgrade
 * the client offers on it (h2c) is not passed on, and the upstream, which then sees an `Upgrade`
 * without the connection option, ignores it (RFC 9110, section 7.8). What the user's `headers`
 * option sets stays.
 * The fields a client names in `Connection` are left alone, as Envoy and YARP do: removing them
 * would let a client strip what the gateway adds, such as X-Forwarded-For. `get` and `remove`
 * reach the outgoing headers here (send), or the upstream request on the web() path (through-web.ts).
 */
export function dropHopByHop(
  get: (name: string) => unknown,
  remove: (name: string) => void,
  client: IncomingMessage['headers'],
  own: object | undefined,
): void {
  const connection = client.connection;
  if (connection !== undefined && get('connection') === connection && !hasHeader(own, 'connection')) {
    remove('connection');
  }
  for (const name of ['keep-alive', 'proxy-connection']) {
    if (get(name) !== undefined && !hasHeader(own, name)) remove(name);
  }
}

/** Whether the client sent hop-by-hop headers other than the plain `Connection: keep-alive`. */
export function sentHopByHop(client: IncomingMessage['headers']): boolean {
  const { connection } = client;
  // `Connection: keep-alive` alone (browsers, most clients) asks for what the agent sends anyway.
  return (connection !== undefined && connection !== 'keep-alive') || client['keep-alive'] !== undefined || client['proxy-connection'] !== undefined;
}

function hasHeader(headers: object | undefined, name: string): boolean {
  if (headers === undefined) return false;
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return true;
  return false;
}

function send(
  server: ProxyServerLike,
  req: IncomingMessage,
  res: ServerResponse,
  options: Record<string, unknown>,
  body: Readable | undefined,
  a: AttemptListener,
): void {
  const target = options.target as { protocol?: string };
  if (server.listenerCount('start') > 0) server.emit('start', req, res, target);
  const outgoing = outgoingOf(options, req);
  // The head is settled before the request is made: a client's Expect makes Node write it at once.
  const headers = outgoing.headers as Record<string, unknown>;
  if (sentHopByHop(req.headers)) {
    dropHopByHop((name) => headers[name], (name) => delete headers[name], req.headers, options.headers as object | undefined);
  }
  if (a.bodyLength !== undefined) {
    delete headers['transfer-encoding'];
    headers['content-length'] = a.bodyLength;
  }
  a.carry?.(headers);
  const proxyReq = (target.protocol === 'https:' ? https : http).request(outgoing);
  strictLength(proxyReq);
  a.attach(proxyReq);
  proxyReq.on('error', (err: NodeJS.ErrnoException) => {
    // The client left and took the connection with it: not an upstream failure (http-proxy's
    // 'econnreset'); the exchange's close handler ends the attempt.
    if (req.socket?.destroyed && err.code === 'ECONNRESET') {
      server.emit('econnreset', err, req, res, target);
      proxyReq.destroy();
      return;
    }
    a.error(err);
  });
  // 'response' comes once per request: on(), not once(), spares a wrapper per attempt.
  proxyReq.on('response', (proxyRes: IncomingMessage) => {
    a.response(proxyRes);
    if (server.listenerCount('proxyRes') > 0) {
      server.emit('proxyRes', proxyRes, req, res);
      // A handler that piped the body somewhere (a cache, an audit log) set it flowing, to start
      // on the next tick: before the attempt's outcome is known and the client's pipe attached,
      // so the client would miss what arrived with the head. Held again; delivery resumes it for
      // every reader at once, as http-proxy's same-tick pipe does.
      if (proxyRes.readableFlowing === true) proxyRes.pause();
    }
    if (server.listenerCount('end') > 0) proxyRes.once('end', () => server.emit('end', req, res, proxyRes));
  });
  if (server.listenerCount('proxyReq') === 0) return sendBody(proxyReq, body);
  // The user's handlers may write the body themselves (framing.ts): the gateway's own waits for
  // them. http-proxy's moment for them: on 'socket', and not for requests that carry Expect.
  guardWrites(proxyReq);
  proxyReq.once('socket', () => {
    const emit = proxyReq.getHeader('expect') ? undefined : () => server.emit('proxyReq', proxyReq, req, res, options);
    afterHandlers(proxyReq, beforeHandlers(proxyReq), emit, () => sendBody(proxyReq, body));
  });
}

/** The gateway's own body: none (the request is ended at once), or this attempt's stream. */
function sendBody(proxyReq: ClientRequest, body: Readable | undefined): void {
  if (body === undefined) proxyReq.end();
  else body.pipe(proxyReq);
}
