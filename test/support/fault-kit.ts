/**
 * The fault kit: a real upstream HTTP(S) server on 127.0.0.1 with injectable faults, in the
 * spirit of fastify-reply-from's `createTargetServer` and undici's per-attempt counters.
 *
 * The path picks the behaviour, query parameters tune it. Every request is counted under its
 * pathname plus the `key` query parameter, so parallel tests that pass different keys
 * (`/flaky/2?key=a`, `/flaky/2?key=b`) get independent counters on one shared kit.
 *
 *   /ok                      200 text/plain 'ok'           ?size=N (N bytes of 'x')  ?type=
 *   /status/:code            that status                   ?retry-after= (sent verbatim) ?body= ?ctype=
 *   /flaky/:n                first n attempts fail, then 200 'recovered'
 *                              ?mode=status (default; ?code=503, ?retry-after=) | reset | hang
 *                              (any other fault route name works too: malformed, dup-cl, ...)
 *   /reset                   socket destroyed before any byte (?rst=1: send a TCP RST instead of FIN)
 *   /hang                    never answers (until close())
 *   /slow-head?ms=N          waits N ms, then 200 'ok'
 *   /slow-body?ms=N&chunks=K head at once, then K chunks N ms apart
 *   /die-mid-body?bytes=N    Content-Length larger than what is sent; N bytes, then destroy
 *                              ?length= (declared, default N+1000) ?chunked=1 ?ms= (wait before destroy)
 *   /malformed               raw 'HTTP/1.1 abc nonsense' head: the client's parser fails
 *   /bad-status              raw 'HTTP/1.1 099 Weird' (Node's client parses status 99)
 *   /dup-cl                  raw response with two different Content-Length headers
 *   /echo                    200 JSON { method, url, headers, bodyLength, bodySha256, body? }
 *   /sse?events=N&ms=M       text/event-stream, N events M ms apart, then end
 *   /big?mib=N               N MiB, chunked, 64 KiB chunks, honouring backpressure
 *   /redirect                302 to <kit url>/ok
 *   /set-cookie              200 with Set-Cookie: a=1; Domain=upstream.local; Path=/
 *   /retry-after-date?s=N    503 with Retry-After as an IMF-fixdate N seconds ahead
 *   anything else            404
 *
 * Faults that destroy the socket act as soon as the request head arrives; every other route
 * reads the whole request body first (a server that answers before reading the body makes
 * clients see EPIPE/ECONNRESET, which would blur what a test means to inject).
 *
 * Plain `node:http`/`node:https`/`node:net` only, and no TypeScript-only runtime syntax, so
 * the benchmark can run this file under a type-stripping loader too.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The request body as received; only the first {@link MAX_RECORDED_BODY} bytes are kept. */
  body: Buffer;
  /** 1-based: which request this was for its pathname + `key`. */
  attempt: number;
}

export interface FaultKit {
  readonly url: string; // 'http://127.0.0.1:<port>' (or https:// with { tls: true })
  readonly port: number;
  /** How many requests reached a path (pathname + optional `key` query param), e.g. attempts('/flaky/2') or attempts('/flaky/2?key=a'). */
  attempts(path: string): number;
  /** Total requests received. */
  readonly total: number;
  /** The last {@link MAX_RECORDS} requests, oldest first. `body` fills in once the request has ended. */
  readonly requests: readonly RecordedRequest[];
  /** Clears counters and records. */
  reset(): void;
  /**
   * Open upstream sockets right now (for leak checks). A socket leaves the count on its
   * 'close' event, which lands a tick or so after the peer closes: poll, do not read once.
   */
  openSockets(): number;
  /** Closes the server and destroys all sockets; resolves when closed. Safe to call twice. */
  close(): Promise<void>;
}

export interface FaultKitOptions {
  /** Serve over https with the committed self-signed certificate in ./tls. @default false */
  tls?: boolean;
  /** `server.keepAliveTimeout` in ms. @default 5000 */
  keepAliveTimeout?: number;
}

/** How many requests `requests` keeps. */
export const MAX_RECORDS = 1000;
/** How many body bytes one record keeps (the /echo route hashes the whole body regardless). */
export const MAX_RECORDED_BODY = 4 * 1024 * 1024;
/** /echo includes the body text only up to this size. */
const ECHO_BODY_LIMIT = 64 * 1024;
const BIG_CHUNK = Buffer.alloc(64 * 1024, 'x');
const MiB = 1024 * 1024;

/**
 * The committed self-signed certificate (RSA 2048, CN=localhost, SAN DNS:localhost and
 * IP:127.0.0.1, valid until 2126), made once with
 *   openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 36500 -keyout key.pem -out cert.pem \
 *     -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"
 * (see tls/README.md). A client without `ca: cert` fails with DEPTH_ZERO_SELF_SIGNED_CERT.
 */
export const TLS_CERT_PATH = new URL('./tls/cert.pem', import.meta.url);
export const TLS_KEY_PATH = new URL('./tls/key.pem', import.meta.url);
let tlsFixture: { cert: Buffer; key: Buffer } | undefined;
/** The fixture's cert and key; pass `ca: cert` to a client that should trust the kit. */
export function readTlsFixture(): { cert: Buffer; key: Buffer } {
  tlsFixture ??= { cert: readFileSync(TLS_CERT_PATH), key: readFileSync(TLS_KEY_PATH) };
  return tlsFixture;
}

/** Raw responses that no `ServerResponse` would produce; written straight to the socket. */
export const RAW = {
  /** llhttp rejects the non-numeric status: HPE_INVALID_STATUS on the client. */
  malformed: 'HTTP/1.1 abc nonsense\r\n\r\n',
  /** Three digits, so llhttp accepts it; the client sees statusCode 99. */
  badStatus: 'HTTP/1.1 099 Weird\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
  /** Conflicting lengths, the request-smuggling shape: HPE_UNEXPECTED_CONTENT_LENGTH. */
  dupContentLength:
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nContent-Length: 5\r\nConnection: close\r\n\r\nok',
} as const;

/** The counter key for a request target or for an `attempts()` argument. */
function counterKey(target: string): string {
  const url = parseTarget(target);
  if (!url) return target;
  const key = url.searchParams.get('key');
  return key === null ? url.pathname : `${url.pathname}?key=${key}`;
}

function parseTarget(target: string): URL | undefined {
  try {
    // Origin-form ('/a//b') must not be read as a protocol-relative URL, so prefix it.
    return target.startsWith('/') ? new URL(`http://127.0.0.1${target}`) : new URL(target);
  } catch {
    return undefined;
  }
}

class BadParam extends Error {}

/** What a route gets; the body fields are filled once the request body has ended. */
interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  q: URLSearchParams;
  body: Buffer;
  bodyLength: number;
  bodySha256: string;
}
type Handler = (exchange: Exchange) => void;

/** A numeric query parameter: missing gives the default, anything malformed answers 400. */
function num(q: URLSearchParams, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER, fractional = false): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!(fractional ? Number.isFinite(value) : Number.isInteger(value)) || value < 0 || value > max) throw new BadParam(`fault-kit: bad ?${name}=${raw}`);
  return value;
}

function send(res: http.ServerResponse, status: number, body: string | Buffer, type = 'text/plain; charset=utf-8'): void {
  if (status === 204 || status === 304) {
    res.writeHead(status); // no body, no Content-Length (RFC 9110 §8.6)
    return void res.end();
  }
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'content-type': type, 'content-length': buf.length });
  res.end(buf);
}

/** Writes bytes no ServerResponse would, then half-closes. `res` is never ended, so Node's
 *  server appends nothing of its own. */
function writeRaw(req: http.IncomingMessage, bytes: string): void {
  req.socket.end(bytes);
}

export async function startFaultKit(options: FaultKitOptions = {}): Promise<FaultKit> {
  const tls = options.tls === true;
  const sockets = new Set<net.Socket>();
  const counters = new Map<string, number>();
  const records: RecordedRequest[] = [];
  let total = 0;
  let url = '';

  /** Timers per response, cleared when it closes (client gone, kit closed): one 'close'
   *  listener per response, however many ticks an /sse stream takes. */
  const timers = new WeakMap<http.ServerResponse, Set<NodeJS.Timeout>>();
  function later(res: http.ServerResponse, ms: number, fn: () => void): void {
    let pending = timers.get(res);
    if (!pending) {
      const created = new Set<NodeJS.Timeout>();
      timers.set(res, created);
      res.once('close', () => created.forEach(clearTimeout));
      pending = created;
    }
    const timer = setTimeout(() => {
      pending.delete(timer);
      fn();
    }, ms);
    pending.add(timer);
  }

  /** Every fault by name, so /flaky/:n?mode=<name> can borrow any of them. */
  const faults: Record<string, Handler> = {
    reset({ req, q }) {
      if (q.get('rst') === '1') req.socket.resetAndDestroy();
      else req.socket.destroy();
    },
    hang() {
      // Never answer; the body keeps draining (see handle) so the client is not blocked on it.
    },
    status({ res, q }) {
      const code = num(q, 'code', 503, 999);
      // 1xx are interim answers, not a final status a test can wait for.
      if (code < 200) throw new BadParam(`fault-kit: bad ?code=${code}`);
      const retryAfter = q.get('retry-after');
      if (retryAfter !== null) res.setHeader('retry-after', retryAfter); // verbatim, even 'garbage'
      send(res, code, q.get('body') ?? `${code} ${http.STATUS_CODES[code] ?? 'Status'}`, q.get('ctype') ?? undefined);
    },
    malformed({ req }) {
      writeRaw(req, RAW.malformed);
    },
    'bad-status'({ req }) {
      writeRaw(req, RAW.badStatus);
    },
    'dup-cl'({ req }) {
      writeRaw(req, RAW.dupContentLength);
    },
    'die-mid-body'({ req, res, q }) {
      const bytes = num(q, 'bytes', 100);
      const declared = num(q, 'length', bytes + 1000);
      if (declared <= bytes) throw new BadParam('fault-kit: ?length= must exceed ?bytes=');
      const head: http.OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8' };
      // Chunked: a stream that stops before its terminating 0-chunk.
      if (q.get('chunked') !== '1') head['content-length'] = declared;
      res.writeHead(200, head);
      const die = (): void => void req.socket.destroy();
      const wait = num(q, 'ms', 0);
      // The write callback runs once the bytes reached the kernel, so the client gets them
      // before the FIN.
      res.write(Buffer.alloc(bytes, 'x'), () => (wait > 0 ? later(res, wait, die) : die()));
    },
  };

  /** Routes by exact pathname; /status/:code and /flaky/:n are resolved in `route`. */
  const routes: Record<string, Handler> = {
    '/ok'({ res, q }) {
      send(res, 200, q.has('size') ? Buffer.alloc(num(q, 'size', 2), 'x') : 'ok', q.get('type') ?? undefined);
    },
    '/reset': faults.reset!,
    '/hang': faults.hang!,
    '/malformed': faults.malformed!,
    '/bad-status': faults['bad-status']!,
    '/dup-cl': faults['dup-cl']!,
    '/die-mid-body': faults['die-mid-body']!,
    '/slow-head'({ res, q }) {
      later(res, num(q, 'ms', 1000), () => send(res, 200, 'ok'));
    },
    '/slow-body'({ res, q }) {
      const ms = num(q, 'ms', 100);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.flushHeaders();
      every(res, ms, num(q, 'chunks', 3), (i) => `chunk ${i}\n`);
    },
    '/echo'({ req, res, body, bodyLength, bodySha256 }) {
      const payload = {
        method: req.method,
        url: req.url,
        headers: req.headers,
        bodyLength,
        bodySha256,
        ...(bodyLength <= ECHO_BODY_LIMIT ? { body: body.toString('utf8') } : {}),
      };
      send(res, 200, JSON.stringify(payload), 'application/json; charset=utf-8');
    },
    '/sse'({ res, q }) {
      const ms = num(q, 'ms', 10);
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      res.flushHeaders();
      every(res, ms, num(q, 'events', 3), (i) => `id: ${i}\ndata: event ${i}\n\n`);
    },
    '/big'({ res, q }) {
      let left = Math.round(num(q, 'mib', 1, 4096, true) * MiB);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = (): void => {
        while (left > 0 && !res.destroyed) {
          const chunk = left >= BIG_CHUNK.length ? BIG_CHUNK : BIG_CHUNK.subarray(0, left);
          left -= chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (!res.destroyed) res.end();
      };
      pump();
    },
    '/redirect'({ res }) {
      res.writeHead(302, { location: `${url}/ok`, 'content-length': 0 });
      res.end();
    },
    '/set-cookie'({ res }) {
      res.setHeader('set-cookie', 'a=1; Domain=upstream.local; Path=/');
      send(res, 200, 'ok');
    },
    '/retry-after-date'({ res, q }) {
      // toUTCString() is the IMF-fixdate form (RFC 9110 §5.6.7).
      res.setHeader('retry-after', new Date(Date.now() + num(q, 's', 120) * 1000).toUTCString());
      send(res, 503, '503 Service Unavailable');
    },
  };

  /** `count` writes of `text(i)`, `ms` apart, the first `ms` after the head; the last one ends. */
  function every(res: http.ServerResponse, ms: number, count: number, text: (i: number) => string): void {
    let i = 0;
    const tick = (): void => {
      res.write(text(i));
      i += 1;
      if (i < count) later(res, ms, tick);
      else res.end();
    };
    if (count === 0) res.end();
    else later(res, ms, tick);
  }

  /** Picks the handler when the request head arrives, so a flaky attempt's fate is fixed by
   *  its arrival order and a reset can happen before any body is read. */
  function route(path: string, q: URLSearchParams, attempt: number): Handler {
    const exact = routes[path];
    if (exact) return exact;
    const status = /^\/status\/(\d{3})$/.exec(path);
    if (status) {
      const forward = new URLSearchParams(q);
      forward.set('code', status[1]!);
      return (ctx) => faults.status!({ ...ctx, q: forward });
    }
    const flaky = /^\/flaky\/(\d+)$/.exec(path);
    if (flaky) {
      if (attempt > Number(flaky[1])) return ({ res }) => send(res, 200, 'recovered');
      const mode = q.get('mode') ?? 'status';
      return (
        faults[mode] ??
        (() => {
          throw new BadParam(`fault-kit: unknown ?mode=${mode}`);
        })
      );
    }
    return ({ res }) => send(res, 404, `fault-kit: no route ${path}`);
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const target = parseTarget(req.url ?? '/') ?? new URL('http://127.0.0.1/');
    const attempt = count(req.url ?? '/');
    const record: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0), attempt };
    records.push(record);
    if (records.length > MAX_RECORDS) records.shift();

    const q = target.searchParams;
    const handler = route(target.pathname, q, attempt);
    const empty = Buffer.alloc(0);
    if (handler === faults.reset) return handler({ req, res, q, body: empty, bodyLength: 0, bodySha256: '' });

    const kept: Buffer[] = [];
    let keptBytes = 0;
    let bodyLength = 0;
    const hash = createHash('sha256');
    req.on('data', (chunk: Buffer) => {
      bodyLength += chunk.length;
      hash.update(chunk);
      if (keptBytes < MAX_RECORDED_BODY) {
        const part = chunk.subarray(0, MAX_RECORDED_BODY - keptBytes);
        kept.push(part);
        keptBytes += part.length;
      }
    });
    req.on('error', () => {}); // client went away mid-body: nothing to answer
    req.on('end', () => {
      record.body = Buffer.concat(kept);
      try {
        handler({ req, res, q, body: record.body, bodyLength, bodySha256: hash.digest('hex') });
      } catch (err) {
        // BadParam: a typo in a test's query. TypeError: setHeader refused a value.
        const status = err instanceof BadParam || err instanceof TypeError ? 400 : 500;
        if (!res.headersSent) send(res, status, err instanceof Error ? err.message : String(err));
        else res.destroy();
      }
    });
  }

  /** Counts a request under its pathname + `key`; returns its 1-based attempt number. */
  function count(target: string): number {
    const key = counterKey(target);
    const attempt = (counters.get(key) ?? 0) + 1;
    counters.set(key, attempt);
    total += 1;
    return attempt;
  }

  const server = tls ? https.createServer(readTlsFixture(), handle) : http.createServer(handle);
  server.keepAliveTimeout = options.keepAliveTimeout ?? 5000;
  // For https this is the raw TCP socket, so the count covers handshakes in progress too.
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    attempts: (path) => counters.get(counterKey(path)) ?? 0,
    get total() {
      return total;
    },
    get requests() {
      return records;
    },
    reset() {
      counters.clear();
      records.length = 0;
      total = 0;
    },
    openSockets: () => sockets.size,
    close() {
      closing ??= closeServer(server, sockets);
      return closing;
    },
  };
}

/** Stops accepting, destroys every tracked socket, and resolves once the server and each of
 *  those sockets has emitted 'close' (the server's own event can come first), so that
 *  `openSockets()` reads 0 the moment `close()` resolves. */
async function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
  const socketsClosed = [...sockets].map((socket) => new Promise((resolve) => socket.once('close', resolve)));
  for (const socket of sockets) socket.destroy();
  await Promise.all([serverClosed, ...socketsClosed]);
}

/**
 * Ports the kernel hands out for `listen(0)` and for outgoing connections (Linux's
 * ip_local_port_range). A port found free inside that range can be taken by another test's server
 * (tests run in parallel) or even by a connection to it from itself (a TCP self-connect) between
 * the moment it is found and the moment the test connects: the "closed" port then answers.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (low > 0) return low;
  } catch {
    // not Linux: fall back to the IANA dynamic range
  }
  return 49152;
}

const EPHEMERAL_LOW = ephemeralLow();
/**
 * Below the ephemeral range, in a block of its own per vitest worker (tests in other workers may
 * be handed the same port to listen on: the nginx examples do), from a random start in it.
 */
const FIXED_LOW = 10_000;
const BLOCK = 500;
const blocks = Math.floor((EPHEMERAL_LOW - FIXED_LOW) / BLOCK);
const blockLow = FIXED_LOW + (Number(process.env.VITEST_POOL_ID ?? process.pid) % Math.max(1, blocks)) * BLOCK;
let nextFixed = blockLow + Math.floor(Math.random() * BLOCK);

function listenOnce(port: number): Promise<number | undefined> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}

/** A connection to the port is refused (where binding 127.0.0.1 can succeed beside a wildcard listener, as on macOS). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/**
 * A port on 127.0.0.1 with nothing listening: a connection to it is refused, and it is free to
 * listen on. Taken below the ephemeral range when there is room (the tests' own servers listen on
 * port 0, which never hands these out), else the old way: listen on 0, read the port, close.
 */
export async function closedPort(): Promise<number> {
  if (blocks >= 1) {
    for (let i = 0; i < 100; i++) {
      const port = nextFixed;
      nextFixed = nextFixed + 1 >= blockLow + BLOCK ? blockLow : nextFixed + 1;
      if ((await listenOnce(port)) === port && (await refused(port))) return port;
    }
  }
  const port = await listenOnce(0);
  if (port === undefined) throw new Error('closedPort: could not listen on 127.0.0.1');
  return port;
}

/**
 * Run a minimal raw TCP server that answers every connection with `raw` bytes (e.g. malformed
 * status lines) then closes; returns url + close. The bytes go out once the client has sent
 * something (its request head), so an HTTP client is never still writing into a closed socket.
 * A function gets the socket instead and does as it likes.
 */
export async function startRawServer(
  raw: string | Buffer | ((socket: net.Socket) => void),
): Promise<{ url: string; port: number; connections(): number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (typeof raw === 'function') return raw(socket);
    socket.once('data', () => socket.end(raw));
    socket.resume(); // keep draining so late request bytes never provoke an RST
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections: () => connections,
    close() {
      closing ??= closeServer(server, sockets);
      return closing;
    },
  };
}
