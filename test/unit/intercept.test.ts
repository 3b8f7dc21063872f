/**
 * The status interceptor (intercept.ts) on real Node responses over real sockets: a handler's
 * 502/503/504 becomes the branded answer whichever of writeHead/write/end puts it on the wire,
 * everything else passes as written. Both places the wrappers can live are covered: a bare Node
 * response (wrappers as own properties) and a framework's response class (wrappers on its
 * prototype), the way Express's `res` inherits from `express.response`.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILTIN_LOCALES } from '../../src/core/answer/i18n.js';
import { createInterceptor, responderOf, setResponder, writeReply } from '../../src/core/answer/intercept.js';
import { createResponder, kHandled, type Responder } from '../../src/core/answer/respond.js';
import { listen, type MountedApp } from '../support/apps.js';
import { send, type Answer } from '../support/client.js';

const intercept = createInterceptor();
/** What gatewayErrors() does for each Express request: its responder answers, its interceptor watches. */
function interceptGatewayStatuses(req: IncomingMessage, res: ServerResponse, responder: Responder): void {
  setResponder(req, responder);
  intercept(res);
}

const en = BUILTIN_LOCALES.en!;
const servers: MountedApp[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real server whose every request goes through interceptGatewayStatuses, then `handler`. */
async function serveBare(responder: Responder, handler: Handler): Promise<string> {
  const server = await listen((req, res) => {
    interceptGatewayStatuses(req, res, responder);
    handler(req, res);
  });
  servers.push(server);
  return server.url;
}

/** Like serve(), with responses built from a subclass of ServerResponse (a framework's prototype). */
async function serveSubclass(responder: Responder, handler: Handler): Promise<string> {
  class AppResponse extends http.ServerResponse {}
  const server = http.createServer({ ServerResponse: AppResponse }, (req, res) => {
    interceptGatewayStatuses(req, res, responder);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as import('node:net').AddressInfo;
  servers.push({ url: '', port, errors: [], openConnections: () => 0, close: () => new Promise<void>((r) => server.close(() => r())) });
  return `http://127.0.0.1:${port}`;
}

const plain = createResponder();
const extras = createResponder({ extraStatuses: [429, 500] });
const keeping = createResponder({ keepUpstreamBody: true });

const branded503 = (retryAfter: number): string => `503 ${en.statuses['503'].title}\n\n${en.statuses['503'].detail}\n${en.retryIn.replace('{seconds}', String(retryAfter))}\n\n${en.reference}: r1\n`;
const branded = (status: 502 | 504 | 429 | 500): string => `${status} ${en.statuses[status].title}\n\n${en.statuses[status].detail}\n\n${en.reference}: r1\n`;

interface Row {
  readonly name: string;
  readonly responder: Responder;
  readonly handler: Handler;
  readonly method?: string;
  readonly expected: { status: number; body: string; headers?: Record<string, string | undefined> };
}

const rows: Row[] = [
  {
    name: 'writeHead(503) with a Retry-After set before: branded, the handler\'s Retry-After kept, its other headers gone',
    responder: plain,
    handler: (_q, res) => {
      res.setHeader('retry-after', '7');
      res.setHeader('x-mine', '1');
      res.writeHead(503).end('mine');
    },
    expected: { status: 503, body: branded503(7), headers: { 'retry-after': '7', 'x-mine': undefined, 'content-type': 'text/plain; charset=utf-8' } },
  },
  {
    name: 'statusCode 502 then end(): branded from end()',
    responder: plain,
    handler: (_q, res) => {
      res.statusCode = 502;
      res.setHeader('content-type', 'application/json');
      res.end('{"mine":true}');
    },
    expected: { status: 502, body: branded(502), headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } },
  },
  {
    name: 'statusCode 504 then write() and end(): branded from write(), the rest dropped',
    responder: plain,
    handler: (_q, res) => {
      res.statusCode = 504;
      res.write('part one, ');
      res.end('part two');
    },
    expected: { status: 504, body: branded(504) },
  },
  {
    name: 'an invalid Retry-After on a 503: replaced by the default, never echoed',
    responder: plain,
    handler: (_q, res) => {
      res.setHeader('retry-after', 'soon');
      res.writeHead(503).end();
    },
    expected: { status: 503, body: branded503(30), headers: { 'retry-after': '30' } },
  },
  {
    name: 'a 200 passes as written',
    responder: plain,
    handler: (_q, res) => res.writeHead(200, { 'x-mine': '1' }).end('fine'),
    expected: { status: 200, body: 'fine', headers: { 'x-mine': '1' } },
  },
  {
    name: 'a 500 passes as written by default',
    responder: plain,
    handler: (_q, res) => res.writeHead(500).end('oops'),
    expected: { status: 500, body: 'oops' },
  },
  {
    name: 'a 501 passes as written',
    responder: extras,
    handler: (_q, res) => res.writeHead(501).end('no'),
    expected: { status: 501, body: 'no' },
  },
  {
    name: 'a handler\'s own 429, listed in extraStatuses: branded',
    responder: extras,
    handler: (_q, res) => res.writeHead(429).end('slow down'),
    expected: { status: 429, body: branded(429) },
  },
  {
    name: 'a 500 relayed from an upstream (Connection header set, as http-proxy does), listed: passes as written',
    responder: extras,
    handler: (_q, res) => {
      res.setHeader('connection', 'keep-alive');
      res.writeHead(500).end('upstream body');
    },
    expected: { status: 500, body: 'upstream body' },
  },
  {
    name: 'a 503 with a Connection header: branded all the same',
    responder: plain,
    handler: (_q, res) => {
      res.setHeader('connection', 'keep-alive');
      res.setHeader('retry-after', '4');
      res.writeHead(503).end('x');
    },
    expected: { status: 503, body: branded503(4) },
  },
  {
    name: 'a response already marked handled: passes as written',
    responder: plain,
    handler: (_q, res) => {
      (res as ServerResponse & { [kHandled]?: boolean })[kHandled] = true;
      res.writeHead(503).end('ours already');
    },
    expected: { status: 503, body: 'ours already' },
  },
  {
    name: 'keepUpstreamBody: the handler\'s body kept, the headers made right',
    responder: keeping,
    handler: (_q, res) => {
      res.setHeader('retry-after', 'soon');
      res.setHeader('content-type', 'text/plain');
      res.writeHead(503).end('mine');
    },
    expected: { status: 503, body: 'mine', headers: { 'retry-after': '30', 'x-request-id': 'r1', 'content-type': 'text/plain', 'proxy-status': undefined } },
  },
  {
    name: 'writeHead(503, { retry-after }) as an object: read like one set before',
    responder: plain,
    handler: (_q, res) => res.writeHead(503, { 'retry-after': '120', 'x-mine': '1' }).end('mine'),
    expected: { status: 503, body: branded503(120), headers: { 'retry-after': '120', 'x-mine': undefined } },
  },
  {
    name: 'writeHead(503, message, [name, value, ...]): the flat array form and a status message',
    responder: plain,
    handler: (_q, res) => res.writeHead(503, 'Busy', ['Retry-After', '9']).end('mine'),
    expected: { status: 503, body: branded503(9), headers: { 'retry-after': '9' } },
  },
  {
    name: 'keepUpstreamBody with an invalid Retry-After given to writeHead: corrected, never echoed',
    responder: keeping,
    handler: (_q, res) => res.writeHead(503, { 'retry-after': 'soon', 'content-type': 'text/plain' }).end('mine'),
    expected: { status: 503, body: 'mine', headers: { 'retry-after': '30', 'content-type': 'text/plain' } },
  },
  {
    name: 'a 500 relayed with its Connection header given to writeHead, listed: passes as written',
    responder: extras,
    handler: (_q, res) => res.writeHead(500, { connection: 'keep-alive' }).end('upstream body'),
    expected: { status: 500, body: 'upstream body' },
  },
  {
    name: 'a HEAD: the branded head, no body',
    responder: plain,
    method: 'HEAD',
    handler: (_q, res) => res.writeHead(502).end(),
    expected: { status: 502, body: '', headers: { 'content-length': String(Buffer.byteLength(branded(502))) } },
  },
];

describe.each([
  ['a bare Node response', serveBare],
  ['a framework\'s response class', serveSubclass],
] as const)('interceptGatewayStatuses on %s', (_kind, start) => {
  it.each(rows)('$name', async ({ responder, handler, method, expected }) => {
    const url = await start(responder, handler);
    const r: Answer = await send(`${url}/x`, { method: method ?? 'GET', headers: { 'x-request-id': 'r1' } });
    expect([r.status, r.body, r.complete]).toEqual([expected.status, expected.body, true]);
    for (const [name, value] of Object.entries(expected.headers ?? {})) expect(r.headers[name], name).toBe(value);
  });

  it('leaves the end() callback of the handler called once', async () => {
    let calls = 0;
    const url = await start(plain, (_q, res) => {
      res.statusCode = 503;
      res.end('x', () => calls++);
    });
    const r = await send(`${url}/x`);
    expect(r.status).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls).toBe(1);
  });
});

describe('responderOf', () => {
  it('is the responder of the nearest gatewayErrors() on this request, and nothing before', async () => {
    const seen: Array<Responder | undefined> = [];
    const server = await listen((req, res) => {
      seen.push(responderOf(req));
      interceptGatewayStatuses(req, res, plain);
      seen.push(responderOf(req));
      interceptGatewayStatuses(req, res, extras); // a nested gatewayErrors(): the nearer one wins
      seen.push(responderOf(req));
      res.end();
    });
    servers.push(server);
    await send(`${server.url}/`);
    expect(seen).toEqual([undefined, plain, extras]);
  });
});

describe('writeReply', () => {
  const reply = { status: 502, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': '3' }, body: 'bad' };
  it.each<[string, Handler, { status: number; body: string; complete: boolean; stale?: string }]>([
    ['on a fresh response: the reply, and headers set before are gone', (_q, res) => {
      res.setHeader('x-stale', '1');
      writeReply(res, reply);
    }, { status: 502, body: 'bad', complete: true }],
    ['after the head left: the connection is cut, the client sees an incomplete answer', (_q, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setTimeout(() => writeReply(res, reply), 10);
    }, { status: 200, body: 'partial', complete: false }],
  ])('%s', async (_name, handler, expected) => {
    const server = await listen(handler);
    servers.push(server);
    const r = await send(`${server.url}/`);
    expect({ status: r.status, body: r.body, complete: r.complete }).toEqual(expected);
    expect(r.headers['x-stale']).toBeUndefined();
  });

  it('marks the response handled, so the interceptor leaves it alone', async () => {
    const server = await listen((req, res) => {
      interceptGatewayStatuses(req, res, plain);
      writeReply(res, { status: 503, headers: { 'content-length': '4' }, body: 'mine' });
    });
    servers.push(server);
    const r = await send(`${server.url}/`);
    expect([r.status, r.body]).toEqual([503, 'mine']);
  });
});
