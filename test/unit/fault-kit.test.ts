/**
 * Self-test of the fault kit, with raw Node clients only (`http.request`, `https.request`,
 * `net.connect`), so that a failing end-to-end test can trust the upstream it ran against.
 * The error codes asserted here are what Node 20's own client reports for each fault.
 */
import { createHash, X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { closedPort, MAX_RECORDS, readTlsFixture, startFaultKit, startRawServer } from '../support/fault-kit.js';
import type { FaultKit } from '../support/fault-kit.js';

interface Outcome {
  status?: number;
  statusMessage?: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Set when the exchange failed; `phase` says whether before or after the response head. */
  error?: NodeJS.ErrnoException & { reason?: string };
  phase: 'request' | 'response' | 'complete';
  /** ms from sending to the head, and to the end (or the error). */
  headAt?: number;
  endAt: number;
}

interface CallOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  /** Give up after this long; the outcome then carries code TEST_TIMEOUT. */
  timeout?: number;
  agent?: http.Agent | false;
  ca?: Buffer;
}

/** One exchange with a raw Node client. Never rejects: a failure is part of the outcome. */
function call(url: string, options: CallOptions = {}): Promise<Outcome> {
  const started = performance.now();
  const since = (): number => performance.now() - started;
  return new Promise((resolve) => {
    const client = url.startsWith('https:') ? https : http;
    const chunks: Buffer[] = [];
    const outcome: Outcome = { headers: {}, body: Buffer.alloc(0), phase: 'request', endAt: 0 };
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      outcome.body = Buffer.concat(chunks);
      outcome.endAt = since();
      if (error) outcome.error = error;
      resolve(outcome);
    };
    const req = client.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false, ca: options.ca },
      (res) => {
        outcome.phase = 'response';
        outcome.status = res.statusCode;
        outcome.statusMessage = res.statusMessage;
        outcome.headers = res.headers;
        outcome.headAt = since();
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', finish);
        res.on('end', () => {
          outcome.phase = 'complete';
          finish();
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error('test timeout'), { code: 'TEST_TIMEOUT' }));
    }, options.timeout ?? 3000);
    req.once('error', finish);
    req.end(options.body);
  });
}

/** Poll until `check` holds; the kit's socket count settles a tick after the peer closes. */
async function eventually(check: () => boolean, timeout = 2000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Send a raw request head over TCP and collect everything until the server closes. */
function rawExchange(port: number, head: string, timeout = 3000): Promise<{ bytes: Buffer; closedAfter: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error('raw exchange timed out')), timeout);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      socket.end();
      resolve({ bytes: Buffer.concat(chunks), closedAfter: performance.now() - started });
    });
    socket.write(head);
  });
}

let kit: FaultKit;
beforeAll(async () => {
  kit = await startFaultKit();
});
afterAll(async () => {
  await kit.close();
});

describe('startFaultKit', () => {
  it('listens on 127.0.0.1 with an ephemeral port', () => {
    expect(kit.url).toBe(`http://127.0.0.1:${kit.port}`);
    expect(kit.port).toBeGreaterThan(0);
  });

  it('answers /ok with 200 text/plain "ok", or ?size bytes of x with a ?type', async () => {
    const plain = await call(`${kit.url}/ok`);
    expect(plain).toMatchObject({ status: 200, phase: 'complete' });
    expect(plain.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(plain.body.toString()).toBe('ok');

    const sized = await call(`${kit.url}/ok?size=10&type=application/octet-stream`);
    expect(sized.body.toString()).toBe('x'.repeat(10));
    expect(sized.headers['content-type']).toBe('application/octet-stream');
    expect(sized.headers['content-length']).toBe('10');
  });

  it('answers an unknown path with 404 and a typo in a query with 400', async () => {
    expect((await call(`${kit.url}/nope`)).status).toBe(404);
    const bad = await call(`${kit.url}/slow-head?ms=soon`);
    expect(bad.status).toBe(400);
    expect(bad.body.toString()).toContain('?ms=soon');
    expect((await call(`${kit.url}/flaky/1?mode=explode&key=typo`)).status).toBe(400);
  });
});

describe('counting and records', () => {
  it('counts per pathname and key, independently of other query params', async () => {
    await call(`${kit.url}/ok?key=count-a`);
    await call(`${kit.url}/ok?key=count-a&size=3`);
    await call(`${kit.url}/ok?key=count-b`);
    expect(kit.attempts('/ok?key=count-a')).toBe(2);
    expect(kit.attempts('/ok?size=99&key=count-a')).toBe(2);
    expect(kit.attempts('/ok?key=count-b')).toBe(1);
    expect(kit.attempts('/ok?key=never')).toBe(0);
  });

  it('records method, url, headers, body and the attempt number', async () => {
    await call(`${kit.url}/ok?key=rec`, { method: 'POST', headers: { 'x-test': 'one' }, body: 'first' });
    await call(`${kit.url}/ok?key=rec`, { method: 'PUT', body: 'second' });
    const mine = kit.requests.filter((r) => r.url.includes('key=rec'));
    expect(mine).toHaveLength(2);
    expect(mine[0]).toMatchObject({ method: 'POST', url: '/ok?key=rec', attempt: 1 });
    expect(mine[0]!.headers['x-test']).toBe('one');
    expect(mine[0]!.body.toString()).toBe('first');
    expect(mine[1]).toMatchObject({ method: 'PUT', attempt: 2 });
    expect(mine[1]!.body.toString()).toBe('second');
  });

  it('keeps only the last 1000 records while counting them all, and reset() clears everything', async () => {
    const own = await startFaultKit();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    try {
      // 1005 requests from 5 sequential workers: each call's timeout covers only itself.
      const statuses: Array<number | undefined> = [];
      const worker = async (): Promise<void> => {
        for (let i = 0; i < 201; i += 1) statuses.push((await call(`${own.url}/ok?key=many`, { agent })).status);
      };
      await Promise.all(Array.from({ length: 5 }, worker));
      expect(statuses).toEqual(Array(1005).fill(200));
      expect(own.total).toBe(1005);
      expect(own.attempts('/ok?key=many')).toBe(1005);
      expect(own.requests).toHaveLength(MAX_RECORDS);
      expect(own.requests[0]!.attempt).toBe(6);
      expect(own.requests.at(-1)!.attempt).toBe(1005);

      own.reset();
      expect(own.total).toBe(0);
      expect(own.requests).toHaveLength(0);
      expect(own.attempts('/ok?key=many')).toBe(0);
      await call(`${own.url}/ok?key=many`, { agent });
      expect(own.attempts('/ok?key=many')).toBe(1);
    } finally {
      agent.destroy();
      await own.close();
    }
  });
});

describe('/status/:code', () => {
  it.each(['120', 'Wed, 21 Oct 2015 07:28:00 GMT', 'garbage', '1e3', '-5'])(
    'sends Retry-After %j verbatim',
    async (value) => {
      const outcome = await call(`${kit.url}/status/503?retry-after=${encodeURIComponent(value)}`);
      expect(outcome.status).toBe(503);
      expect(outcome.headers['retry-after']).toBe(value);
    },
  );

  it('answers with the given status, body and content type', async () => {
    const outcome = await call(`${kit.url}/status/502?body=${encodeURIComponent('{"a":1}')}&ctype=application/json`);
    expect(outcome.status).toBe(502);
    expect(outcome.headers['content-type']).toBe('application/json');
    expect(outcome.headers['retry-after']).toBeUndefined();
    expect(outcome.body.toString()).toBe('{"a":1}');
    const plain = await call(`${kit.url}/status/504`);
    expect(plain.body.toString()).toBe('504 Gateway Timeout');
  });

  it('sends 204 without a body', async () => {
    const outcome = await call(`${kit.url}/status/204`);
    expect(outcome).toMatchObject({ status: 204, phase: 'complete' });
    expect(outcome.headers['content-length']).toBeUndefined();
    expect(outcome.body).toHaveLength(0);
  });

  it('refuses a Retry-After that Node cannot send, instead of crashing', async () => {
    expect((await call(`${kit.url}/status/503?retry-after=%0Aevil`)).status).toBe(400);
  });
});

describe('/flaky/:n', () => {
  it('fails the first n attempts with 503, then answers 200 "recovered"', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await call(`${kit.url}/flaky/2?key=fl-default`)).status);
    expect(statuses).toEqual([503, 503, 200, 200]);
    expect((await call(`${kit.url}/flaky/2?key=fl-default`)).body.toString()).toBe('recovered');
    expect(kit.attempts('/flaky/2?key=fl-default')).toBe(5);
  });

  it('keeps separate counters per key', async () => {
    expect((await call(`${kit.url}/flaky/1?key=fl-x`)).status).toBe(503);
    expect((await call(`${kit.url}/flaky/1?key=fl-y`)).status).toBe(503);
    expect((await call(`${kit.url}/flaky/1?key=fl-x`)).status).toBe(200);
  });

  it('fails with ?code and ?retry-after', async () => {
    const failed = await call(`${kit.url}/flaky/1?key=fl-code&code=502&retry-after=7`);
    expect(failed.status).toBe(502);
    expect(failed.headers['retry-after']).toBe('7');
    const recovered = await call(`${kit.url}/flaky/1?key=fl-code&code=502&retry-after=7`);
    expect(recovered.status).toBe(200);
    expect(recovered.headers['retry-after']).toBeUndefined();
  });

  it('?mode=reset destroys the socket before any byte', async () => {
    const first = await call(`${kit.url}/flaky/1?key=fl-reset&mode=reset`);
    expect(first.phase).toBe('request');
    expect(first.error).toMatchObject({ code: 'ECONNRESET', message: 'socket hang up' });
    expect((await call(`${kit.url}/flaky/1?key=fl-reset&mode=reset`)).status).toBe(200);
  });

  it('?mode=hang never answers the failing attempts', async () => {
    const first = await call(`${kit.url}/flaky/1?key=fl-hang&mode=hang`, { timeout: 150 });
    expect(first.phase).toBe('request');
    expect(first.error?.code).toBe('TEST_TIMEOUT');
    expect((await call(`${kit.url}/flaky/1?key=fl-hang&mode=hang`)).status).toBe(200);
    expect(kit.attempts('/flaky/1?key=fl-hang')).toBe(2);
  });

  it('?mode=<fault route> borrows that fault, e.g. malformed', async () => {
    const first = await call(`${kit.url}/flaky/1?key=fl-malformed&mode=malformed`);
    expect(first.error?.code).toBe('HPE_INVALID_STATUS');
    expect((await call(`${kit.url}/flaky/1?key=fl-malformed&mode=malformed`)).status).toBe(200);
  });

  it('decides each attempt by its arrival, even when bodies finish out of order', async () => {
    // Attempt 1 arrives first but its body ends last; it must still be the one that fails.
    const slow = new Promise<number | undefined>((resolve) => {
      const req = http.request(`${kit.url}/flaky/1?key=fl-order`, { method: 'POST', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', () => resolve(undefined));
      req.write('part');
      setTimeout(() => req.end('rest'), 150);
    });
    await eventually(() => kit.attempts('/flaky/1?key=fl-order') === 1);
    const fast = await call(`${kit.url}/flaky/1?key=fl-order`, { method: 'POST', body: 'x' });
    expect(fast.status).toBe(200);
    expect(await slow).toBe(503);
  });
});

describe('connection faults', () => {
  it('/reset closes the socket before any byte: ECONNRESET "socket hang up"', async () => {
    const outcome = await call(`${kit.url}/reset?key=rs`);
    expect(outcome.phase).toBe('request');
    expect(outcome.error).toMatchObject({ code: 'ECONNRESET', message: 'socket hang up' });
    expect(kit.attempts('/reset?key=rs')).toBe(1);
  });

  it('/reset?rst=1 sends a TCP RST: ECONNRESET "read ECONNRESET"', async () => {
    const outcome = await call(`${kit.url}/reset?rst=1`);
    expect(outcome.phase).toBe('request');
    expect(outcome.error).toMatchObject({ code: 'ECONNRESET', message: 'read ECONNRESET', syscall: 'read' });
  });

  it('/hang never answers and holds the socket open until the client gives up', async () => {
    const own = await startFaultKit();
    try {
      const pending = call(`${own.url}/hang`, { timeout: 200 });
      await eventually(() => own.attempts('/hang') === 1);
      expect(own.openSockets()).toBe(1);
      const outcome = await pending;
      expect(outcome.error?.code).toBe('TEST_TIMEOUT');
      expect(outcome.phase).toBe('request');
      await eventually(() => own.openSockets() === 0);
    } finally {
      await own.close();
    }
  });

  it('/die-mid-body sends a head promising more than the N bytes that follow, then closes', async () => {
    const outcome = await call(`${kit.url}/die-mid-body?bytes=100`);
    expect(outcome.status).toBe(200);
    expect(outcome.headers['content-length']).toBe('1100');
    expect(outcome.phase).toBe('response');
    expect(outcome.body).toHaveLength(100);
    expect(outcome.error).toMatchObject({ code: 'ECONNRESET', message: 'aborted' });
  });

  it('/die-mid-body?chunked=1 stops a chunked body before its last chunk', async () => {
    const outcome = await call(`${kit.url}/die-mid-body?bytes=50&chunked=1`);
    expect(outcome.status).toBe(200);
    expect(outcome.headers['transfer-encoding']).toBe('chunked');
    expect(outcome.body).toHaveLength(50);
    expect(outcome.error).toMatchObject({ code: 'ECONNRESET', message: 'aborted' });
  });
});

describe('protocol faults (raw bytes, nothing appended by Node)', () => {
  it('/malformed makes the client parser fail: HPE_INVALID_STATUS', async () => {
    const outcome = await call(`${kit.url}/malformed`);
    expect(outcome.phase).toBe('request');
    expect(outcome.error).toMatchObject({ code: 'HPE_INVALID_STATUS', message: 'Parse Error: Invalid status code' });
  });

  it('/bad-status is parsed by Node as status 99', async () => {
    const outcome = await call(`${kit.url}/bad-status`);
    expect(outcome).toMatchObject({ status: 99, statusMessage: 'Weird', phase: 'complete' });
  });

  it('/dup-cl is rejected: HPE_UNEXPECTED_CONTENT_LENGTH', async () => {
    const outcome = await call(`${kit.url}/dup-cl`);
    expect(outcome.phase).toBe('request');
    expect(outcome.error).toMatchObject({
      code: 'HPE_UNEXPECTED_CONTENT_LENGTH',
      message: 'Parse Error: Duplicate Content-Length',
    });
  });

  it.each([
    ['/malformed', 'HTTP/1.1 abc nonsense\r\n\r\n'],
    ['/bad-status', 'HTTP/1.1 099 Weird\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'],
  ])('%s puts exactly its raw bytes on the wire', async (path, expected) => {
    const { bytes } = await rawExchange(kit.port, `GET ${path} HTTP/1.1\r\nHost: kit\r\n\r\n`);
    expect(bytes.toString('latin1')).toBe(expected);
  });
});

describe('timing routes', () => {
  it('/slow-head waits ms before the head', async () => {
    const outcome = await call(`${kit.url}/slow-head?ms=120`);
    expect(outcome.status).toBe(200);
    expect(outcome.body.toString()).toBe('ok');
    expect(outcome.headAt).toBeGreaterThanOrEqual(115);
  });

  it('/slow-body sends the head at once, then K chunks ms apart', async () => {
    const outcome = await call(`${kit.url}/slow-body?ms=60&chunks=3`);
    expect(outcome.status).toBe(200);
    expect(outcome.body.toString()).toBe('chunk 0\nchunk 1\nchunk 2\n');
    expect(outcome.endAt - outcome.headAt!).toBeGreaterThanOrEqual(3 * 60 - 5);
    expect(outcome.headAt!).toBeLessThan(outcome.endAt - 2 * 60);
  });

  it('/sse streams N events as text/event-stream, then ends', async () => {
    const outcome = await call(`${kit.url}/sse?events=3&ms=20`);
    expect(outcome.status).toBe(200);
    expect(outcome.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(outcome.phase).toBe('complete');
    const events = outcome.body.toString().split('\n\n').filter(Boolean);
    expect(events).toEqual(['id: 0\ndata: event 0', 'id: 1\ndata: event 1', 'id: 2\ndata: event 2']);
  });

  it('a client leaving a slow route early leaves no socket behind', async () => {
    const own = await startFaultKit();
    try {
      const outcome = await call(`${own.url}/slow-body?ms=1000&chunks=5`, { timeout: 100 });
      expect(outcome.error?.code).toBe('TEST_TIMEOUT');
      await eventually(() => own.openSockets() === 0);
    } finally {
      await own.close();
    }
  });
});

describe('content routes', () => {
  it('/echo describes the request it got', async () => {
    const outcome = await call(`${kit.url}/echo?q=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'abc' },
      body: '{"hello":"world"}',
    });
    expect(outcome.status).toBe(200);
    expect(outcome.headers['content-type']).toBe('application/json; charset=utf-8');
    const echo = JSON.parse(outcome.body.toString());
    expect(echo).toMatchObject({
      method: 'POST',
      url: '/echo?q=1',
      bodyLength: 17,
      bodySha256: createHash('sha256').update('{"hello":"world"}').digest('hex'),
      body: '{"hello":"world"}',
    });
    expect(echo.headers).toMatchObject({ 'content-type': 'application/json', 'x-request-id': 'abc' });
  });

  it('/echo leaves out bodies over 64 KiB but still hashes them', async () => {
    const big = Buffer.alloc(64 * 1024 + 1, 'b');
    const echo = JSON.parse((await call(`${kit.url}/echo`, { method: 'PUT', body: big })).body.toString());
    expect(echo.bodyLength).toBe(big.length);
    expect(echo.bodySha256).toBe(createHash('sha256').update(big).digest('hex'));
    expect(echo).not.toHaveProperty('body');
  });

  it('/big streams N MiB as 64 KiB chunks', async () => {
    const { bytes } = await rawExchange(kit.port, 'GET /big?mib=1 HTTP/1.1\r\nHost: kit\r\nConnection: close\r\n\r\n');
    const text = bytes.toString('latin1');
    const [head, ...rest] = text.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head!.toLowerCase()).toContain('transfer-encoding: chunked');
    const body = rest.join('\r\n\r\n');
    const sizes = [...body.matchAll(/(?:^|\r\n)([0-9a-f]+)\r\n/g)].map((m) => parseInt(m[1]!, 16));
    expect(sizes).toEqual([...Array(16).fill(65536), 0]);
  });

  it('/big delivers every byte to a client that pauses', async () => {
    const total = await new Promise<number>((resolve, reject) => {
      http
        .get(`${kit.url}/big?mib=8`, { agent: false }, (res) => {
          let received = 0;
          res.pause();
          setTimeout(() => res.resume(), 100);
          res.on('data', (chunk: Buffer) => (received += chunk.length));
          res.on('end', () => resolve(received));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    expect(total).toBe(8 * 1024 * 1024);
  });

  it('/big stops writing while the client does not read (backpressure)', async () => {
    const write = vi.spyOn(http.ServerResponse.prototype, 'write');
    const socket = net.connect(kit.port, '127.0.0.1');
    try {
      socket.pause(); // never read: only kernel buffers and one highWaterMark may fill
      socket.write('GET /big?mib=256 HTTP/1.1\r\nHost: kit\r\nConnection: close\r\n\r\n');
      await eventually(() => write.mock.calls.length > 0);
      await new Promise((r) => setTimeout(r, 300));
      // 256 MiB is 4096 chunks; a server ignoring write() === false would have queued them all.
      expect(write.mock.calls.length).toBeLessThan(1024);
    } finally {
      write.mockRestore();
      socket.destroy();
    }
  });

  it('/redirect answers 302 to its own /ok', async () => {
    const outcome = await call(`${kit.url}/redirect`);
    expect(outcome.status).toBe(302);
    expect(outcome.headers.location).toBe(`${kit.url}/ok`);
  });

  it('/set-cookie sets a cookie for the upstream domain', async () => {
    const outcome = await call(`${kit.url}/set-cookie`);
    expect(outcome.status).toBe(200);
    expect(outcome.headers['set-cookie']).toEqual(['a=1; Domain=upstream.local; Path=/']);
  });

  it('/retry-after-date sends 503 with an IMF-fixdate s seconds ahead', async () => {
    const outcome = await call(`${kit.url}/retry-after-date?s=120`);
    expect(outcome.status).toBe(503);
    const value = outcome.headers['retry-after']!;
    expect(value).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    const seconds = (Date.parse(value) - Date.now()) / 1000;
    expect(seconds).toBeGreaterThan(117);
    expect(seconds).toBeLessThanOrEqual(120);
  });
});

describe('sockets, keep-alive and close()', () => {
  const toClose: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(toClose.splice(0).map((s) => s.close()));
  });

  it('openSockets() counts idle keep-alive sockets until the client drops them', async () => {
    const own = await startFaultKit();
    toClose.push(own);
    const agent = new http.Agent({ keepAlive: true });
    expect((await call(`${own.url}/ok`, { agent })).status).toBe(200);
    expect(own.openSockets()).toBe(1);
    expect((await call(`${own.url}/ok`, { agent })).status).toBe(200);
    expect(own.openSockets()).toBe(1);
    agent.destroy();
    await eventually(() => own.openSockets() === 0);
  });

  // Node 20.20 closes the idle socket about 1 s after keepAliveTimeout (a fixed grace period
  // against the client-side race), and advertises `Keep-Alive: timeout=0` below 1000 ms.
  it('closes idle sockets after keepAliveTimeout', async () => {
    const own = await startFaultKit({ keepAliveTimeout: 100 });
    toClose.push(own);
    const { bytes, closedAfter } = await rawExchange(own.port, 'GET /ok HTTP/1.1\r\nHost: kit\r\n\r\n');
    expect(bytes.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
    expect(closedAfter).toBeGreaterThanOrEqual(90);
  });

  it('keeps idle sockets for 5 s by default', async () => {
    const own = await startFaultKit();
    toClose.push(own);
    const outcome = await call(`${own.url}/ok`, { agent: new http.Agent({ keepAlive: true }) });
    expect(outcome.headers['keep-alive']).toBe('timeout=5');
  });

  it('close() destroys hanging sockets, resolves, and frees the port', async () => {
    const own = await startFaultKit();
    const hanging = call(`${own.url}/hang`);
    const slow = call(`${own.url}/slow-head?ms=10000`);
    await eventually(() => own.total === 2);
    expect(own.openSockets()).toBe(2);
    const closing = own.close();
    expect(own.close()).toBe(closing);
    await closing;
    expect(own.openSockets()).toBe(0);
    expect((await hanging).error?.code).toBe('ECONNRESET');
    expect((await slow).error?.code).toBe('ECONNRESET');
    expect((await call(`${own.url}/ok`)).error?.code).toBe('ECONNREFUSED');
  });
});

describe('tls', () => {
  let tlsKit: FaultKit;
  beforeAll(async () => {
    tlsKit = await startFaultKit({ tls: true });
  });
  afterAll(async () => {
    await tlsKit.close();
  });

  it('serves the same routes over https to a client that trusts the fixture', async () => {
    expect(tlsKit.url).toBe(`https://127.0.0.1:${tlsKit.port}`);
    const { cert } = readTlsFixture();
    const outcome = await call(`${tlsKit.url}/ok`, { ca: cert });
    expect(outcome.status).toBe(200);
    expect(outcome.body.toString()).toBe('ok');
    expect((await call(`https://localhost:${tlsKit.port}/flaky/1?key=t`, { ca: cert })).status).toBe(503);
    expect(tlsKit.attempts('/flaky/1?key=t')).toBe(1);
    const redirect = await call(`${tlsKit.url}/redirect`, { ca: cert });
    expect(redirect.headers.location).toBe(`${tlsKit.url}/ok`);
  });

  it('fails certificate verification for a client that does not trust it', async () => {
    const outcome = await call(`${tlsKit.url}/ok?key=untrusted`);
    // Node 24 appends a hint about installing the root CA to the message.
    expect(outcome.error).toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: expect.stringMatching(/^self-signed certificate/) });
    expect(tlsKit.attempts('/ok?key=untrusted')).toBe(0);
  });

  it('injects raw faults inside TLS too', async () => {
    const { cert } = readTlsFixture();
    expect((await call(`${tlsKit.url}/malformed`, { ca: cert })).error?.code).toBe('HPE_INVALID_STATUS');
    expect((await call(`${tlsKit.url}/reset`, { ca: cert })).error?.code).toBe('ECONNRESET');
  });

  it('uses the committed fixture: CN=localhost, SAN localhost and 127.0.0.1, valid for a century', () => {
    const x509 = new X509Certificate(readTlsFixture().cert);
    expect(x509.subject).toBe('CN=localhost');
    expect(x509.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(new Date(x509.validTo).getUTCFullYear()).toBeGreaterThanOrEqual(2120);
    expect(x509.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });
});

describe('closedPort', () => {
  it('returns a port where connecting is refused', async () => {
    const port = await closedPort();
    const outcome = await call(`http://127.0.0.1:${port}/`);
    expect(outcome.error).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect' });
  });
});

describe('startRawServer', () => {
  const toClose: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(toClose.splice(0).map((s) => s.close()));
  });

  it('answers every connection with the raw bytes, then closes', async () => {
    const raw = await startRawServer('garbage\r\n\r\n');
    toClose.push(raw);
    expect(raw.url).toBe(`http://127.0.0.1:${raw.port}`);
    const first = await call(raw.url);
    expect(first.error).toMatchObject({ code: 'HPE_INVALID_CONSTANT', message: 'Parse Error: Expected HTTP/, RTSP/ or ICE/' });
    await call(raw.url);
    expect(raw.connections()).toBe(2);
  });

  it('accepts a Buffer, e.g. a head that promises more body than it sends', async () => {
    const raw = await startRawServer(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab'));
    toClose.push(raw);
    const outcome = await call(raw.url);
    expect(outcome).toMatchObject({ status: 200, phase: 'response' });
    expect(outcome.body.toString()).toBe('ab');
    expect(outcome.error).toMatchObject({ code: 'ECONNRESET', message: 'aborted' });
  });

  it('hands the socket to a function, and close() destroys what it left open', async () => {
    const raw = await startRawServer(() => {
      // hold the connection and say nothing
    });
    toClose.push(raw);
    const pending = call(raw.url);
    await eventually(() => raw.connections() === 1);
    await raw.close();
    expect((await pending).error).toMatchObject({ code: 'ECONNRESET', message: 'socket hang up' });
  });
});
