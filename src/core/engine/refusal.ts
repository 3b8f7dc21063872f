/**
 * Requests answered before any attempt is made: over the concurrency limit, behind an open
 * circuit, or a WebSocket upgrade that cannot be relayed on this path.
 */
import type { IncomingMessage } from 'node:http';
import { failureOf } from '../decide/classify.js';
import type { ProxyErrorType } from '../types.js';
import type { AttemptResult } from './attempt.js';
import type { GaveUp } from './retry-loop.js';
import type { Upstream } from './upstream.js';

/** Retry-After for a request refused by the concurrency limit: capacity frees up in moments. */
const LIMIT_RETRY_AFTER = 1;

export function refused(type: ProxyErrorType, retryAfter: number, reason: string): GaveUp {
  return { kind: 'failed', failure: { ...failureOf(type), retryAfter }, retryable: false, reason };
}

/** Why `req` is answered at once, or undefined when its attempts may go. */
export function refusal(req: IncomingMessage, upstream: Upstream<AttemptResult>, maxConcurrent: number): GaveUp | undefined {
  if (maxConcurrent > 0 && upstream.active >= maxConcurrent) return refused('connection_limit_reached', LIMIT_RETRY_AFTER, 'concurrency_limit');
  const blocked = upstream.circuit?.blockedFor();
  if (blocked !== undefined) return refused('destination_unavailable', blocked, 'circuit_open');
  const { upgrade } = req.headers;
  if (upgrade !== undefined && /^\s*websocket\s*$/i.test(upgrade) && /\bupgrade\b/i.test(req.headers.connection ?? '')) {
    // Node hands an upgrade to the app as a plain request while no 'upgrade' listener is on
    // the server (before `server.on('upgrade', proxy.upgrade)`, or with `ws: true` before the
    // first plain request let http-proxy-middleware add one): its 101 could not be relayed on
    // this path. Answered at once, so the client tries again, rather than waiting for timeouts.
    // Other upgrades (curl's h2c) go on as plain requests: the upstream may ignore the offer.
    return refused('destination_unavailable', 1, 'upgrade_not_attached');
  }
  return undefined;
}
