/**
 * Catch a 502/503/504 that a later handler writes on a raw Node response (`res.sendStatus(503)`,
 * a proxy of someone else's, anything) before its head leaves, and answer it through the sink.
 *
 * Node writes the head implicitly from `write()`/`end()` via `this.writeHead()`, so all three are
 * wrapped: the first one that would put a gateway status on the wire swaps in the branded head,
 * and the handler's own body is dropped.
 *
 * The wrappers live on a prototype inserted between the response and its own prototype (cached
 * per prototype and sink), not on each response: three methods assigned per request would give
 * every response object its own shape and slow down all code that touches it. Express already
 * sets the prototype of each response, so one more `setPrototypeOf` to a cached object keeps
 * the shapes shared.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { kHandled } from './exchange.js';
import { applyHeaders, handlerFailure, isGatewayStatus, requestFacts, type Responder } from './respond.js';
import type { Reply } from './types.js';

const kReplaced = Symbol('gateway-errors.replaced');

type Res = ServerResponse & { [kHandled]?: boolean; [kReplaced]?: Reply; req: IncomingMessage };
type Method = (this: Res, ...args: unknown[]) => unknown;

/** Decide once, at the moment the head would be written. Returns the reply if we took over. */
function takeOver(res: Res, responder: Responder, status: number): Reply | undefined {
  const done = res[kReplaced];
  if (done !== undefined) return done;
  if (res[kHandled] || res.headersSent || !isGatewayStatus(status)) return undefined;
  res[kHandled] = true;
  const failure = handlerFailure(status, res.getHeader('retry-after'));
  const facts = requestFacts(res.req.method, res.req.headers);
  if (responder.options.keepUpstreamBody) {
    // Keep the handler's body; only make the headers right.
    applyHeaders(res, responder.passthroughHeaders(failure, facts));
    return undefined;
  }
  const reply = responder.reply(failure, facts);
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res[kReplaced] = reply;
  return reply;
}

type Write = (this: Res, chunk?: unknown, encoding?: unknown, cb?: unknown) => unknown;

function interceptingPrototype(parent: object, responder: Responder): object {
  const { writeHead, write, end } = parent as unknown as { writeHead: Method; write: Write; end: Write };
  // write() and end() take fixed parameters (Node treats a missing one and an undefined one
  // alike): a rest array per call on the hot path buys nothing.
  const methods = {
    writeHead(this: Res, status: unknown, ...rest: unknown[]) {
      const reply = takeOver(this, responder, status as number);
      if (reply === undefined) return writeHead.call(this, status, ...rest);
      return writeHead.call(this, reply.status, reply.headers);
    },
    write(this: Res, chunk?: unknown, encoding?: unknown, cb?: unknown) {
      const reply = this.headersSent ? this[kReplaced] : takeOver(this, responder, this.statusCode);
      if (reply === undefined) return write.call(this, chunk, encoding, cb);
      const done = typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true; // the handler's body is dropped
    },
    end(this: Res, chunk?: unknown, encoding?: unknown, cb?: unknown) {
      const reply = this.headersSent ? this[kReplaced] : takeOver(this, responder, this.statusCode);
      if (reply === undefined) return end.call(this, chunk, encoding, cb);
      const done = [chunk, encoding, cb].find((a) => typeof a === 'function');
      if (!this.headersSent) writeHead.call(this, reply.status, reply.headers);
      return end.call(this, reply.body, done);
    },
  };
  const proto = Object.create(parent) as object;
  for (const [name, fn] of Object.entries(methods)) {
    Object.defineProperty(proto, name, { value: fn, writable: true, configurable: true });
  }
  return proto;
}

const prototypes = new WeakMap<object, WeakMap<Responder, object>>();
/** The last lookup: one app and one gatewayErrors() is the common case. */
let last: { parent: object; responder: Responder; proto: object } | undefined;

/** Make `res` answer gateway statuses with `responder`'s branded reply. */
export function interceptGatewayStatuses(res: ServerResponse, responder: Responder): void {
  const parent = Object.getPrototypeOf(res) as object;
  if (last !== undefined && last.parent === parent && last.responder === responder) {
    Object.setPrototypeOf(res, last.proto);
    return;
  }
  let byResponder = prototypes.get(parent);
  if (byResponder === undefined) prototypes.set(parent, (byResponder = new WeakMap()));
  let proto = byResponder.get(responder);
  if (proto === undefined) byResponder.set(responder, (proto = interceptingPrototype(parent, responder)));
  last = { parent, responder, proto };
  Object.setPrototypeOf(res, proto);
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
