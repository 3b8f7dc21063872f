/**
 * Shared vocabulary of the core. Nothing here imports a framework.
 */

/** The statuses this library answers with. */
export type GatewayStatus = 502 | 503 | 504;

/**
 * Statuses that may be branded besides the gateway ones, when listed in `extraStatuses`: a
 * handler's own rate limit (429) and failure (500), which Traefik's errors middleware and nginx's
 * `error_page` also let a site dress in its own page.
 */
export type ExtraStatus = 429 | 500;

/** Every status a branded answer can carry. */
export type BrandedStatus = GatewayStatus | ExtraStatus;

/**
 * RFC 9209 Proxy-Status error types this library can report.
 * @see https://www.rfc-editor.org/rfc/rfc9209#name-proxy-error-types
 */
export type ProxyErrorType =
  | 'dns_timeout'
  | 'dns_error'
  | 'destination_unavailable'
  | 'connection_refused'
  | 'connection_terminated'
  | 'connection_timeout'
  | 'connection_limit_reached'
  | 'http_response_timeout'
  | 'http_protocol_error'
  | 'tls_protocol_error'
  | 'tls_certificate_error';

/**
 * One classified failure: what went wrong between us and the upstream, decided once.
 * `error` and `receivedStatus` are mutually exclusive; a failure with neither is a handler's own
 * 502/503/504 (no upstream involved, so no Proxy-Status).
 */
export interface Failure<S extends BrandedStatus = GatewayStatus> {
  /**
   * 502, 503 or 504. `Failure<BrandedStatus>` also allows a handler's own 429 or 500 (when listed
   * in `extraStatuses`), never an upstream failure: what the Responder takes.
   */
  readonly status: S;
  /** RFC 9209 error type when the failure is ours to name. */
  readonly error?: ProxyErrorType;
  /** The upstream's own 502/503/504 (reported as `received-status`). */
  readonly receivedStatus?: number;
  /** Whether replaying the request could mend this failure. */
  readonly retryable: boolean;
  /** Seconds from the upstream's (or handler's) valid Retry-After, already clamped. */
  readonly retryAfter?: number;
  /** The original error, for hooks and `expose: true`. Never rendered otherwise. */
  readonly cause?: unknown;
  /**
   * No attempt ever reached the upstream (refused, connect timeout, circuit open, limit): the
   * request cannot have had an effect, so even a POST is safe to send again.
   */
  readonly unsent?: boolean;
}

/** Brand settings a page is drawn with. */
export interface Brand {
  /** Company or product name shown on the page. @default 'This site' (localized) */
  name?: string;
  /** Logo: an http(s) URL, a `data:` URL, or an inline `<svg>` string. */
  logo?: string;
  /** Colours: CSS colour values (validated at setup). */
  colors?: {
    accent?: string;
    background?: string;
    text?: string;
    /** Dark-scheme counterparts. */
    darkAccent?: string;
    darkBackground?: string;
    darkText?: string;
  };
  /** Link to a status page. */
  statusPage?: string;
  /** Support contact: a URL or a `mailto:` address. */
  support?: string;
  /** Home link. @default '/' */
  home?: string;
  /** A line of footer text. */
  footer?: string;
}

/** The negotiated body format. */
export type BodyFormat = 'html' | 'json' | 'text';

/**
 * The data every template gets. An allow-list: the raw error never reaches a template.
 */
export interface ErrorView {
  status: BrandedStatus;
  /** Localized short title, e.g. "Bad gateway". */
  title: string;
  /** Localized plain-words explanation for a visitor. */
  detail: string;
  /** Seconds until a retry makes sense, when known. */
  retryAfter?: number;
  /** The request reference shown to the visitor and sent as X-Request-Id. */
  requestId: string;
  /** When the error happened, ISO 8601 (UTC). */
  time: string;
  brand: Brand;
  /** Request method, upper case. */
  method: string;
  /** Whether the request may be safely repeated (idempotent method or Idempotency-Key). */
  idempotent: boolean;
  /** RFC 9209 error type, when an upstream failure was classified. */
  proxyStatus?: ProxyErrorType;
  /** The upstream's own status, when that is what failed. */
  receivedStatus?: number;
  /** BCP 47 language of the page. */
  lang: string;
  /** Upstream details: present only with `expose: true`. */
  upstream?: { code?: string; message?: string };
  /** Present on a planned-maintenance answer (a 503 no upstream was asked for). */
  maintenance?: MaintenanceView;
  /** The owner's view: present only for requests the `diagnose` option allows. */
  diagnosis?: Diagnosis;
}

/** The proxy's part of a Diagnosis: what it recorded of the request. */
export type DiagnosisRecord = Omit<Diagnosis, 'hints' | 'proxyStatus' | 'cause'>;

/** One attempt of a request, as the owner's view shows it. */
export interface AttemptRecord {
  /** From 1. */
  readonly attempt: number;
  /** The target origin it went to. */
  readonly target: string;
  /** `ok`, an RFC 9209 error type, `received_status` (see `status`), `aborted` or `error`. */
  readonly result: string;
  /** The upstream's status, when it answered. */
  readonly status?: number;
  /** ms from its start to its outcome. */
  readonly ms: number;
}

/**
 * The diagnosis of a failed request, for its owner (the `diagnose` option): where it went, what
 * each attempt met, the state of the breaker and the targets, and what to look at first.
 */
export interface Diagnosis {
  /** The upstream (target origin, or the group of `targets`). */
  readonly upstream?: string;
  /** The last attempt's target. */
  readonly target?: string;
  /** Why no further attempt was made. */
  readonly reason?: string;
  readonly attempts?: readonly AttemptRecord[];
  /** ms from the request reaching the proxy to this answer. */
  readonly elapsed?: number;
  readonly circuit?: 'closed' | 'open' | 'half-open';
  readonly targets?: readonly { url: string; healthy: boolean; ejectedUntil?: string; consecutiveFailures: number; check?: string }[];
  /** The Proxy-Status value with its `details` (the error code), whatever `expose` says. */
  readonly proxyStatus?: string;
  /** The original error's code and message. */
  readonly cause?: { code?: string; message?: string };
  /** What to check for this kind of failure, most likely first. */
  readonly hints: readonly string[];
}

/** What a maintenance page shows beyond a 503's fields. */
export interface MaintenanceView {
  /** The announced end, ISO 8601 (UTC). */
  until?: string;
  /** The operator's own words, plain text. */
  message?: string;
}

/** A finished answer, ready for an adapter to write. */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  /** Undefined for HEAD. */
  body: string | undefined;
}
