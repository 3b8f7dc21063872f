/**
 * Request bodies: recorded for replay, bounded, byte for byte.
 *
 * Two problems meet here. A retry must send the same bytes again, so a replayable body is kept in
 * memory up to a limit. And a body parser that ran before the proxy (express.json(),
 * koa-bodyparser) has drained the stream, leaving a Content-Length with no bytes: the upstream
 * would wait for Node's 300 s request timeout. `gatewayErrors()` runs first, so it records the raw
 * chunks as Node's HTTP parser pushes them; the proxy then sends exactly those bytes.
 */
import type { IncomingMessage } from 'node:http';
import { stringify as stringifyQuery } from 'node:querystring';
import { Readable } from 'node:stream';

// In the global symbol registry: an app can load the ES module and the CommonJS copy of this
// package at once, and the proxy of one must find the body the other's gatewayErrors() recorded.
const kTap = Symbol.for('gateway-errors.bodyTap');

interface Tap {
  chunks: Buffer[];
  size: number;
  /** Exceeded the limit or started late: no faithful copy. */
  incomplete: boolean;
  ended: boolean;
}

type TappedRequest = IncomingMessage & { [kTap]?: Tap };

/** Whether the request announces a body (RFC 9112 §6.3). */
export function hasBody(req: IncomingMessage): boolean {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && cl !== '0';
}

/**
 * Record the raw chunks of `req` as they arrive, up to `limit` bytes, whoever reads them.
 * Node's HTTP parser hands body chunks to `req.push()`; wrapping it on the instance sees every
 * byte without changing flow mode or timing for the reader.
 */
export function tapRequestBody(req: IncomingMessage, limit: number): void {
  const r = req as TappedRequest;
  if (r[kTap] !== undefined || !hasBody(req)) return;
  // Chunks already buffered (or read) before we got here would be missing from the copy.
  const tap: Tap = { chunks: [], size: 0, incomplete: req.readableLength > 0 || req.readableDidRead, ended: false };
  r[kTap] = tap;
  const push = req.push;
  req.push = function tappedPush(this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) tap.ended = true;
    else if (!tap.incomplete && Buffer.isBuffer(chunk)) {
      tap.size += chunk.length;
      if (tap.size > limit) {
        tap.incomplete = true;
        tap.chunks = [];
      } else tap.chunks.push(chunk);
    }
    return push.call(this, chunk, encoding);
  };
}

/** The recorded body, when complete and within the limit. */
function tappedBody(req: IncomingMessage): Buffer | undefined {
  const tap = (req as TappedRequest)[kTap];
  if (tap === undefined || tap.incomplete || !tap.ended) return undefined;
  return tap.chunks.length === 1 ? tap.chunks[0] : Buffer.concat(tap.chunks, tap.size);
}

/**
 * Rebuild a parsed body when no raw copy exists (the parser ran before `gatewayErrors()`, or it
 * is not installed): the same approach as http-proxy-middleware's `fixRequestBody`. Not byte for
 * byte, but the same content.
 */
function reserializeBody(body: unknown, contentType: string | undefined): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body);
  const ct = contentType ?? '';
  try {
    if (ct.includes('json')) return Buffer.from(JSON.stringify(body));
    if (ct.includes('application/x-www-form-urlencoded')) {
      return Buffer.from(stringifyQuery(body as Record<string, string>));
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** What each attempt sends. */
export interface BodySource {
  /** Can the same bytes be sent again? */
  readonly replayable: boolean;
  /** No body at all: http-proxy can pipe the (empty) request itself, no stream needed. */
  readonly empty?: boolean;
  /** Content-Length to send instead of the client's (a rebuilt or recorded body), if any. */
  readonly length?: number;
  /** A fresh stream of the body for one attempt. */
  stream(): Readable;
}

function bufferSource(buf: Buffer, fixLength: boolean): BodySource {
  return {
    replayable: true,
    ...(fixLength && { length: buf.length }),
    stream: () =>
      new Readable({
        read() {
          if (buf.length > 0) this.push(buf);
          this.push(null);
        },
      }),
  };
}

const EMPTY = Buffer.alloc(0);
const EMPTY_SOURCE: BodySource = { ...bufferSource(EMPTY, false), empty: true };

/** A parsed body we cannot recover: the request is failed with this (a 500, not a gateway error). */
export class BodyConsumedError extends Error {
  readonly code = 'GATEWAY_ERRORS_BODY_CONSUMED';
  constructor() {
    super(
      'gateway-errors: the request body was read by an earlier middleware and cannot be forwarded; ' +
        'install gatewayErrors() before your body parser.',
    );
  }
}

/**
 * Decide how this request's body travels: replayable from memory, or streamed once.
 * `parsed` is what a body parser left (Express `req.body`, Koa `ctx.request.rawBody ?? body`).
 * A promise only when the body must be read first; throws BodyConsumedError.
 */
export function bodySource(
  req: IncomingMessage,
  wantReplay: boolean,
  limit: number,
  parsed: unknown,
): BodySource | Promise<BodySource> {
  if (!hasBody(req)) return EMPTY_SOURCE;
  if (req.readableEnded) {
    const raw = tappedBody(req) ?? reserializeBody(parsed, req.headers['content-type']);
    if (raw === undefined) throw new BodyConsumedError();
    return bufferSource(raw, true);
  }
  const declared = Number.parseInt(req.headers['content-length'] ?? '', 10);
  if (!wantReplay || declared > limit) return streamOnce(req, []);
  return readBounded(req, limit);
}

/** A body that streams through once: chunks already read, then the rest of the request. */
function streamOnce(req: IncomingMessage, head: Buffer[]): BodySource {
  return {
    replayable: false,
    stream: () => {
      if (head.length === 0) return req;
      const out = new Readable({ read: () => req.resume() });
      for (const c of head) out.push(c);
      req.on('data', (c: Buffer) => {
        if (!out.push(c)) req.pause();
      });
      req.once('end', () => out.push(null));
      req.once('error', (e) => out.destroy(e));
      return out;
    },
  };
}

function readBounded(req: IncomingMessage, limit: number): Promise<BodySource> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      chunks.push(c);
      if (size > limit) {
        cleanup();
        req.pause();
        resolve(streamOnce(req, chunks));
      }
    };
    const onEnd = () => {
      cleanup();
      resolve(bufferSource(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), false));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(Object.assign(new Error('client closed the request before its body ended'), { code: 'ECONNABORTED' }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
