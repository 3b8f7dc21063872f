/**
 * An attempt through http-proxy's own `web()`, for the options only it implements (`forward`,
 * `followRedirects`). It gets the body as `buffer` and reports through its error callback and
 * the 'proxyReq' / 'proxyRes' events (proxy.ts hands those to the current attempt).
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Attempt } from './attempt.js';
import type { BodySource } from './body.js';
import { afterHandlers, beforeHandlers, guardWrites, HandlerError, nativeOf, strictLength } from './framing.js';
import type { Observation } from './observe.js';
import { dropHopByHop, sentHopByHop } from './send.js';

export type WebFn = (
  req: IncomingMessage,
  res: ServerResponse,
  options: Record<string, unknown>,
  cb: (err: Error) => void,
) => void;

/**
 * http-proxy makes the upstream request here, so what send.ts does to the head before making one
 * (the client's hop-by-hop headers, the body's length) is done at the first moment we hold the
 * request. A client's Expect makes Node write the head as the request is made: it then goes out
 * as http-proxy made it.
 */
function amendHead(proxyReq: ClientRequest, req: IncomingMessage, options: Record<string, unknown>, length: number | undefined): void {
  // follow-redirects' request wraps the native one, whose head it is.
  if (((proxyReq as ClientRequest & { _currentRequest?: ClientRequest })._currentRequest ?? proxyReq).headersSent) return;
  if (sentHopByHop(req.headers)) {
    dropHopByHop((name) => proxyReq.getHeader(name), (name) => proxyReq.removeHeader(name), req.headers, options.headers as object | undefined);
  }
  if (length !== undefined) {
    // removeHeader() on a header that is not there still tells Node the message has no coding.
    if (proxyReq.getHeader('transfer-encoding') !== undefined) proxyReq.removeHeader('transfer-encoding');
    proxyReq.setHeader('content-length', length);
  }
}

/** The attempt's upstream request, as http-proxy made it: given what send.ts gives its own. */
export function adoptWebRequest(proxyReq: ClientRequest, a: Attempt, req: IncomingMessage, obs: Observation | undefined): void {
  amendHead(proxyReq, req, a.options, a.bodyLength);
  obs?.attemptStart(a, nativeOf(proxyReq).headersSent ? undefined : (name, value) => proxyReq.setHeader(name, value));
  // Node's check throws from wherever the write came from: follow-redirects' request ends
  // the native one from a callback, where a throw would take the process down.
  if (nativeOf(proxyReq) === proxyReq) strictLength(proxyReq);
  guardWrites(proxyReq);
  // follow-redirects drops the events of a request that a handler destroyed: without this the
  // attempt would wait for its timeout. An error reported first (the handler's own) stands.
  proxyReq.once('close', () => process.nextTick(() => a.error(new HandlerError('proxyReq', 'the upstream request was destroyed'))));
}

/** Send attempt `a` through `web()`; `server` is http-proxy's proxy server. */
export function sendThroughWeb(web: WebFn, server: unknown, req: IncomingMessage, res: ServerResponse, body: BodySource, a: Attempt): void {
  const { options } = a;
  // With `forward`, http-proxy first sends a copy to the mirror, fire and forget (as nginx's
  // `mirror`): its request is not the attempt's, and its failure is not the upstream's.
  let mirror = Boolean(options.forward);
  let mirrorError: unknown;
  if (!mirror && body.empty && req.headers.expect === undefined) {
    // No body: http-proxy pipes the ended request, and its 'proxyReq' event hands us the
    // upstream request.
    options.buffer = undefined;
  } else {
    const buffer = body.stream();
    const pipe = buffer.pipe;
    // The user's on.proxyReq handlers may write the body themselves (framing.ts); ours is one.
    const userHandlers = (server as { listenerCount(e: string): number }).listenerCount('proxyReq') > 1;
    let mirrorPipe: (() => void) | undefined;
    // http-proxy pipes `buffer` into each request right after creating it, the mirror's first:
    // the one moment we can reach them whatever the headers (its 'proxyReq' event skips
    // requests with `Expect`, and has none for the mirror's).
    buffer.pipe = function <T extends NodeJS.WritableStream>(this: Readable, dest: T, o?: { end?: boolean }): T {
      const outgoing = dest as unknown as ClientRequest;
      if (mirror) {
        mirror = false;
        outgoing.prependListener('error', (err) => (mirrorError = err));
        amendHead(outgoing, req, options, undefined);
        if (!userHandlers) return pipe.call(this, dest, o) as T;
        // Held until the upstream request's handlers have run: both read the one buffer.
        mirrorPipe = () => pipe.call(buffer, dest, o);
        return dest;
      }
      buffer.pipe = pipe;
      a.attach(outgoing);
      if (!userHandlers) return pipe.call(this, dest, o) as T;
      // http-proxy emits 'proxyReq' on 'socket', before this listener runs: the body is ours
      // only if the handlers wrote none. The mirror gets the client's body either way.
      const before = beforeHandlers(outgoing);
      outgoing.once('socket', () => {
        let sent = false;
        afterHandlers(outgoing, before, undefined, () => {
          sent = true;
          mirrorPipe?.();
          pipe.call(buffer, dest, o);
        });
        if (!sent) mirrorPipe?.();
      });
      return dest;
    };
    options.buffer = buffer;
  }
  web.call(server, req, res, options, (err) => {
    if (err !== mirrorError) a.error(err);
  });
}
