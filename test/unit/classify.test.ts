import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_TYPES, classifyError, classifyStatus, failureOf } from '../../src/core/decide/classify.js';
import { MAX_RETRY_AFTER } from '../../src/core/decide/retry-after.js';
import type { GatewayStatus, ProxyErrorType } from '../../src/core/types.js';

/** An Error carrying a code, the way Node, undici and OpenSSL report failures. */
function coded(code: unknown, message = 'upstream failure'): Error {
  return Object.assign(new Error(message), { code });
}

/** The contract (API.md "Failure mapping" and the brief), written out independently of the table. */
const CONTRACT: readonly [ProxyErrorType, GatewayStatus, boolean][] = [
  ['connection_refused', 502, true],
  ['connection_terminated', 502, true],
  ['dns_error', 502, false],
  ['dns_timeout', 504, true],
  ['destination_unavailable', 503, true],
  ['connection_timeout', 504, true],
  ['http_response_timeout', 504, true],
  ['http_protocol_error', 502, false],
  ['tls_protocol_error', 502, false],
  ['tls_certificate_error', 502, false],
  ['connection_limit_reached', 503, false],
];

/** Codes the brief names, and the type each must map to. */
const REQUIRED_CODES: readonly [string, ProxyErrorType][] = [
  ['ECONNREFUSED', 'connection_refused'],
  ['ECONNRESET', 'connection_terminated'],
  ['EPIPE', 'connection_terminated'],
  ['ECONNABORTED', 'connection_terminated'],
  ['UND_ERR_SOCKET', 'connection_terminated'],
  ['UND_ERR_CLOSED', 'connection_terminated'],
  ['ERR_STREAM_PREMATURE_CLOSE', 'connection_terminated'],
  ['ENOTFOUND', 'dns_error'],
  ['EAI_NONAME', 'dns_error'],
  ['EAI_NODATA', 'dns_error'],
  ['EAI_FAIL', 'dns_error'],
  ['EAI_AGAIN', 'dns_timeout'],
  ['EHOSTUNREACH', 'destination_unavailable'],
  ['ENETUNREACH', 'destination_unavailable'],
  ['EHOSTDOWN', 'destination_unavailable'],
  ['ENETDOWN', 'destination_unavailable'],
  ['ETIMEDOUT', 'connection_timeout'],
  ['UND_ERR_CONNECT_TIMEOUT', 'connection_timeout'],
  ['UND_ERR_HEADERS_TIMEOUT', 'http_response_timeout'],
  ['UND_ERR_BODY_TIMEOUT', 'http_response_timeout'],
  ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'http_protocol_error'],
  ['CERT_HAS_EXPIRED', 'tls_certificate_error'],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'tls_certificate_error'],
  ['SELF_SIGNED_CERT_IN_CHAIN', 'tls_certificate_error'],
  ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'tls_certificate_error'],
  ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'tls_certificate_error'],
  ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls_certificate_error'],
  ['CERT_NOT_YET_VALID', 'tls_certificate_error'],
  ['CERT_REVOKED', 'tls_certificate_error'],
  ['CERT_UNTRUSTED', 'tls_certificate_error'],
  ['EPROTO', 'tls_protocol_error'],
];

describe('ERROR_TYPES', () => {
  it('has exactly the RFC 9209 types of the contract', () => {
    expect(Object.keys(ERROR_TYPES).sort()).toEqual(CONTRACT.map(([type]) => type).sort());
  });

  it.each(CONTRACT)('answers %s with %i (retryable: %s)', (type, status, retryable) => {
    expect(ERROR_TYPES[type]).toEqual({ status, retryable });
  });

  it('cannot be changed at run time', () => {
    expect(Object.isFrozen(ERROR_TYPES)).toBe(true);
    for (const row of Object.values(ERROR_TYPES)) expect(Object.isFrozen(row)).toBe(true);
  });
});

describe('ERROR_CODES', () => {
  it.each(REQUIRED_CODES)('maps %s to %s', (code, type) => {
    expect(ERROR_CODES[code]).toBe(type);
  });

  it.each(Object.entries(ERROR_CODES))('classifies an error with code %s as %s', (code, type) => {
    const err = coded(code);
    expect(classifyError(err)).toEqual({
      status: ERROR_TYPES[type].status,
      error: type,
      retryable: ERROR_TYPES[type].retryable,
      cause: err,
    });
  });

  it('names only types that ERROR_TYPES knows', () => {
    for (const type of Object.values(ERROR_CODES)) expect(Object.hasOwn(ERROR_TYPES, type)).toBe(true);
  });

  it('inherits nothing, so prototype names are not codes', () => {
    expect(Object.getPrototypeOf(ERROR_CODES)).toBeNull();
    expect(ERROR_CODES['constructor']).toBeUndefined();
    expect(Object.isFrozen(ERROR_CODES)).toBe(true);
  });
});

describe('classifyError', () => {
  describe('code families matched by prefix', () => {
    it.each([
      ['HPE_INVALID_CONSTANT', 'http_protocol_error'],
      ['HPE_HEADER_OVERFLOW', 'http_protocol_error'],
      ['HPE_UNEXPECTED_CONTENT_LENGTH', 'http_protocol_error'],
      ['ERR_SSL_WRONG_VERSION_NUMBER', 'tls_protocol_error'],
      ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'tls_protocol_error'],
      ['ERR_TLS_RENEGOTIATION_DISABLED', 'tls_protocol_error'],
      ['ERR_TLS_INVALID_PROTOCOL_VERSION', 'tls_protocol_error'],
    ] as const)('classifies %s as %s', (code, type) => {
      expect(classifyError(coded(code))?.error).toBe(type);
    });

    it.each([
      ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls_certificate_error'],
      ['ERR_TLS_HANDSHAKE_TIMEOUT', 'connection_timeout'],
    ] as const)('lets the exact row for %s win over the ERR_TLS_ prefix (%s)', (code, type) => {
      expect(classifyError(coded(code))?.error).toBe(type);
    });

    it('matches prefixes case-sensitively, as Node spells codes', () => {
      expect(classifyError(coded('hpe_invalid_constant'))).toBeUndefined();
      expect(classifyError(coded('econnrefused'))).toBeUndefined();
    });

    it('does not treat a code that merely contains a prefix as that family', () => {
      expect(classifyError(coded('X_HPE_INVALID'))).toBeUndefined();
    });
  });

  describe('errors that are not upstream failures', () => {
    it.each([
      ['a plain Error', new Error('boom')],
      ['a TypeError without cause', new TypeError('x is not a function')],
      ['an unknown code', coded('ENOENT')],
      ['a numeric code', coded(111)],
      ['a code on Object.prototype', coded('toString')],
      ['the code __proto__', coded('__proto__')],
      ['the code constructor', coded('constructor')],
      ['the code hasOwnProperty', coded('hasOwnProperty')],
      ['an empty code', coded('')],
      ['undici UND_ERR_ABORTED (the caller aborted)', coded('UND_ERR_ABORTED')],
      ['Node ABORT_ERR', coded('ABORT_ERR')],
      ['undici UND_ERR_INVALID_ARG (our bug)', coded('UND_ERR_INVALID_ARG')],
      ['an AbortError DOMException', new DOMException('This operation was aborted', 'AbortError')],
      ['an empty object', {}],
      ['a string naming a code', 'ECONNREFUSED'],
      ['null', null],
      ['undefined', undefined],
      ['a number', 42],
      ['a boolean', false],
      ['a symbol', Symbol('ECONNREFUSED')],
      ['a bigint', 10n],
    ])('leaves %s alone', (_name, err) => {
      expect(classifyError(err)).toBeUndefined();
    });

    it('ignores the numeric legacy code of a DOMException that is not a timeout', () => {
      const err = new DOMException('bad', 'NetworkError');
      expect(typeof err.code).toBe('number');
      expect(classifyError(err)).toBeUndefined();
    });
  });

  describe('timeouts signalled by name', () => {
    it('classifies an AbortSignal.timeout() TimeoutError as http_response_timeout', () => {
      const err = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
      expect(classifyError(err)).toEqual({ status: 504, error: 'http_response_timeout', retryable: true, cause: err });
    });

    it('classifies an AbortError whose cause is a TimeoutError as a timeout (http.request with a timeout signal)', () => {
      const reason = new DOMException('timed out', 'TimeoutError');
      const err = Object.assign(new Error('The operation was aborted', { cause: reason }), {
        name: 'AbortError',
        code: 'ABORT_ERR',
      });
      expect(classifyError(err)?.error).toBe('http_response_timeout');
    });

    it('prefers a known code to the TimeoutError name on the same error', () => {
      const err = Object.assign(coded('ETIMEDOUT'), { name: 'TimeoutError' });
      expect(classifyError(err)?.error).toBe('connection_timeout');
    });
  });

  describe('wrapped errors', () => {
    it("finds the code in fetch's TypeError('fetch failed').cause", () => {
      const err = new TypeError('fetch failed', { cause: coded('ECONNREFUSED') });
      expect(classifyError(err)).toEqual({ status: 502, error: 'connection_refused', retryable: true, cause: err });
    });

    it('finds the code in an AggregateError member (Happy Eyeballs)', () => {
      const err = new AggregateError([new Error('no code'), coded('EHOSTUNREACH')], 'all addresses failed');
      expect(classifyError(err)?.error).toBe('destination_unavailable');
    });

    it('finds the code in an AggregateError inside a cause', () => {
      const err = new TypeError('fetch failed', {
        cause: new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')]),
      });
      expect(classifyError(err)?.error).toBe('connection_refused');
    });

    it('lets the outermost known code win over what it wraps', () => {
      const err = Object.assign(new Error('headers timeout', { cause: coded('ECONNRESET') }), {
        code: 'UND_ERR_HEADERS_TIMEOUT',
      });
      expect(classifyError(err)?.error).toBe('http_response_timeout');
    });

    it('looks past an unknown outer code to a known inner one', () => {
      const err = Object.assign(new Error('wrapped', { cause: coded('ENOTFOUND') }), { code: 'E_MY_APP' });
      expect(classifyError(err)?.error).toBe('dns_error');
    });

    it('keeps the thrown error, not the inner one, as the cause', () => {
      const inner = coded('ECONNRESET');
      const outer = new TypeError('fetch failed', { cause: inner });
      expect(classifyError(outer)?.cause).toBe(outer);
    });

    it('finds a code eight causes deep but not nine', () => {
      const chain = (depth: number): Error => {
        let err: Error = coded('ECONNREFUSED');
        for (let i = 0; i < depth; i++) err = new Error(`level ${i}`, { cause: err });
        return err;
      };
      expect(classifyError(chain(8))?.error).toBe('connection_refused');
      expect(classifyError(chain(9))).toBeUndefined();
    });

    it('stops looking after 64 errors in a huge AggregateError', () => {
      const noise = Array.from({ length: 100 }, () => new Error('noise'));
      expect(classifyError(new AggregateError([coded('ECONNRESET'), ...noise]))?.error).toBe('connection_terminated');
      expect(classifyError(new AggregateError([...noise, coded('ECONNRESET')]))).toBeUndefined();
    });

    it('ignores a non-array `errors` and non-object causes', () => {
      expect(classifyError({ errors: { 0: coded('ECONNRESET'), length: 1 } })).toBeUndefined();
      expect(classifyError(new Error('x', { cause: 'ECONNRESET' }))).toBeUndefined();
    });
  });

  describe('hostile input', () => {
    it('ends on a cyclic cause chain without a code', () => {
      const a: { cause?: unknown } = {};
      const b = { cause: a };
      a.cause = b;
      expect(classifyError(a)).toBeUndefined();
    });

    it('still finds a code inside a cycle', () => {
      const a = new Error('a');
      const b = Object.assign(new Error('b', { cause: a }), { code: 'ECONNRESET' });
      Object.defineProperty(a, 'cause', { value: b });
      expect(classifyError(a)?.error).toBe('connection_terminated');
    });

    it('survives an error whose own cause is itself', () => {
      const err = new Error('self');
      Object.defineProperty(err, 'cause', { value: err });
      expect(classifyError(err)).toBeUndefined();
    });

    it('survives getters that throw, and still reads the cause', () => {
      const err = new Error('getter');
      Object.defineProperty(err, 'code', { get: () => { throw new Error('no code for you'); } });
      Object.defineProperty(err, 'name', { get: () => { throw new Error('no name either'); } });
      Object.defineProperty(err, 'cause', { value: coded('EPIPE') });
      expect(classifyError(err)?.error).toBe('connection_terminated');
    });

    it('survives a Proxy whose every trap throws', () => {
      const trap = () => { throw new Error('trap'); };
      const hostile = new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap });
      expect(classifyError(hostile)).toBeUndefined();
      expect(classifyError(new Error('x', { cause: hostile }))).toBeUndefined();
    });

    it('survives revoked Proxies as the error, its cause and its errors', () => {
      const { proxy, revoke } = Proxy.revocable([], {});
      revoke();
      expect(classifyError(proxy)).toBeUndefined();
      expect(classifyError(new Error('x', { cause: proxy }))).toBeUndefined();
      expect(classifyError({ errors: proxy })).toBeUndefined();
      expect(classifyError(new AggregateError([proxy, coded('ECONNREFUSED')]))?.error).toBe('connection_refused');
    });

    it('survives an `errors` array with a lying, throwing length', () => {
      const errors = new Proxy([coded('ECONNRESET')], {
        get: (target, key) => {
          if (key === 'length') throw new Error('length');
          return Reflect.get(target, key);
        },
      });
      expect(classifyError({ errors })).toBeUndefined();
      expect(classifyError({ errors: Object.assign([], { length: 1e9 }) })).toBeUndefined();
    });

    it('classifies frozen errors', () => {
      const err = Object.freeze(new TypeError('fetch failed', { cause: Object.freeze(coded('ECONNREFUSED')) }));
      expect(classifyError(err)?.error).toBe('connection_refused');
    });

    it('classifies a plain object with a code, as some libraries reject with', () => {
      expect(classifyError({ code: 'ECONNRESET' })?.error).toBe('connection_terminated');
    });
  });

  describe('real failures from Node', () => {
    const closers: (() => Promise<void>)[] = [];
    afterEach(async () => {
      await Promise.all(closers.splice(0).map((close) => close()));
    });

    async function listen(server: net.Server): Promise<number> {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      closers.push(async () => {
        if (server instanceof http.Server) server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      });
      return (server.address() as AddressInfo).port;
    }

    /** A port that nothing listens on: bind port 0, note it, close. */
    async function closedPort(): Promise<number> {
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    }

    function httpGetError(port: number): Promise<unknown> {
      return new Promise((resolve) => {
        http.get({ host: '127.0.0.1', port, agent: false }, (res) => resolve(res)).on('error', resolve);
      });
    }

    it('classifies net.connect to a closed port as connection_refused', async () => {
      const port = await closedPort();
      const err = await new Promise<unknown>((resolve) => {
        net.connect(port, '127.0.0.1').on('error', resolve);
      });
      expect((err as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
      expect(classifyError(err)).toEqual({ status: 502, error: 'connection_refused', retryable: true, cause: err });
    });

    it('classifies a fetch to a closed port (code in cause) as connection_refused', async () => {
      const port = await closedPort();
      const err = await fetch(`http://127.0.0.1:${port}/`).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TypeError);
      expect((err as { code?: unknown }).code).toBeUndefined();
      expect(classifyError(err)?.error).toBe('connection_refused');
    });

    it('classifies a fetch cut by AbortSignal.timeout against a silent upstream as http_response_timeout', async () => {
      const port = await listen(http.createServer(() => { /* never answers */ }));
      const err = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(50) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as Error).name).toBe('TimeoutError');
      expect(classifyError(err)).toMatchObject({ status: 504, error: 'http_response_timeout', retryable: true });
    });

    it('leaves a fetch aborted by the caller alone', async () => {
      const port = await listen(http.createServer(() => { /* never answers */ }));
      const controller = new AbortController();
      const pending = fetch(`http://127.0.0.1:${port}/`, { signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      const err = await pending.then(() => undefined, (e: unknown) => e);
      expect((err as Error).name).toBe('AbortError');
      expect(classifyError(err)).toBeUndefined();
    });

    it('classifies an upstream that resets the connection as connection_terminated (http and fetch)', async () => {
      const port = await listen(net.createServer((socket) => socket.once('data', () => socket.resetAndDestroy())));
      const viaHttp = await httpGetError(port);
      expect(classifyError(viaHttp)?.error).toBe('connection_terminated');
      const viaFetch = await fetch(`http://127.0.0.1:${port}/`).then(() => undefined, (e: unknown) => e);
      expect(classifyError(viaFetch)?.error).toBe('connection_terminated');
    });

    it('classifies a malformed response as http_protocol_error (http and fetch)', async () => {
      const port = await listen(net.createServer((socket) => socket.once('data', () => socket.end('GARBAGE\r\n\r\n'))));
      const viaHttp = await httpGetError(port);
      expect((viaHttp as NodeJS.ErrnoException).code).toMatch(/^HPE_/);
      expect(classifyError(viaHttp)).toMatchObject({ status: 502, error: 'http_protocol_error', retryable: false });
      const viaFetch = await fetch(`http://127.0.0.1:${port}/`).then(() => undefined, (e: unknown) => e);
      expect(classifyError(viaFetch)?.error).toBe('http_protocol_error');
    });
  });
});

describe('classifyStatus', () => {
  it.each([502, 503, 504] as const)('reports an upstream %i as received-status, retryable', (status) => {
    expect(classifyStatus(status)).toEqual({ status, receivedStatus: status, retryable: true });
  });

  it('leaves out retryAfter when there is none', () => {
    expect(classifyStatus(503)).not.toHaveProperty('retryAfter');
  });

  it.each([
    [0, 0],
    [30, 30],
    [1.2, 2],
    [MAX_RETRY_AFTER, MAX_RETRY_AFTER],
    [MAX_RETRY_AFTER + 1, MAX_RETRY_AFTER],
  ])('carries Retry-After %d as %d seconds', (given, expected) => {
    expect(classifyStatus(503, given)).toEqual({ status: 503, receivedStatus: 503, retryable: true, retryAfter: expected });
  });

  it.each([Number.NaN, -1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])('drops an invalid Retry-After %d', (given) => {
    expect(classifyStatus(503, given)).not.toHaveProperty('retryAfter');
  });

  it.each([200, 404, 500, 501, 505, 599, 0, -502, 502.5, Number.NaN])('is not a gateway failure when the upstream answered %d', (status) => {
    expect(classifyStatus(status)).toBeUndefined();
  });

  it('is not fooled by a status string at run time', () => {
    expect(classifyStatus('502' as unknown as number)).toBeUndefined();
  });
});

describe('failureOf', () => {
  it.each(Object.keys(ERROR_TYPES) as ProxyErrorType[])('builds a %s failure from the table', (type) => {
    const cause = new Error('timer fired');
    expect(failureOf(type, cause)).toEqual({ ...ERROR_TYPES[type], error: type, cause });
  });

  it('leaves out cause when none is given', () => {
    expect(failureOf('http_response_timeout')).toEqual({ status: 504, error: 'http_response_timeout', retryable: true });
    expect(failureOf('http_response_timeout')).not.toHaveProperty('cause');
  });

  it('marks our own connection limit as not retryable', () => {
    expect(failureOf('connection_limit_reached')).toMatchObject({ status: 503, retryable: false });
  });

  it.each(['not_a_type', 'toString', '__proto__', 'destination_not_found'])('rejects the unknown type %s loudly', (type) => {
    expect(() => failureOf(type as ProxyErrorType)).toThrow(TypeError);
  });
});
