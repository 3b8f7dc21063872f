/**
 * One owner of each upstream request's body, and framing that cannot be broken.
 *
 * A user's `on.proxyReq` may write the body itself (http-proxy-middleware's `fixRequestBody`, a
 * wrapper around it, a re-signed or rewritten body). If the gateway then wrote its own copy too,
 * the upstream would read the second copy, under a Content-Length that covers one, as the next
 * request on a pooled connection: a request the client chose, past every check the gateway made
 * (request smuggling), whose answer goes to whoever uses that connection next. So:
 *
 * - whoever writes first owns the body: a handler that wrote or ended the request during its
 *   'proxyReq' event keeps it, and the gateway writes nothing of its own (it only ends the
 *   request if the handler left it open); each retry emits the event again, so the handler
 *   writes the body again for it;
 * - every upstream request has `strictContentLength`: a body longer or shorter than its
 *   Content-Length is an error for that request, and the request is destroyed with its socket,
 *   so a pooled connection never carries the bytes that did not fit;
 * - a body written to a request that announces no length (a GET, or a request whose handler
 *   removed its Content-Length) goes out chunked, never as raw bytes after the head.
 */
import type { ClientRequest } from 'node:http';

/** A request body that does not fit its framing: the request failed, nothing was smuggled. */
export class BodyFramingError extends Error {
  readonly code = 'GATEWAY_ERRORS_BODY_FRAMING';
  constructor(cause: unknown) {
    super(
      'gateway-errors: the upstream request body does not match its Content-Length, so the request was stopped. ' +
        'An on.proxyReq handler that writes a body must set Content-Length to what it writes (or remove it), and write it once.',
      { cause },
    );
  }
}

/** A user's `on.*` handler threw: its request (or connection) is failed with the error, not the process. */
export class HandlerError extends Error {
  readonly code = 'GATEWAY_ERRORS_HANDLER';
  constructor(
    readonly event: string,
    cause: unknown,
  ) {
    super(`gateway-errors: an on.${event} handler failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

function frameIfUnframed(native: ClientRequest): void {
  if (native.headersSent || native.getHeader('content-length') !== undefined || native.getHeader('transfer-encoding') !== undefined) return;
  // With neither header, Node sends a body raw after the head (a GET, HEAD, DELETE, OPTIONS or
  // TRACE, or a request whose length and coding were both removed): the upstream would read those
  // bytes as the next request. Chunked keeps them one message.
  native.setHeader('transfer-encoding', 'chunked');
}

/** Node checks each write against Content-Length (an option of `http.request` since 18.10). */
export function strictLength(proxyReq: ClientRequest): void {
  (proxyReq as ClientRequest & { strictContentLength: boolean }).strictContentLength = true;
}

type Write = (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
type End = (chunk?: unknown, encoding?: unknown, cb?: unknown) => ClientRequest;

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  return (chunk as Uint8Array | undefined)?.byteLength ?? 0;
}

/** The body length the head announces, or undefined when it announces none (chunked, or no body). */
function declaredLength(native: ClientRequest): number | undefined {
  if (native.getHeader('transfer-encoding') !== undefined) return undefined;
  const cl = native.getHeader('content-length');
  return cl === undefined ? undefined : Number(cl);
}

/**
 * Writes to a request that others (the user's handlers) can reach are counted against the
 * Content-Length its head announces: one that does not fit destroys the request, with its socket,
 * before its bytes leave. Node's own strictContentLength does not check the first write (the
 * length is read from the head only as that write sends it) and throws into whichever stream or
 * callback wrote, which may be outside any handler's reach.
 */
export function guardWrites(proxyReq: ClientRequest): void {
  const write = proxyReq.write as unknown as Write;
  const end = proxyReq.end as unknown as End;
  let written = 0;
  bytesWritten.set(proxyReq, () => written);
  const refuse = (r: ClientRequest, err: unknown) => {
    r.destroy(new BodyFramingError(err));
  };
  (proxyReq as unknown as { write: Write }).write = function guardedWrite(this: ClientRequest, chunk, encoding, cb) {
    const native = nativeOf(this);
    const len = byteLength(chunk, encoding);
    if (len === 0 && !native.headersSent) {
      // An empty write carries no body, but would send the head: fixRequestBody writes '' for a
      // form it found empty (koa-bodyparser's `{}` for a multipart upload), which must not take the
      // body from the gateway.
      const done = typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true;
    }
    frameIfUnframed(native);
    const declared = declaredLength(native);
    if (declared !== undefined && written + len > declared) {
      refuse(this, `wrote ${written + len} bytes`);
      return false;
    }
    written += len;
    try {
      return write.call(this, chunk, encoding, cb);
    } catch (err) {
      refuse(this, err);
      return false;
    }
  };
  (proxyReq as unknown as { end: End }).end = function guardedEnd(this: ClientRequest, chunk, encoding, cb) {
    const native = nativeOf(this);
    const len = typeof chunk === 'function' ? 0 : byteLength(chunk, encoding);
    if (len > 0) frameIfUnframed(native);
    const declared = declaredLength(native);
    if (declared !== undefined && !this.writableEnded && written + len !== declared) {
      refuse(this, `wrote ${written + len} of ${declared} bytes`);
      return this;
    }
    // Counted here for a native request only: follow-redirects' end() writes its chunk through
    // write() above, which counts it.
    if (len > 0 && nativeOf(this) === this) written += len;
    try {
      return end.call(this, chunk, encoding, cb);
    } catch (err) {
      refuse(this, err);
      return this;
    }
  };
}

/** Body bytes written so far to a request under guardWrites. */
const bytesWritten = new WeakMap<ClientRequest, () => number>();

/** The request as it was before the user's handlers ran: its head, and the gateway's framing. */
export interface BeforeHandlers {
  readonly headSent: boolean;
  readonly written: number;
  readonly length: ReturnType<ClientRequest['getHeader']>;
  readonly coding: ReturnType<ClientRequest['getHeader']>;
}

export function beforeHandlers(proxyReq: ClientRequest): BeforeHandlers {
  const native = nativeOf(proxyReq);
  return {
    headSent: native.headersSent,
    written: bytesWritten.get(proxyReq)?.() ?? 0,
    length: native.getHeader('content-length'),
    coding: native.getHeader('transfer-encoding'),
  };
}

/**
 * Run the user's 'proxyReq' handlers (`emit`, undefined when http-proxy runs them itself), then
 * send the gateway's body (`sendOwn`) unless a handler wrote one. A head that left before the
 * handlers ran (a client's Expect sends it at once) is not a write of theirs.
 */
export function afterHandlers(proxyReq: ClientRequest, before: BeforeHandlers, emit: (() => void) | undefined, sendOwn: () => void): void {
  if (emit !== undefined) {
    try {
      emit();
    } catch (err) {
      proxyReq.destroy(new HandlerError('proxyReq', err));
      return;
    }
  }
  if (proxyReq.destroyed) return; // a handler refused the request (fixRequestBody does, with its error)
  if (ended(proxyReq)) return;
  const native = nativeOf(proxyReq);
  if ((bytesWritten.get(proxyReq)?.() ?? 0) > before.written) {
    // The handler wrote the body and left the request open: it is theirs, end it as it is.
    proxyReq.end();
    return;
  }
  // The body is the gateway's, and so is its framing, whatever a handler set without writing (a
  // head it flushed stays as sent: the body is then counted against that).
  if (!native.headersSent) {
    setOrRemove(proxyReq, native, 'content-length', before.length);
    setOrRemove(proxyReq, native, 'transfer-encoding', before.coding);
  }
  sendOwn();
}

type Redirectable = ClientRequest & { _currentRequest?: ClientRequest; _ending?: boolean };

/** follow-redirects' request (`followRedirects`) wraps the native request of the current redirect. */
export function nativeOf(proxyReq: ClientRequest): ClientRequest {
  return (proxyReq as Redirectable)._currentRequest ?? proxyReq;
}

function ended(proxyReq: ClientRequest): boolean {
  // follow-redirects ends the native request only once the last write's callback ran.
  return proxyReq.writableEnded || (proxyReq as Redirectable)._ending === true || nativeOf(proxyReq).writableEnded;
}

function setOrRemove(proxyReq: ClientRequest, native: ClientRequest, name: string, value: ReturnType<ClientRequest['getHeader']>): void {
  // removeHeader() on a header that is not there still tells Node the message has no length.
  if (value === undefined) {
    if (native.getHeader(name) !== undefined) proxyReq.removeHeader(name);
  } else if (native.getHeader(name) !== value) proxyReq.setHeader(name, value);
}

/**
 * http-proxy-middleware's fixRequestBody refuses a multipart field that holds CR or LF (it would
 * inject headers into the rebuilt body) and answers 400 for it: the client's error, not the app's.
 * Marked the way body-parser marks a body it cannot read, so Express's and Koa's own error
 * handling answers 400 too.
 */
export function asClientError(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('HPM_ERR_INVALID_MULTIPART_')) {
    Object.assign(err as object, { status: 400, statusCode: 400, expose: true });
  }
  return err;
}
