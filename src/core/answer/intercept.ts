/**
 * Catch a 502/503/504 that a later handler writes on a raw Node response (`res.sendStatus(503)`,
 * a proxy of someone else's, anything) before its head leaves, and answer it with the responder.
 *
 * Node writes the head implicitly from `write()`/`end()` via `this.writeHead()`, so all three are
 * wrapped: the first one that would put a gateway status on the wire swaps in the branded head,
 * and the handler's own body is dropped.
 *
 * Where the wrappers live: on the framework's response prototype right above Node's
 * (`express.response`, which every Express app's and sub-app's `app.response` inherits from),
 * once, inert for any response that did not pass through gatewayErrors() (see `responders`). Not on
 * each response: a prototype inserted per response is dropped when an Express sub-app swaps in
 * its own on the way in, so the sub-app's 503s would go out unbranded, and methods assigned per
 * response cost every request more than the one WeakMap entry. A bare Node response (no
 * framework prototype) gets them as its own properties.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { applyHeaders, kHandled, type Responder } from './respond.js';
import { answerStatus } from './status.js';
import type { Reply } from '../types.js';

const kReplaced = Symbol('gateway-errors.replaced');

/**
 * The responder of the nearest gatewayErrors() per request, where the proxies behind it look for it.
 * It cannot belong to one gateway: gatewayErrors() and each gatewayProxy() are made apart and
 * meet only on the request, and they may come from different copies of this package (its ES
 * module and its CommonJS build, or two installed versions), hence one map in the global symbol
 * registry. A WeakMap, not a property of the request: Express swaps the prototype of every
 * request, so each property added to one gives it a hidden class of its own, which cost more
 * than all the rest of this middleware.
 */
// The key is what other installed versions look the map up by: it keeps its name.
const kResponders = Symbol.for('gateway-errors.sinks');
const responders = ((globalThis as Record<symbol, unknown>)[kResponders] ??= new WeakMap()) as WeakMap<IncomingMessage, Responder>;

/** Make `responder` what answers `req`, here and in the proxies behind. */
export function setResponder(req: IncomingMessage, responder: Responder): void {
  responders.set(req, responder);
}

/** The responder of the nearest gatewayErrors() this request passed, if any. */
export function responderOf(req: IncomingMessage): Responder | undefined {
  return responders.get(req);
}

type Res = ServerResponse & { [kHandled]?: boolean; [kReplaced]?: Reply; req: IncomingMessage };
type Fn = (this: Res, ...args: unknown[]) => unknown;
type Name = 'writeHead' | 'write' | 'end';
const NAMES: readonly Name[] = ['writeHead', 'write', 'end'];

/**
 * An upstream's answer relayed by another proxy (http-proxy-middleware's own, say), rather than
 * a handler's own. Only asked for the `extraStatuses` (429, 500), which are branded when a
 * handler of this app produced them and relayed as they are from an upstream (their bodies are
 * the upstream API's, e.g. its rate-limit details). http-proxy's response passes copy the
 * upstream's headers with a `Connection` header always set on HTTP/1 (its `setConnection` pass);
 * Express and Node leave that header to Node's own head writing, so a handler's answer does not
 * have one unless it set it itself. gatewayProxy() marks its own relayed answers (kHandled).
 */
function relayedFromUpstream(res: Res): boolean {
  return res.hasHeader('connection');
}

/**
 * Headers given to writeHead() set on the response first, as Node itself does when some are set
 * already: a Retry-After or Connection passed there is read like one set before, and the headers
 * this module corrects are not overwritten by the call that follows. Returns writeHead()'s
 * arguments without them (just the status message, if any).
 */
function absorbHeaders(res: Res, rest: unknown[]): unknown[] {
  const message = typeof rest[0] === 'string' ? rest[0] : undefined;
  const given = message === undefined ? rest[0] : rest[1];
  if (Array.isArray(given)) {
    // Node's flat form: [name, value, name, value, ...]
    for (let i = 0; i + 1 < given.length; i += 2) res.setHeader(String(given[i]), given[i + 1] as string);
  } else if (given !== null && typeof given === 'object') {
    for (const [name, value] of Object.entries(given)) if (value !== undefined) res.setHeader(name, value as string);
  }
  return message === undefined ? [] : [message];
}

/**
 * Decide once, at the moment the head would be written. Returns the reply if we took over.
 * `rest`: writeHead()'s arguments after the status, whose headers count as set (absorbHeaders).
 */
function takeOver(res: Res, status: number, rest?: unknown[]): Reply | undefined {
  const done = res[kReplaced];
  if (done !== undefined) return done;
  const responder = responders.get(res.req);
  // brands() first: nearly every response is not one, and needs no header read.
  if (responder === undefined || res[kHandled] || res.headersSent || !responder.brands(status)) return undefined;
  if (rest !== undefined && rest.length > 0) rest.splice(0, rest.length, ...absorbHeaders(res, rest));
  const answer = answerStatus(responder, res.req, status, res.getHeader('retry-after'), relayedFromUpstream(res));
  if (answer === undefined) return undefined;
  res[kHandled] = true;
  if (answer.headers !== undefined) {
    // Keep the handler's body; only make the headers right.
    applyHeaders(res, answer.headers);
    return undefined;
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res[kReplaced] = answer.reply;
  return answer.reply;
}

/** The three wrappers, each calling `next(name)`: the implementation it shadows. */
function wrappers(next: (name: Name) => Fn): Record<Name, Fn> {
  // write() and end() take fixed parameters (Node treats a missing one and an undefined one
  // alike): a rest array per call on the hot path buys nothing.
  return {
    writeHead(status, ...rest) {
      const reply = takeOver(this, status as number, rest);
      if (reply === undefined) return next('writeHead').call(this, status, ...rest);
      return next('writeHead').call(this, reply.status, reply.headers);
    },
    write(chunk?: unknown, encoding?: unknown, cb?: unknown) {
      const reply = this.headersSent ? this[kReplaced] : takeOver(this, this.statusCode);
      if (reply === undefined) return next('write').call(this, chunk, encoding, cb);
      const done = typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true; // the handler's body is dropped
    },
    end(chunk?: unknown, encoding?: unknown, cb?: unknown) {
      const reply = this.headersSent ? this[kReplaced] : takeOver(this, this.statusCode);
      if (reply === undefined) return next('end').call(this, chunk, encoding, cb);
      const done = [chunk, encoding, cb].find((a) => typeof a === 'function');
      if (!this.headersSent) next('writeHead').call(this, reply.status, reply.headers);
      return next('end').call(this, reply.body, done);
    },
  } as Record<Name, Fn>;
}

/** The object right below the first one in the chain that implements any of the three. */
function hostOf(res: object): object {
  let below = res;
  for (let p = Object.getPrototypeOf(res) as object | null; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    if (NAMES.some((n) => Object.hasOwn(p!, n))) return below;
    below = p;
  }
  return res;
}

/** Every wrapper function made, to know ours when we meet them. */
const wrapped = new WeakSet<object>();

function define(target: object, methods: Record<Name, Fn>): void {
  for (const [name, fn] of Object.entries(methods)) {
    wrapped.add(fn);
    Object.defineProperty(target, name, { value: fn, writable: true, configurable: true, enumerable: false });
  }
}

/** Wrappers as the response's own properties, chained to what it had (own or inherited). */
function wrapOwn(res: Res): void {
  const had = Object.fromEntries(NAMES.map((n) => [n, res[n] as unknown as Fn])) as Record<Name, Fn>;
  define(res, wrappers((name) => had[name]));
}

const patched = new WeakSet<object>();

/**
 * Make responses answer gateway statuses with their request's responder (setResponder; the nearest
 * gatewayErrors() wins). One per gateway: it remembers the last response prototype it saw, whose
 * host is patched — one per app, the common case.
 */
export function createInterceptor(): (res: ServerResponse) => void {
  let lastProto: object | undefined;
  return function intercept(res) {
    const proto = Object.getPrototypeOf(res) as object;
    if (proto === lastProto) return;
    const host = hostOf(res);
    if (host === res) {
      // A bare Node response: no framework prototype to hold the wrappers.
      if (!NAMES.every((n) => Object.hasOwn(res, n) && wrapped.has((res as Res)[n]))) wrapOwn(res as Res);
      return;
    }
    lastProto = proto;
    if (patched.has(host)) return;
    // Each calls what it shadows, looked up when called: a later patch of Node's methods (an APM
    // agent's) is still honoured.
    define(host, wrappers((name) => (Object.getPrototypeOf(host) as Record<Name, Fn>)[name]));
    patched.add(host);
    // Middleware that ran before this one on this very request (morgan's on-headers, compression)
    // may have put its own wrappers on the response, calling Node's methods it found then: chain
    // them through ours. On later requests they find ours on the prototype.
    if (NAMES.some((n) => Object.hasOwn(res, n))) wrapOwn(res as Res);
  };
}

/** Whether this library already decided the answer on `res` (the proxy's, or a reply written). */
export function isHandled(res: ServerResponse): boolean {
  return (res as Res)[kHandled] === true;
}

/** Say that the answer on `res` is decided: no status on it is caught or branded again. */
export function markHandled(res: ServerResponse): void {
  (res as Res)[kHandled] = true;
}

/** Write a finished reply on a raw Node response, unless the head already left. */
export function writeReply(res: ServerResponse, reply: Reply): void {
  markHandled(res);
  if (res.headersSent) {
    // Too late for an error page: end the connection so the client sees an incomplete answer.
    res.destroy();
    return;
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.writeHead(reply.status, reply.headers);
  res.end(reply.body);
}
