/**
 * Pipelined requests: HTTP/1.1 clients may send several requests on a connection without waiting
 * for the answers, which must come back in order.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ExchangeHooks } from './context.js';

/** A server connection; Node's own field names the response it is writing. */
type Connection = Socket & { _httpMessage?: unknown };

/** What to do for each request waiting on a connection, should the connection close first. */
const waiting = new WeakMap<Socket, Set<() => void>>();

/**
 * Whether `res` waits behind another answer on its connection: Node gives a pipelined request's
 * response no socket until the answers ahead of it are complete. A response with no socket and no
 * live connection behind it (one made in-process, a test double) waits for nothing.
 */
export function queuedBehind(req: IncomingMessage, res: ServerResponse): boolean {
  if (res.socket !== null) return false;
  const connection = req.socket as Connection | null;
  return connection != null && connection._httpMessage != null && connection._httpMessage !== res;
}

/**
 * A request pipelined behind others on its connection is sent once their answers are complete, as
 * nginx reads the next request only when the current one is answered. Node hands pipelined
 * requests over at once (queuing their answers): sent at once, a GET pipelined after a PUT could
 * reach the upstream before it, and only safe requests may be processed in parallel (RFC 9112,
 * section 9.3.2). A connection that closes meanwhile ends the wait: nothing is sent, the request
 * is marked answered for the framework (Koa would otherwise answer it 404) and told it is over.
 *
 * The connection's 'close' says the client left, not the request's: a request whose body a
 * parser read closes at once, long before its turn. One listener per connection serves all its
 * waiting requests, where one each would warn of a leak past ten.
 */
export function afterEarlierAnswers(req: IncomingMessage, res: ServerResponse, go: () => void, hooks: ExchangeHooks): void {
  const connection = req.socket!;
  const gone = (): void => {
    hooks.start();
    hooks.done?.();
  };
  if (connection.destroyed) return gone();
  let waiters = waiting.get(connection);
  if (waiters === undefined) {
    const set = (waiters = new Set());
    waiting.set(connection, set);
    connection.once('close', () => {
      waiting.delete(connection);
      for (const left of set) left();
    });
  }
  const set = waiters;
  const onGone = (): void => {
    res.off('socket', onSocket);
    gone();
  };
  const onSocket = (): void => {
    set.delete(onGone);
    go();
  };
  set.add(onGone);
  res.once('socket', onSocket);
}
