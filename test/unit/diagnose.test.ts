/**
 * The hints of the owner's view (hintsFor): one row per kind of failure, the upstream's own
 * status, the open breaker, and nothing to say.
 */
import { describe, expect, it } from 'vitest';
import { ERROR_TYPES } from '../../src/core/decide/classify.js';
import { HINTS, hintsFor } from '../../src/core/answer/diagnose.js';
import type { ProxyErrorType } from '../../src/core/types.js';

const DEPLOY = 'A deployment or restart in the last minutes? Compare the time of this error with it.';

describe('HINTS', () => {
  it('has a row for every RFC 9209 error type the classifier knows, and no other', () => {
    expect(Object.keys(HINTS).sort()).toEqual(Object.keys(ERROR_TYPES).sort());
  });

  it.each(Object.entries(HINTS))('%s: at least one hint, each a sentence, none repeated', (_type, hints) => {
    expect(hints.length).toBeGreaterThan(0);
    for (const h of hints) expect(h).toMatch(/^[A-Z`].*[.?!)]$/s);
    expect(new Set(hints).size).toBe(hints.length);
  });
});

describe('hintsFor', () => {
  it.each<[string, ProxyErrorType | undefined, number | undefined, string | undefined, readonly string[]]>([
    ['a refused connection', 'connection_refused', undefined, undefined, HINTS.connection_refused],
    ['a DNS failure', 'dns_error', undefined, undefined, HINTS.dns_error],
    ['a response timeout', 'http_response_timeout', undefined, 'closed', HINTS.http_response_timeout],
    ['an unreachable host, breaker closed', 'destination_unavailable', undefined, 'closed', HINTS.destination_unavailable],
    ['an unreachable host, breaker half-open', 'destination_unavailable', undefined, 'half-open', HINTS.destination_unavailable],
    [
      'an open breaker',
      'destination_unavailable',
      undefined,
      'open',
      [HINTS.destination_unavailable[1]!, 'The failures that opened it are in the logs and metrics of the last seconds (`gateway_errors_attempts_total` by result).'],
    ],
    ['an open breaker with another error: that error\'s hints', 'connection_refused', undefined, 'open', HINTS.connection_refused],
    [
      'the upstream\'s own 503',
      undefined,
      503,
      undefined,
      ['The upstream itself answered 503: look at its own logs. It may be a proxy or load balancer in front of a service that is down, in maintenance, or overloaded.', DEPLOY],
    ],
    [
      'the upstream\'s own 502, breaker open',
      undefined,
      502,
      'open',
      ['The upstream itself answered 502: look at its own logs. It may be a proxy or load balancer in front of a service that is down, in maintenance, or overloaded.', DEPLOY],
    ],
    ['an error type wins over a received status', 'tls_certificate_error', 502, undefined, HINTS.tls_certificate_error],
    ['neither an error nor a status', undefined, undefined, undefined, []],
    ['only a breaker state', undefined, undefined, 'open', []],
  ])('%s', (_name, error, received, circuit, expected) => {
    expect(hintsFor(error, received, circuit)).toEqual(expected);
  });
});
