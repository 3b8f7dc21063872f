/**
 * Pipelined requests: HTTP/1.1 clients may send several requests on a connection without waiting
 * for the answers, which must come back in order.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExchangeHooks } from './context.js';

/**
 * A request pipelined behind others on its connection is sent once their answers are complete, as
 * nginx reads the next request only when the current one is answered. Node hands pipelined
 * requests over at once (queuing their answers, with no socket until then): sent at once, a GET
 * pipelined after a PUT could reach the upstream before it, and only safe requests may be
 * processed in parallel (RFC 9112, section 9.3.2). A connection that closes meanwhile ends the
 * wait: nothing is sent, and the framework is told the request is over. The request's own 'close'
 * says so (Node destroys every request still waiting when its connection closes, and a waiting
 * one closes no earlier): one listener per request, where one on the shared socket per waiting
 * request would warn of a leak past ten.
 */
export function afterEarlierAnswers(req: IncomingMessage, res: ServerResponse, go: () => void, hooks: ExchangeHooks): void {
  if (req.destroyed || req.socket?.destroyed !== false) return hooks.done?.();
  const onSocket = (): void => {
    req.off('close', onClose);
    go();
  };
  const onClose = (): void => {
    res.off('socket', onSocket);
    hooks.done?.();
  };
  res.once('socket', onSocket);
  req.once('close', onClose);
}
