/**
 * Stale-if-error: the last good copy of a page instead of the error answer, as nginx's
 * `proxy_cache_use_stale error timeout http_502 http_503 http_504`, Varnish's grace and
 * Cloudflare's Always Online do. Not a cache: every request still goes to the upstream, and a
 * copy is only ever sent when the attempt loop has given up.
 *
 * What may be stored and reused is decided by http-cache-semantics (RFC 9111, as a shared cache),
 * never by hand here; this file adds the few refusals a shared copy needs on top of it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5861#section-4 stale-if-error
 * @see https://www.rfc-editor.org/rfc/rfc9111#section-4.2.4 serving stale responses
 * @see https://www.rfc-editor.org/rfc/rfc9211 Cache-Status
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import CachePolicy from 'http-cache-semantics';
import { LRUCache } from 'lru-cache';
import type { Emitter } from '../observe/events.js';
import type { RequestFacts, Responder } from '../answer/respond.js';
import type { Failure } from '../types.js';
import type { NormalizedStale, StaleEntry, StaleStore } from '../proxy-options.js';

/** Heads and bookkeeping of an entry, on top of its body, for the byte limit. */
const ENTRY_OVERHEAD = 512;

type Req = IncomingMessage & { originalUrl?: string };

/** What `answer()` needs from the exchange that failed. */
export interface StaleRequest {
  readonly req: Req;
  readonly res: ServerResponse;
  readonly failure: Failure;
  /** Why no further attempt was made (the give-up reason). */
  readonly reason: string;
  /** Attempts made; 0 when the circuit or the concurrency limit refused the request. */
  readonly attempts: number;
  readonly upstream: string;
  readonly path: string;
  readonly responder: Responder;
  readonly facts: RequestFacts;
  readonly emit: Emitter;
  /** The client is gone: nothing to send. */
  gone(): boolean;
  /** Right before the copy is written (Koa: `ctx.respond = false`). */
  start(): void;
}

/** The narrow face the exchange sees. */
export interface StaleCache {
  /**
   * Keep a copy of an answer on its way to the client. With `body` the answer is whole (it went
   * out in one write); without it the chunks are copied as they pass, never held back.
   */
  keep(req: Req, proxyRes: IncomingMessage, body?: Buffer | null): void;
  /** Send the stored copy instead of the error answer; false when none may be sent. */
  answer(r: StaleRequest): boolean | Promise<boolean>;
}

/** The built-in store: an LRU bounded by the bytes of its entries. */
export function memoryStore(maxBytes: number): StaleStore {
  const lru = new LRUCache<string, StaleEntry>({ maxSize: maxBytes, sizeCalculation: (e) => e.size });
  return {
    get: (key) => lru.get(key),
    set: (key, entry, ttl) => void lru.set(key, entry, { ttl }),
    delete: (key) => void lru.delete(key),
  };
}

/** The key of a resource: one copy per URL (the last one stored), whatever variant it is. */
function keyOf(req: Req): string {
  return `${req.headers.host ?? ''} ${req.originalUrl ?? req.url ?? '/'}`;
}

function policyRequest(req: Req, method: string, headers: IncomingMessage['headers']): CachePolicy.Request {
  return { url: req.originalUrl ?? req.url ?? '/', method, headers: headers as CachePolicy.Headers };
}

/**
 * The request as the policy should judge it when the upstream failed: a GET (a HEAD is answered
 * from the stored GET, RFC 9110 section 9.3.2), willing to take a stale answer. The client's own
 * freshness wishes (a reload's `max-age=0`) are about fresh answers, which the upstream could not
 * give: RFC 5861 lets stale-if-error apply "regardless of other freshness information".
 */
function failedRequest(req: Req): CachePolicy.Request {
  const headers = { ...req.headers, 'cache-control': 'max-stale' };
  delete headers.pragma;
  return policyRequest(req, 'GET', headers);
}

/** RFC 9111 section 4.4: an unsafe method's success invalidates what is stored for its URL. */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

type PolicyObject = CachePolicy.CachePolicyObject & { rescc?: Record<string, string | boolean> };

/** Response directives, as http-cache-semantics parsed them, from its plain-object form. */
function directivesOf(o: PolicyObject): Record<string, string | boolean> {
  return o.rescc ?? {};
}

/**
 * RFC 9111 section 4.2.4: a cache must not send a stale answer that no-cache, must-revalidate,
 * proxy-revalidate or s-maxage (for a shared cache) rule out — unless the origin allowed it with
 * stale-if-error (RFC 5861), which is judged separately.
 */
function forbidsStale(cc: Record<string, string | boolean>): boolean {
  return cc['no-cache'] !== undefined || cc['must-revalidate'] !== undefined || cc['proxy-revalidate'] !== undefined || cc['s-maxage'] !== undefined;
}

/** An RFC 8941 integer for Cache-Status `ttl`. */
const int = (n: number): number => (n < 0 ? Math.ceil(n) : Math.floor(n));

export function createStaleCache(options: NormalizedStale): StaleCache {
  const { maxEntryBytes, maxStale } = options;
  const store = options.store ?? memoryStore(options.maxBytes);

  const drop = (key: string): void => {
    try {
      void Promise.resolve(store.delete(key)).catch(() => undefined);
    } catch {
      // A failing store loses a copy, never a request.
    }
  };

  const put = (key: string, policy: PolicyObject, status: number, body: Buffer, heads: number, ttl: number): void => {
    const entry: StaleEntry = { policy: policy as unknown as Record<string, unknown>, status, body, size: body.length + heads + ENTRY_OVERHEAD };
    try {
      void Promise.resolve(store.set(key, entry, ttl)).catch(() => undefined);
    } catch {
      // As in drop().
    }
  };

  /** ms a stored answer may be of use: its freshness plus the stale window. */
  const ttlOf = (policy: CachePolicy, cc: Record<string, string | boolean>): number => {
    if (cc['stale-if-error'] !== undefined) return policy.timeToLive();
    const window = forbidsStale(cc) ? 0 : maxStale;
    return Math.floor((policy.maxAge() + window - policy.age()) * 1000);
  };

  return {
    keep(req, proxyRes, body) {
      const method = req.method ?? 'GET';
      const status = proxyRes.statusCode ?? 0;
      if (method !== 'GET') {
        if (!SAFE.has(method) && status >= 200 && status < 400) drop(keyOf(req));
        return;
      }
      const key = keyOf(req);
      const headers = proxyRes.headers;
      const credentials = req.headers.authorization !== undefined || req.headers.cookie !== undefined;
      // Someone's Set-Cookie sent to someone else would hand over their session: never kept,
      // whatever Cache-Control says (nginx does not cache these either, by default).
      if (headers['set-cookie'] !== undefined) {
        if (!credentials && status < 400) drop(key);
        return;
      }
      const policy = new CachePolicy(policyRequest(req, method, req.headers), { status, headers: headers as CachePolicy.Headers }, { shared: true });
      const stored = policy.toObject() as PolicyObject;
      const cc = directivesOf(stored);
      // The policy refuses `private`, `no-store`, and answers to Authorization unless the origin
      // marked them shareable (RFC 9111 section 3.5). A Cookie is a credential too: its answer is
      // kept only when marked shareable the same way. The copy must be able to answer its own
      // request at all (not so with `Vary: *` or `must-revalidate`).
      // Only what the origin said may be kept for a while (max-age, s-maxage, public, Expires,
      // stale-if-error), as nginx's proxy_cache keeps nothing without them: an answer with no
      // caching headers may be personal in ways no header says (an API key, a session in the
      // path), and must not reach another client.
      const usable =
        explicitlyCacheable(cc, headers) &&
        policy.storable() &&
        (req.headers.cookie === undefined || cc.public !== undefined || cc['s-maxage'] !== undefined) &&
        policy.evaluateRequest(failedRequest(req)).response !== undefined;
      const ttl = usable ? ttlOf(policy, cc) : 0;
      if (ttl <= 0) {
        // The origin no longer lets this be sent stale: an older copy must not be sent either. A
        // personal answer says nothing about the shared copy, nor does an error (a 500, a 429).
        if (!credentials && status < 400) drop(key);
        return;
      }
      let heads = 0;
      for (const h of proxyRes.rawHeaders) heads += h.length;
      if (body !== undefined) {
        const whole = body ?? Buffer.alloc(0);
        if (whole.length <= maxEntryBytes) put(key, stored, status, whole, heads, ttl);
        return;
      }
      const declared = Number(headers['content-length']);
      if (declared > maxEntryBytes) return;
      // A tee: the chunks are referenced as they pass to the client, never held back; past the
      // limit the copy is let go and the listeners leave.
      let chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (size <= maxEntryBytes) return void chunks.push(chunk);
        chunks = [];
        proxyRes.off('data', onData);
        proxyRes.off('end', onEnd);
      };
      const onEnd = (): void => {
        // Only a body that arrived whole: one cut short never emits 'end', and `complete` says
        // the framing (Content-Length or the last chunk) was met.
        if (proxyRes.complete) put(key, stored, status, Buffer.concat(chunks, size), heads, ttl);
        chunks = [];
      };
      proxyRes.on('data', onData);
      proxyRes.once('end', onEnd);
    },

    answer(r) {
      const method = r.req.method ?? 'GET';
      if (method !== 'GET' && method !== 'HEAD') return false;
      const key = keyOf(r.req);
      let got: StaleEntry | undefined | Promise<StaleEntry | undefined>;
      try {
        got = store.get(key);
      } catch {
        return false;
      }
      if (got instanceof Promise) return got.then((e) => send(r, key, e), () => false);
      return send(r, key, got);
    },
  };

  function send(r: StaleRequest, key: string, entry: StaleEntry | undefined): boolean {
    if (entry === undefined || r.gone() || r.res.headersSent) return false;
    let policy: CachePolicy;
    try {
      policy = CachePolicy.fromObject(entry.policy as unknown as CachePolicy.CachePolicyObject);
    } catch {
      return false;
    }
    const asked = failedRequest(r.req);
    // Same URL, host and method, and the request's headers match the stored Vary.
    const hit = policy.evaluateRequest(asked).response;
    if (hit === undefined) return false;
    const cc = directivesOf(entry.policy as unknown as PolicyObject);
    const staleness = policy.age() - policy.maxAge();
    let allowed: boolean;
    if (cc['stale-if-error'] !== undefined) {
      // RFC 5861 through the library: after an error answer, `modified: false` means the stored
      // copy may be used instead.
      allowed = !policy.revalidatedPolicy(asked, { status: r.failure.status, headers: {} }).modified;
    } else {
      allowed = staleness <= 0 || (!forbidsStale(cc) && staleness <= maxStale);
    }
    if (!allowed) {
      drop(key);
      return false;
    }
    const headers = hit.headers as Record<string, string | string[] | undefined>;
    const age = Number(headers.age) || 0;
    const ttl = int(-staleness);
    const { proxyName } = r.responder.options;
    // RFC 9211: `hit` when the request never went forward (circuit open, concurrency limit) —
    // section 2.1 counts a stale answer sent because the origin is unavailable as one; otherwise
    // it went forward, and `fwd-status` says what that gave (the upstream's status, or the one
    // its failure maps to), since without it the status sent would be read as the next hop's.
    const how = r.attempts === 0 ? 'hit' : `fwd=${ttl <= 0 ? 'stale' : 'bypass'}; fwd-status=${r.failure.receivedStatus ?? r.failure.status}`;
    const mine = `${proxyName}; ${how}; ttl=${ttl}; detail=${r.reason}`;
    // Caches nearer the origin keep their members (RFC 9211 section 2).
    headers['cache-status'] = headers['cache-status'] === undefined ? mine : `${String(headers['cache-status'])}, ${mine}`;
    // Operators still see what failed (RFC 9209).
    headers['proxy-status'] = r.responder.passthroughHeaders(r.failure, r.facts)['proxy-status'];
    const noBody = entry.status === 204 || entry.status === 304;
    headers['content-length'] = noBody ? undefined : String(entry.body.length);
    r.start();
    const { res } = r;
    res.statusCode = entry.status;
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) res.removeHeader(name);
      else res.setHeader(name, value);
    }
    res.end(r.req.method === 'HEAD' || noBody ? undefined : entry.body);
    r.emit.stale({
      upstream: r.upstream,
      attempts: r.attempts,
      reason: r.reason,
      failure: r.failure,
      method: r.req.method ?? 'GET',
      path: r.path,
      age,
      status: entry.status,
    });
    return true;
  }
}

/** The origin said this answer may be kept: a lifetime, `public`, or a stale-if-error window. */
function explicitlyCacheable(cc: Record<string, string | boolean>, headers: IncomingMessage['headers']): boolean {
  return (
    cc['max-age'] !== undefined ||
    cc['s-maxage'] !== undefined ||
    cc.public !== undefined ||
    cc['stale-if-error'] !== undefined ||
    headers.expires !== undefined
  );
}
