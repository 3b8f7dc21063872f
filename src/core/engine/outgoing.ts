/**
 * The upstream request's options, as http-proxy's `setupOutgoing` makes them from its options and
 * the client's request. Targets are parsed here once, not on every request.
 */
import type { IncomingMessage, RequestOptions } from 'node:http';
import * as nodeUrl from 'node:url';
import common from 'http-proxy/lib/http-proxy/common.js';

type Url = nodeUrl.Url;
/** A target as http-proxy works with it. */
export type LegacyUrl = Url;
/** The legacy `Url` class: exported by node:url, though its types declare only the interface. */
const LegacyUrl = (nodeUrl as unknown as { Url: new () => Url }).Url;

/** Targets made by parseTarget: their fields are the WHATWG parser's, so outgoingOf may read them directly. */
const parsed = new WeakSet<object>();

/**
 * A string target as the legacy `Url` http-proxy works with (it calls `url.parse()` on every
 * request; that API is deprecated, so the WHATWG parser fills the same fields, once per target).
 * A `Url` instance, because http-proxy's redirect rewriting hands the target to `url.parse()`,
 * which returns a `Url` unchanged and rejects any other object. Each proxy keeps the one it
 * parsed last (proxy.ts), so this runs once per target, not per request.
 */
export function parseTarget(target: string): Url {
  const u = new URL(target);
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const legacy = Object.assign(new LegacyUrl(), {
    protocol: u.protocol,
    slashes: true,
    auth: u.username === '' ? null : decodeURIComponent(u.username) + (u.password === '' ? '' : `:${decodeURIComponent(u.password)}`),
    host: u.host,
    port: u.port === '' ? null : u.port,
    hostname,
    hash: u.hash === '' ? null : u.hash,
    search: u.search === '' ? null : u.search,
    query: u.search === '' ? null : u.search.slice(1),
    pathname: u.pathname,
    path: u.pathname + u.search,
    href: u.href,
  });
  parsed.add(legacy);
  return legacy;
}

/**
 * Characters `url.parse()` leaves as they are and `urlJoin` does not rewrite, in an origin-form
 * request target: a URL of only these (no `//`, no `:/` before its query) is its own upstream path.
 */
const UNCHANGED = /^\/[\w\-.~!$&()*+,;=:@%/?]*$/;

/**
 * What `common.setupOutgoing({}, options, req)` returns, with the fields it would leave undefined
 * left out. Computed directly for the case nearly every request is: a target parsed here (no
 * socketPath, no TLS material, no path of its own), a keep-alive agent, none of `ssl`, `method`,
 * `auth`, `ca`, `localAddress`, `toProxy`, `ignorePath`, and a plain path. There `url.parse()` and
 * `urlJoin` would return the client's path unchanged, and they cost more than the rest of the
 * upstream request's setup (and a smaller options object is cheaper for the agent to copy). Any
 * other case goes through http-proxy's own, so an option always means what it means there
 * (test/unit/outgoing.test.ts compares the two).
 */
export function outgoingOf(options: Record<string, unknown>, req: IncomingMessage): RequestOptions {
  const target = options.target as Url;
  const url = req.url ?? '';
  if (
    !parsed.has(target) ||
    !options.agent ||
    options.ssl !== undefined ||
    options.method !== undefined ||
    options.auth !== undefined ||
    options.ca !== undefined ||
    options.localAddress !== undefined ||
    options.toProxy ||
    options.ignorePath ||
    (target.path !== '/' && !(target.path === '' || options.prependPath === false)) ||
    !UNCHANGED.test(url) ||
    !plainPath(url)
  ) {
    return common.setupOutgoing((options.ssl as Record<string, unknown> | undefined) ?? {}, options, req);
  }
  const { protocol } = target;
  const tls = protocol === 'https:' || protocol === 'wss:';
  if (!tls && protocol !== 'http:' && protocol !== 'ws:') return common.setupOutgoing({}, options, req);
  const headers: Record<string, unknown> = { ...req.headers };
  if (options.headers) Object.assign(headers, options.headers);
  // A WHATWG host carries its port unless it is the scheme's default: what setupOutgoing's
  // changeOrigin computes from host and port.
  if (options.changeOrigin) headers.host = target.host;
  const outgoing: RequestOptions = {
    port: target.port || (tls ? 443 : 80),
    host: target.host!,
    hostname: target.hostname!,
    method: req.method,
    headers: headers as RequestOptions['headers'],
    agent: options.agent as RequestOptions['agent'],
    path: url,
  };
  if (tls) (outgoing as Record<string, unknown>).rejectUnauthorized = options.secure === undefined ? true : options.secure;
  return outgoing;
}

/** No `//` (urlJoin collapses it) and no `:/` (urlJoin turns `http:/` into `http://`) before the query. */
function plainPath(url: string): boolean {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return !path.includes('//') && !path.includes(':/');
}
