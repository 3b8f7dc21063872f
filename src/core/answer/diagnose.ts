/**
 * What to check first, per kind of failure: the owner's view of the error page (`diagnose`) shows
 * these next to the facts. Data, not branches: one row per RFC 9209 error type. Written for the
 * person who runs the site, in English (visitors never see them).
 */
import type { ProxyErrorType } from '../types.js';

const DEPLOY = 'A deployment or restart in the last minutes? Compare the time of this error with it.';

export const HINTS: Readonly<Record<ProxyErrorType, readonly string[]>> = Object.freeze({
  dns_error: [
    "DNS: the target's host name does not resolve from the gateway. Check the name in `target`/`targets` for typos.",
    "Check the gateway's resolver (/etc/resolv.conf, the container's or cluster's DNS) and that the record exists.",
  ],
  dns_timeout: ['DNS: the resolver did not answer in time. Check that it is up and reachable from the gateway.'],
  connection_refused: [
    "Nothing listens on the target's port: is the service running, on this port, on an interface the gateway reaches (0.0.0.0, not 127.0.0.1 inside a container)?",
    'A firewall or security group may reject the connection.',
    DEPLOY,
  ],
  connection_terminated: [
    'The upstream closed the connection before a full response head: a crash or restart mid-request, or a proxy in between cutting it.',
    "An upstream keep-alive timeout shorter than the gateway's idle sockets shows up as this on the first request after a pause.",
    DEPLOY,
  ],
  connection_timeout: [
    'No connection within `connectTimeout`: the host is down or unreachable, or a firewall drops packets silently (a reject would be refused).',
    "A full accept queue (the upstream at capacity) looks the same: check its load and connection counts.",
  ],
  http_response_timeout: [
    'Connected, but no response head within `responseTimeout`: the upstream is overloaded or stuck (capacity, slow queries, locks, a full thread pool).',
    'Or this route is slow by design: give it a longer `responseTimeout` of its own.',
  ],
  destination_unavailable: [
    'The host or network is unreachable (routing, a down interface), or the circuit breaker for this upstream is open after a run of failed requests: see the breaker state and the attempts.',
    'An open breaker answers at once until its probe succeeds: fix the upstream, the breaker follows within seconds.',
  ],
  connection_limit_reached: [
    '`maxConcurrent` requests were already in flight to this upstream: it is slow (capacity), or the limit is too low for the traffic.',
  ],
  http_protocol_error: [
    "The upstream's answer was not valid HTTP: a wrong port (TLS or another protocol on it), or a broken server or proxy.",
  ],
  tls_protocol_error: ['The TLS handshake failed: protocol or cipher mismatch, or plain HTTP on a TLS port (http vs https in the target).'],
  tls_certificate_error: [
    "The upstream's certificate was rejected: expired, issued for another host name, or signed by a CA the gateway does not trust (`ca`, `secure`).",
  ],
});

/** Hints for a failure: by its RFC 9209 type, or for an upstream's own 502/503/504. */
export function hintsFor(error: ProxyErrorType | undefined, receivedStatus: number | undefined, circuit?: string): readonly string[] {
  if (circuit === 'open' && error === 'destination_unavailable') return [HINTS.destination_unavailable[1]!, 'The failures that opened it are in the logs and metrics of the last seconds (`gateway_errors_attempts_total` by result).'];
  if (error !== undefined) return HINTS[error];
  if (receivedStatus !== undefined) {
    return [
      `The upstream itself answered ${receivedStatus}: look at its own logs. It may be a proxy or load balancer in front of a service that is down, in maintenance, or overloaded.`,
      DEPLOY,
    ];
  }
  return [];
}
