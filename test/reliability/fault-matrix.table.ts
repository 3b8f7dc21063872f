/**
 * The fault matrix as data: every fault of the fault kit, what each request shape gets back.
 * test/reliability/fault-matrix.test.ts turns each cell into a test against both adapters, and
 * renders docs/fault-matrix.md from this same table (so the document cannot drift from what is
 * tested).
 *
 * The gateway under test runs the default retry policy (2 retries, idempotent methods or
 * Idempotency-Key, statuses 502/503/504, Retry-After waited out up to maxDelay) with the
 * backoff shortened to baseDelay 5 ms / maxDelay 10 ms so the suite stays quick; the
 * decisions do not depend on the delays. Each fault row names its own responseTimeout when it
 * needs one.
 */

/** The request shapes of the matrix. */
export const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'POST+key'] as const;
export type MatrixMethod = (typeof METHODS)[number];

/** Which of them the default policy may replay (idempotent, or carrying Idempotency-Key). */
export const REPLAYABLE: Readonly<Record<MatrixMethod, boolean>> = {
  GET: true,
  HEAD: true,
  PUT: true,
  POST: false,
  'POST+key': true,
};

/** Where the gateway points. */
export type Upstream =
  /** The fault kit over http; `path` picks the fault. */
  | 'kit'
  /** 127.0.0.1 on a port nothing listens on. */
  | 'closed'
  /** A host name that does not resolve (a `.invalid` name, RFC 6761). */
  | 'dns'
  /** The fault kit over https with its self-signed certificate, which the gateway does not trust. */
  | 'tls';

/** What one request gets. */
export interface Outcome {
  status: number;
  /** The RFC 9209 error type, `received-status=NNN`, or null for no Proxy-Status. */
  proxyStatus: string | null;
  /** The Retry-After header value, or null for none. */
  retryAfter: string | null;
  /** Attempts the gateway made (1 + retries). */
  attempts: number;
  /** HTTP requests the upstream received (0 when it never got that far). */
  reached: number;
  /** The client's response ended cleanly (false: the connection was cut mid-body). */
  complete: boolean;
  /** The body, when it is the upstream's own (a 200); error bodies are checked separately. */
  body?: string;
}

export interface FaultRow {
  id: string;
  /** What the upstream does, for the document. */
  fault: string;
  upstream: Upstream;
  /** Path on the fault kit (query included); a per-cell `key` is appended. */
  path: string;
  /** Extra gatewayProxy options for this fault. */
  proxy?: Record<string, unknown>;
  /** The outcome for replayable requests and for a POST without Idempotency-Key... */
  replayable: Outcome;
  once: Outcome;
  /** ...unless a method differs (e.g. HEAD has no body to die in). */
  only?: Partial<Record<MatrixMethod, Outcome>>;
  /** Why the outcome is what it is, for the document. */
  why: string;
}

const err = (status: number, type: string, attempts: number, reached: number, retryAfter: string | null = null): Outcome => ({
  status,
  proxyStatus: `error=${type}`,
  retryAfter,
  attempts,
  reached,
  complete: true,
});
const received = (status: number, attempts: number, retryAfter: string | null): Outcome => ({
  status,
  proxyStatus: `received-status=${status}`,
  retryAfter,
  attempts,
  reached: attempts,
  complete: true,
});
const ok = (attempts: number, body: string, complete = true): Outcome => ({
  status: 200,
  proxyStatus: null,
  retryAfter: null,
  attempts,
  reached: attempts,
  complete,
  body,
});

/**
 * A response timeout short enough for a quick suite, long enough for a loopback answer even when
 * the one event loop that runs client, gateway and upstream lags (100 ms and more on a busy CI
 * machine).
 */
export const SHORT_RESPONSE_TIMEOUT = 300;

export const FAULTS: readonly FaultRow[] = [
  {
    id: 'refused',
    fault: 'connection refused (nothing listening)',
    upstream: 'closed',
    path: '/x',
    replayable: err(502, 'connection_refused', 3, 0),
    once: err(502, 'connection_refused', 3, 0),
    why: 'retryable: a restarting upstream refuses for a moment; a POST is tried again too, since none of it left (nginx does the same)',
  },
  {
    id: 'dns',
    fault: 'DNS name not found (ENOTFOUND)',
    upstream: 'dns',
    path: '/x',
    replayable: err(502, 'dns_error', 1, 0),
    once: err(502, 'dns_error', 1, 0),
    why: 'not retried: asking again gets the same answer',
  },
  {
    id: 'reset',
    fault: 'reset before the response head',
    upstream: 'kit',
    path: '/reset',
    replayable: err(502, 'connection_terminated', 3, 3),
    once: err(502, 'connection_terminated', 1, 1),
    why: 'retryable for requests that may be replayed',
  },
  {
    id: 'reset-recovers',
    fault: 'reset once, then answers',
    upstream: 'kit',
    path: '/flaky/1?mode=reset',
    replayable: ok(2, 'recovered'),
    once: err(502, 'connection_terminated', 1, 1),
    why: 'the retry mends it; a POST without Idempotency-Key is never replayed',
  },
  {
    id: 'hang',
    fault: `hangs (no head within responseTimeout ${SHORT_RESPONSE_TIMEOUT} ms)`,
    upstream: 'kit',
    path: '/hang',
    proxy: { responseTimeout: SHORT_RESPONSE_TIMEOUT },
    replayable: err(504, 'http_response_timeout', 3, 3),
    once: err(504, 'http_response_timeout', 1, 1),
    why: 'told apart from a reset by the gateway\'s own timer',
  },
  {
    id: 'slow-head',
    fault: `slow head: 900 ms, over responseTimeout ${SHORT_RESPONSE_TIMEOUT} ms`,
    upstream: 'kit',
    path: '/slow-head?ms=900',
    proxy: { responseTimeout: SHORT_RESPONSE_TIMEOUT },
    replayable: err(504, 'http_response_timeout', 3, 3),
    once: err(504, 'http_response_timeout', 1, 1),
    why: 'the late answer of each attempt is discarded',
  },
  {
    id: 'slow-head-in-time',
    fault: 'slow head: 50 ms, within responseTimeout 1000 ms',
    upstream: 'kit',
    path: '/slow-head?ms=50',
    proxy: { responseTimeout: 1000 },
    replayable: ok(1, 'ok'),
    once: ok(1, 'ok'),
    why: 'slow is not failed',
  },
  {
    id: 'malformed',
    fault: 'malformed response head',
    upstream: 'kit',
    path: '/malformed',
    replayable: err(502, 'http_protocol_error', 1, 1),
    once: err(502, 'http_protocol_error', 1, 1),
    why: 'not retried: the upstream will answer the same way again',
  },
  {
    id: 'bad-status',
    fault: 'invalid status code (099)',
    upstream: 'kit',
    path: '/bad-status',
    replayable: err(502, 'http_protocol_error', 1, 1),
    once: err(502, 'http_protocol_error', 1, 1),
    why: 'Node parses it, but it cannot be relayed',
  },
  {
    id: 'dup-cl',
    fault: 'two different Content-Length headers',
    upstream: 'kit',
    path: '/dup-cl',
    replayable: err(502, 'http_protocol_error', 1, 1),
    once: err(502, 'http_protocol_error', 1, 1),
    why: 'the request-smuggling shape is refused, never relayed',
  },
  {
    id: 'die-mid-body',
    fault: 'dies mid-body (100 of 1100 bytes sent)',
    upstream: 'kit',
    path: '/die-mid-body?bytes=100',
    replayable: ok(1, 'x'.repeat(100), false),
    once: ok(1, 'x'.repeat(100), false),
    only: { HEAD: err(502, 'connection_terminated', 3, 3) },
    why: 'the head already went to the client: it sees the cut, never a page appended to the body. For HEAD the upstream has no body to write, so its head is never flushed before it closes: a reset before the head, retried',
  },
  {
    id: 'slow-body',
    fault: `slow body: 5 chunks 100 ms apart, responseTimeout ${SHORT_RESPONSE_TIMEOUT} ms`,
    upstream: 'kit',
    path: '/slow-body?ms=100&chunks=5',
    proxy: { responseTimeout: SHORT_RESPONSE_TIMEOUT },
    replayable: ok(1, 'chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n'),
    once: ok(1, 'chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n'),
    why: 'the response timeout covers the head only; a stream that takes longer than it is never cut',
  },
  {
    id: 'status-503',
    fault: 'answers 503 without Retry-After',
    upstream: 'kit',
    path: '/status/503',
    replayable: received(503, 3, '30'),
    once: received(503, 1, '30'),
    why: 'retried like any gateway status; the client gets the default Retry-After',
  },
  {
    id: 'status-503-long',
    fault: 'answers 503 with Retry-After: 120',
    upstream: 'kit',
    path: '/status/503?retry-after=120',
    replayable: received(503, 1, '120'),
    once: received(503, 1, '120'),
    why: 'a wait beyond maxRetryAfter is the client\'s to make: answered at once, value kept',
  },
  {
    id: 'status-503-recovers',
    fault: 'answers 503 once, then 200',
    upstream: 'kit',
    path: '/flaky/1',
    replayable: ok(2, 'recovered'),
    once: received(503, 1, '30'),
    why: 'the retry mends it',
  },
  {
    id: 'tls',
    fault: 'TLS: self-signed certificate the gateway does not trust',
    upstream: 'tls',
    path: '/ok',
    replayable: err(502, 'tls_certificate_error', 1, 0),
    once: err(502, 'tls_certificate_error', 1, 0),
    why: 'not retried: the same certificate comes back',
  },
];

/** The outcome of one cell. */
export function outcomeOf(row: FaultRow, method: MatrixMethod): Outcome {
  const special = row.only?.[method];
  if (special) return special;
  const base = REPLAYABLE[method] ? row.replayable : row.once;
  // HEAD never gets a body, the upstream's or ours.
  return method === 'HEAD' && base.body !== undefined ? { ...base, body: '' } : base;
}

function cell(o: Outcome): string {
  const parts = [`**${o.status}**`];
  if (o.proxyStatus !== null) parts.push(`\`${o.proxyStatus}\``);
  if (o.retryAfter !== null) parts.push(`Retry-After ${o.retryAfter}`);
  if (!o.complete) parts.push('body cut');
  parts.push(`${o.attempts} ${o.attempts === 1 ? 'attempt' : 'attempts'}${o.reached === o.attempts ? '' : ` (${o.reached} reached)`}`);
  return parts.join(' · ');
}

const HEADER_LABELS: Readonly<Record<MatrixMethod, string>> = {
  GET: 'GET',
  HEAD: 'HEAD',
  PUT: 'PUT + body',
  POST: 'POST',
  'POST+key': 'POST + Idempotency-Key',
};

/** docs/fault-matrix.md, rendered from {@link FAULTS}. */
export function renderFaultMatrix(): string {
  const lines = [
    '# Fault matrix',
    '',
    '<!-- Generated from test/reliability/fault-matrix.table.ts; do not edit by hand.',
    '     Regenerate: UPDATE_FAULT_MATRIX=1 npx vitest run test/reliability/fault-matrix.test.ts -->',
    '',
    'What a client gets when the upstream fails, for every fault of the test fault kit and every',
    'request shape. Each cell is a test (`test/reliability/fault-matrix.test.ts`), run against',
    'Express 5 and Koa 3 alike; the answers are the same on both.',
    '',
    'Reading a cell: **status** · `Proxy-Status` (after `gateway-errors; `) · `Retry-After` when',
    'sent · attempts the gateway made, and how many of them reached the upstream when fewer did.',
    'No `Retry-After` means none was sent. Gateway policy: the default retry policy (2 retries;',
    'idempotent methods, or any method with `Idempotency-Key`), with the backoff shortened to',
    'baseDelay 5 ms / maxDelay 10 ms for the test.',
    '',
    `| fault | ${METHODS.map((m) => HEADER_LABELS[m]).join(' | ')} |`,
    `|---|${METHODS.map(() => '---').join('|')}|`,
  ];
  for (const row of FAULTS) lines.push(`| ${row.fault} | ${METHODS.map((m) => cell(outcomeOf(row, m))).join(' | ')} |`);
  lines.push('', 'Why:', '');
  for (const row of FAULTS) lines.push(`- **${row.fault}**: ${row.why}.`);
  lines.push(
    '',
    'Every error answer in the matrix is also checked for: `application/problem+json` when asked',
    'for JSON (no body for HEAD), `mayHaveGoneThrough: true` exactly for the POST without',
    'Idempotency-Key when some attempt got a connection (a refused or unresolved request cannot',
    'have had an effect), and no upstream internals (address, port, host name, error code) in any',
    'header or body. Every request the upstream received carried the body the client sent, byte for',
    'byte, on every attempt.',
    '',
  );
  return lines.join('\n');
}
