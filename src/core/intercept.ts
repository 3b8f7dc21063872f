/**
 * Catch a 502/503/504 that a later handler writes on a raw Node response (`res.sendStatus(503)`,
 * a proxy of someone else's, anything) before its head leaves, and answer it through the sink.
 *
 * Node writes the head implicitly from `write()`/`end()` via `this.writeHead()`, so all three are
 * wrapped on the instance: the first one that would put a gateway status on the wire swaps in the
 * branded head, and the handler's own body is dropped.
 */
import type { ServerResponse } from 'node:http';
import { kHandled } from './proxy.js';
import { isGatewayStatus, type RequestFacts, type Responder } from './respond.js';
import { parseRetryAfter } from './retry-after.js';
import type { Failure, Reply } from './types.js';

type Res = ServerResponse & { [kHandled]?: boolean };

/**
 * Wrap `res` so gateway statuses become branded answers. `facts` is called only when one happens.
 */
export function interceptGatewayStatuses(res: ServerResponse, responder: Responder, facts: () => RequestFacts): void {
  const r = res as Res;
  const { writeHead, write, end } = res;
  let replaced: Reply | undefined;

  /** Decide once, at the moment the head would be written. Returns the reply if we took over. */
  function takeOver(status: number): Reply | undefined {
    if (replaced !== undefined) return replaced;
    if (r[kHandled] || r.headersSent || !isGatewayStatus(status)) return undefined;
    r[kHandled] = true;
    const retryAfter = parseRetryAfter(res.getHeader('retry-after'));
    const failure: Failure = { status, retryable: false, ...(retryAfter !== undefined && { retryAfter }) };
    const f = facts();
    if (responder.options.keepUpstreamBody) {
      // Keep the handler's body; only make the headers right.
      for (const [k, v] of Object.entries(responder.passthroughHeaders(failure, f))) res.setHeader(k, v);
      if (failure.retryAfter === undefined && status !== 503) res.removeHeader('retry-after');
      return undefined;
    }
    replaced = responder.reply(failure, f);
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    return replaced;
  }

  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    const reply = takeOver(status);
    if (reply === undefined) return (writeHead as (...a: unknown[]) => ServerResponse).call(this, status, ...rest);
    return writeHead.call(this, reply.status, reply.headers);
  } as typeof res.writeHead;

  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    if (!replaced && !this.headersSent) takeOver(this.statusCode);
    if (replaced) {
      const cb = rest.find((a) => typeof a === 'function') as (() => void) | undefined;
      if (cb) process.nextTick(cb);
      return true;
    }
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof res.write;

  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (!replaced && !this.headersSent) takeOver(this.statusCode);
    if (replaced) {
      const cb = args.find((a) => typeof a === 'function') as (() => void) | undefined;
      if (!this.headersSent) writeHead.call(this, replaced.status, replaced.headers);
      return (end as (...a: unknown[]) => ServerResponse).call(this, replaced.body, cb);
    }
    return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as typeof res.end;
}

/** Write a finished reply on a raw Node response, unless the head already left. */
export function writeReply(res: ServerResponse, reply: Reply): void {
  const r = res as Res;
  r[kHandled] = true;
  if (res.headersSent) {
    // Too late for an error page: end the connection so the client sees an incomplete answer.
    res.destroy();
    return;
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.writeHead(reply.status, reply.headers);
  res.end(reply.body);
}
