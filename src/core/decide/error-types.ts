/**
 * The two data tables every failure is decided by: RFC 9209 type -> status and retryability, and
 * error code -> RFC 9209 type. A new code is a new row here, never a new branch in classify.ts.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9209#section-2.3 RFC 9209 §2.3, Proxy Error Types
 */
import type { GatewayStatus, ProxyErrorType } from '../types.js';

/** What one RFC 9209 error type means for the answer. */
export interface ErrorTypeRow {
  /** The status RFC 9209 recommends for the type. */
  readonly status: GatewayStatus;
  /** Whether replaying the request could mend the failure (the retry policy still decides). */
  readonly retryable: boolean;
}

const row = (status: GatewayStatus, retryable: boolean): ErrorTypeRow =>
  Object.freeze({ status, retryable });

/**
 * RFC 9209 type -> status and whether a retry can mend it. A data table; the only place
 * statuses for types are decided.
 *
 * Statuses are RFC 9209's "Recommended HTTP Status Code" for each type. `retryable` is ours:
 * a failure is retryable when the next attempt may well go differently (a restarting
 * upstream, a dropped packet, a slow DNS server), and not when the same request would meet
 * the same wall (a name that does not exist, a bad certificate, an upstream that speaks
 * broken HTTP).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9209#section-2.3
 */
export const ERROR_TYPES: Readonly<Record<ProxyErrorType, ErrorTypeRow>> = Object.freeze({
  // §2.3.1: a resolver timeout is usually transient.
  dns_timeout: row(504, true),
  // §2.3.2: NXDOMAIN and friends; asking again gets the same answer (it is cached, too).
  dns_error: row(502, false),
  // §2.3.4: host or network unreachable; routes and hosts come back.
  destination_unavailable: row(503, true),
  // §2.3.7: nothing listening yet, typically an upstream that is restarting.
  connection_refused: row(502, true),
  // §2.3.8: reset or closed before a complete response head (keep-alive races land here).
  connection_terminated: row(502, true),
  // §2.3.9: TCP connect timed out.
  connection_timeout: row(504, true),
  // §2.3.12: our own local limit. Replaying from inside the same full pool cannot help;
  // the client is better served by a fast 503 with Retry-After.
  connection_limit_reached: row(503, false),
  // §2.3.26: no response head in time; a retry on a fresh connection may be luckier.
  http_response_timeout: row(504, true),
  // §2.3.28: the upstream answered with malformed HTTP; it will do so again.
  http_protocol_error: row(502, false),
  // §2.3.13: handshake failure (version, cipher, alert); a configuration mismatch.
  tls_protocol_error: row(502, false),
  // §2.3.14: expired, self-signed, wrong host name; a retry meets the same certificate.
  tls_certificate_error: row(502, false),
});

/**
 * Error code (Node errno, undici UND_ERR_*, OpenSSL/TLS codes, llhttp HPE_*) -> RFC 9209 type.
 * A data table.
 *
 * Exact codes only; families that OpenSSL and llhttp extend over time (HPE_*, ERR_SSL_*,
 * ERR_TLS_*) are matched by prefix after this table, so an exact row here always wins over a
 * prefix. The object has no prototype, so codes such as 'constructor' or '__proto__' never
 * match an inherited property.
 *
 * @see https://nodejs.org/api/errors.html#common-system-errors
 * @see https://nodejs.org/api/tls.html#x509-certificate-error-codes
 * @see https://nodejs.org/api/dns.html#error-codes
 * @see https://github.com/nodejs/undici/blob/main/docs/docs/api/Errors.md
 */
export const ERROR_CODES: Readonly<Record<string, ProxyErrorType>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, ProxyErrorType>, {
    ECONNREFUSED: 'connection_refused',

    // Reset or closed before a complete answer. Node's client reports 'socket hang up' as
    // ECONNRESET; undici reports a closed socket as UND_ERR_SOCKET ('other side closed').
    ECONNRESET: 'connection_terminated',
    EPIPE: 'connection_terminated',
    ECONNABORTED: 'connection_terminated',
    UND_ERR_SOCKET: 'connection_terminated',
    UND_ERR_CLOSED: 'connection_terminated',
    ERR_STREAM_PREMATURE_CLOSE: 'connection_terminated',

    // getaddrinfo (dns.lookup, what http.request and fetch use) and c-ares (dns.resolve*,
    // used by custom `lookup` functions) spell the same outcomes differently.
    ENOTFOUND: 'dns_error',
    EAI_NONAME: 'dns_error',
    EAI_NODATA: 'dns_error',
    EAI_FAIL: 'dns_error',
    ENODATA: 'dns_error',
    ESERVFAIL: 'dns_error',
    EREFUSED: 'dns_error',
    // EAI_AGAIN is getaddrinfo's "temporary failure in name resolution": in practice the
    // resolver did not answer in time. ETIMEOUT is c-ares' resolver timeout.
    EAI_AGAIN: 'dns_timeout',
    ETIMEOUT: 'dns_timeout',

    EHOSTUNREACH: 'destination_unavailable',
    ENETUNREACH: 'destination_unavailable',
    EHOSTDOWN: 'destination_unavailable',
    ENETDOWN: 'destination_unavailable',

    ETIMEDOUT: 'connection_timeout',
    UND_ERR_CONNECT_TIMEOUT: 'connection_timeout',
    // The TCP connection is not usable until the handshake completes, and a handshake that
    // stalls is a slow peer, not a protocol mismatch: retrying may mend it. Listed here so
    // it wins over the ERR_TLS_ prefix (-> tls_protocol_error, not retryable).
    ERR_TLS_HANDSHAKE_TIMEOUT: 'connection_timeout',

    UND_ERR_HEADERS_TIMEOUT: 'http_response_timeout',
    // A body timeout happens after the head arrived, but when it surfaces as a thrown error
    // (fetch, undici.request) the head was never forwarded, so it is still "the upstream did
    // not answer in time".
    UND_ERR_BODY_TIMEOUT: 'http_response_timeout',
    // The `request` library's read timeout (its connect timeout is ETIMEDOUT): the socket
    // was connected and then went silent.
    ESOCKETTIMEDOUT: 'http_response_timeout',

    UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'http_protocol_error',
    // RFC 9209 has http_response_header_section_size, but this library reports the broader
    // type it knows; both are 502 and not worth retrying.
    UND_ERR_HEADERS_OVERFLOW: 'http_protocol_error',

    // OpenSSL X509 verification results, plus Node's own host name check.
    UNABLE_TO_GET_ISSUER_CERT: 'tls_certificate_error',
    UNABLE_TO_GET_CRL: 'tls_certificate_error',
    UNABLE_TO_DECRYPT_CERT_SIGNATURE: 'tls_certificate_error',
    UNABLE_TO_DECRYPT_CRL_SIGNATURE: 'tls_certificate_error',
    UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: 'tls_certificate_error',
    CERT_SIGNATURE_FAILURE: 'tls_certificate_error',
    CRL_SIGNATURE_FAILURE: 'tls_certificate_error',
    CERT_NOT_YET_VALID: 'tls_certificate_error',
    CERT_HAS_EXPIRED: 'tls_certificate_error',
    CRL_NOT_YET_VALID: 'tls_certificate_error',
    CRL_HAS_EXPIRED: 'tls_certificate_error',
    ERROR_IN_CERT_NOT_BEFORE_FIELD: 'tls_certificate_error',
    ERROR_IN_CERT_NOT_AFTER_FIELD: 'tls_certificate_error',
    ERROR_IN_CRL_LAST_UPDATE_FIELD: 'tls_certificate_error',
    ERROR_IN_CRL_NEXT_UPDATE_FIELD: 'tls_certificate_error',
    DEPTH_ZERO_SELF_SIGNED_CERT: 'tls_certificate_error',
    SELF_SIGNED_CERT_IN_CHAIN: 'tls_certificate_error',
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'tls_certificate_error',
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'tls_certificate_error',
    CERT_CHAIN_TOO_LONG: 'tls_certificate_error',
    CERT_REVOKED: 'tls_certificate_error',
    INVALID_CA: 'tls_certificate_error',
    PATH_LENGTH_EXCEEDED: 'tls_certificate_error',
    INVALID_PURPOSE: 'tls_certificate_error',
    CERT_UNTRUSTED: 'tls_certificate_error',
    CERT_REJECTED: 'tls_certificate_error',
    HOSTNAME_MISMATCH: 'tls_certificate_error',
    ERR_TLS_CERT_ALTNAME_INVALID: 'tls_certificate_error',
    ERR_TLS_CERT_ALTNAME_FORMAT: 'tls_certificate_error',

    // OpenSSL reports many handshake failures as a bare EPROTO.
    EPROTO: 'tls_protocol_error',
  } satisfies Record<string, ProxyErrorType>),
);

/**
 * Code families matched by prefix, consulted only when {@link ERROR_CODES} has no exact row.
 * llhttp names every parse failure HPE_* (Node's http client and undici both surface them);
 * OpenSSL 3 errors reach JavaScript as ERR_SSL_*; Node's own TLS errors are ERR_TLS_*.
 */
const CODE_PREFIXES: readonly (readonly [prefix: string, type: ProxyErrorType])[] = Object.freeze([
  Object.freeze(['HPE_', 'http_protocol_error'] as const),
  Object.freeze(['ERR_SSL_', 'tls_protocol_error'] as const),
  Object.freeze(['ERR_TLS_', 'tls_protocol_error'] as const),
]);

/** The type a code names, if any. */
export function typeOfCode(code: string): ProxyErrorType | undefined {
  const exact = ERROR_CODES[code];
  if (exact !== undefined) return exact;
  for (const [prefix, type] of CODE_PREFIXES) {
    if (code.startsWith(prefix)) return type;
  }
  return undefined;
}
