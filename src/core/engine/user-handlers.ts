/** The user's `on.*` handlers, as http-proxy calls them: from socket and stream events. */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { HandlerError } from './framing.js';

/**
 * What a user's `on.*` handler that throws takes down: its request or connection, never the
 * process. http-proxy calls them from socket and stream events, where nothing would catch a
 * throw. A failed on.proxyRes destroys the response before a byte of it went out (the exchange
 * then hands the error to the app, a 500); on.end comes when the answer is complete, so there is
 * nothing left to fail.
 */
const ON_THROW: Record<string, (err: unknown, args: unknown[]) => void> = {
  proxyReq: (err, [proxyReq]) => (proxyReq as ClientRequest).destroy(new HandlerError('proxyReq', err)),
  proxyReqWs: (err, [proxyReq]) => (proxyReq as ClientRequest).destroy(new HandlerError('proxyReqWs', err)),
  proxyRes: (err, [proxyRes]) => (proxyRes as IncomingMessage).destroy(new HandlerError('proxyRes', err)),
  open: (_err, [proxySocket]) => (proxySocket as Socket).destroy(),
  close: (_err, [, proxySocket]) => (proxySocket as Socket | undefined)?.destroy(),
  end: () => undefined,
};

/** Wrap each handler of `on` in place, so that its throw ends only its own request or connection. */
export function guardHandlers(on: Record<string, unknown>): void {
  for (const [event, onThrow] of Object.entries(ON_THROW)) {
    const handler = on[event];
    if (typeof handler !== 'function') continue;
    on[event] = function guardedHandler(this: unknown, ...args: unknown[]) {
      try {
        return handler.apply(this, args);
      } catch (err) {
        onThrow(err, args);
      }
    };
  }
}
