/**
 * The fault matrix: every fault of the fault kit x both adapters x GET / HEAD / PUT with body /
 * POST / POST with Idempotency-Key. One data table (fault-matrix.table.ts), one test per cell,
 * and docs/fault-matrix.md rendered from the same table.
 */
import dns from 'node:dns';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { LookupFunction } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS, type Adapter, type MountedApp } from '../support/apps.js';
import { send } from '../support/client.js';
import { closedPort, startFaultKit, type FaultKit } from '../support/fault-kit.js';
import { FAULTS, METHODS, REPLAYABLE, outcomeOf, renderFaultMatrix, type FaultRow, type MatrixMethod } from './fault-matrix.table.js';

/** Faults where no attempt ever got a connection: the answer says the request cannot have gone through. */
const NEVER_CONNECTED: ReadonlySet<string> = new Set(['refused', 'dns']);

const DOC = new URL('../../docs/fault-matrix.md', import.meta.url);

/** The unresolvable host of the DNS row (RFC 6761 reserves `.invalid`). */
const DNS_HOST = 'upstream.invalid';

/**
 * A `lookup` that answers every name the way getaddrinfo answers a name that does not exist.
 * A real `.invalid` lookup goes to whatever resolver the machine has (ENOTFOUND in a few ms here,
 * EAI_AGAIN after seconds on an offline runner); this keeps the matrix deterministic. The shape
 * is Node's own (dns.lookup of a missing name); the one real lookup is the test after the matrix.
 */
const notFound: LookupFunction = (hostname, _options, callback) => {
  const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
    code: 'ENOTFOUND',
    errno: -3008,
    syscall: 'getaddrinfo',
    hostname,
  });
  process.nextTick(() => (callback as (e: NodeJS.ErrnoException) => void)(error));
};

const BODIES: Readonly<Record<MatrixMethod, (key: string) => string | undefined>> = {
  GET: () => undefined,
  HEAD: () => undefined,
  PUT: (key) => `put ${key} ${'é'.repeat(300)}`,
  POST: (key) => JSON.stringify({ order: key, amount: 10 }),
  'POST+key': (key) => JSON.stringify({ order: key, amount: 10, note: 'ü'.repeat(200) }),
};

/** Things only the upstream side knows; none may reach a client without `expose: true`. */
function internals(ports: number[]): string[] {
  return [...ports.map(String), '127.0.0.1', DNS_HOST, 'ECONN', 'ENOTFOUND', 'getaddrinfo', 'HPE_', 'DEPTH_ZERO', 'self-signed', 'self signed', 'hang up'];
}

function describeMatrix({ name: adapter, mount }: Adapter): void {
  describe(`fault matrix on ${adapter}`, () => {
    let kit: FaultKit;
    let tlsKit: FaultKit;
    let closed: number;
    let dnsAgent: http.Agent;

    beforeAll(async () => {
      kit = await startFaultKit({ keepAliveTimeout: 200 });
      tlsKit = await startFaultKit({ tls: true, keepAliveTimeout: 200 });
      closed = await closedPort();
      dnsAgent = new http.Agent({ lookup: notFound });
    });
    afterAll(async () => {
      dnsAgent.destroy();
      await Promise.all([kit.close(), tlsKit.close()]);
    });

    function target(row: FaultRow): string {
      switch (row.upstream) {
        case 'kit':
          return kit.url;
        case 'tls':
          return tlsKit.url;
        case 'closed':
          return `http://127.0.0.1:${closed}`;
        case 'dns':
          return `http://${DNS_HOST}:${kit.port}`;
      }
    }

    for (const row of FAULTS) {
      describe(row.fault, () => {
        for (const method of METHODS) {
          const expected = outcomeOf(row, method);
          const shape = `${expected.status}${expected.proxyStatus ? ` ${expected.proxyStatus}` : ''}, ${expected.attempts} attempt(s)`;
          it(`${method} gets ${shape}`, async () => {
            const key = `${row.id}-${method}`;
            const retries: number[] = [];
            const giveUps: number[] = [];
            let app: MountedApp | undefined;
            try {
              app = await mount({
                errors: {},
                proxies: [
                  {
                    prefix: '/',
                    options: {
                      target: target(row),
                      retry: { baseDelay: 5, maxDelay: 10 },
                      ...(row.upstream === 'dns' && { agent: dnsAgent }),
                      ...row.proxy,
                      onRetry: (e: { attempt: number }) => retries.push(e.attempt),
                      onGiveUp: (e: { attempts: number }) => giveUps.push(e.attempts),
                    },
                  },
                ],
              });
              const body = BODIES[method](key);
              const sep = row.path.includes('?') ? '&' : '?';
              const path = `${row.path}${sep}key=${key}`;
              const r = await send(`${app.url}${path}`, {
                method: method === 'POST+key' ? 'POST' : method,
                headers: {
                  accept: 'application/json',
                  ...(body !== undefined && { 'content-type': 'application/json' }),
                  ...(method === 'POST+key' && { 'idempotency-key': `k-${key}` }),
                },
                ...(body !== undefined && { body }),
              });

              // The whole answer.
              expect(r.status).toBe(expected.status);
              expect(r.headers['proxy-status'] ?? null).toBe(expected.proxyStatus && `gateway-errors; ${expected.proxyStatus}`);
              expect(r.headers['retry-after'] ?? null).toBe(expected.retryAfter);
              expect(r.complete).toBe(expected.complete);
              expect(1 + retries.length).toBe(expected.attempts);
              const upstream = row.upstream === 'tls' ? tlsKit : kit;
              const counted = row.upstream === 'kit' || row.upstream === 'tls' ? upstream.attempts(`${new URL(path, 'http://x').pathname}?key=${key}`) : 0;
              expect(counted).toBe(expected.reached);

              if (expected.proxyStatus === null) {
                expect(r.body).toBe(expected.body);
                expect(giveUps).toEqual([]);
              } else {
                // A gateway error: said once, as problem+json, with no internals.
                expect(giveUps).toEqual([expected.attempts]);
                expect(r.headers['cache-control']).toBe('no-store');
                expect(r.headers['content-type']).toBe('application/problem+json; charset=utf-8');
                if (method === 'HEAD') expect(r.body).toBe('');
                else {
                  const problem = JSON.parse(r.body) as Record<string, unknown>;
                  expect(problem.status).toBe(expected.status);
                  expect(problem.requestId).toBe(r.headers['x-request-id']);
                  // Only a request that may have reached the upstream can have had an effect.
                  expect(problem.mayHaveGoneThrough).toBe(REPLAYABLE[method] || NEVER_CONNECTED.has(row.id) ? undefined : true);
                  if (expected.retryAfter !== null) expect(problem.retryAfter).toBe(Number(expected.retryAfter));
                }
                const everything = JSON.stringify(r.headers) + r.body;
                for (const secret of internals([kit.port, tlsKit.port, closed])) expect(everything).not.toContain(secret);
              }

              // Every request that reached the upstream carried the client's body, byte for byte.
              if (body !== undefined) {
                const seen = upstream.requests.filter((q) => q.url.endsWith(`key=${key}`) && q.body.length > 0);
                for (const q of seen) expect(q.body.toString('utf8')).toBe(body);
                const readsBody = !row.path.includes('reset');
                if (readsBody && expected.reached > 0) expect(seen.length).toBe(expected.reached);
              }
            } finally {
              await app?.close();
            }
          });
        }
      });
    }
  });
}

for (const adapter of ADAPTERS) describeMatrix(adapter);

describe('fault matrix document', () => {
  it('docs/fault-matrix.md is the table the tests run', () => {
    const rendered = renderFaultMatrix();
    if (process.env.UPDATE_FAULT_MATRIX === '1') writeFileSync(DOC, rendered);
    let current = '';
    try {
      current = readFileSync(DOC, 'utf8');
    } catch {
      // Missing: the comparison below fails with the whole document as the difference.
    }
    expect(current, 'regenerate with UPDATE_FAULT_MATRIX=1 npx vitest run test/reliability/fault-matrix.test.ts').toBe(rendered);
  });
});

/**
 * The DNS row with the machine's real resolver, when it answers a `.invalid` name quickly (as it
 * does here); an offline runner answers EAI_AGAIN after a resolver timeout, which is a different
 * row (dns_timeout), so the test is skipped there rather than made flaky.
 */
describe('DNS failure through the real resolver', () => {
  let probe: { code: string | undefined; ms: number } = { code: undefined, ms: 0 };
  beforeAll(async () => {
    const started = Date.now();
    probe = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ code: 'slow', ms: Date.now() - started }), 1500);
      dns.lookup(`probe-${process.pid}.invalid`, (e) => {
        clearTimeout(timer);
        resolve({ code: (e as NodeJS.ErrnoException | null)?.code, ms: Date.now() - started });
      });
    });
  });

  it('answers a .invalid target with 502 dns_error in one attempt, on both adapters', async (ctx) => {
    if (probe.code !== 'ENOTFOUND') ctx.skip(`this resolver answers .invalid with ${probe.code} after ${probe.ms} ms`);
    for (const { mount } of ADAPTERS) {
      const retries: number[] = [];
      const app = await mount({ proxies: [{ prefix: '/', options: { target: `http://${DNS_HOST}`, onRetry: (e: { attempt: number }) => retries.push(e.attempt) } }] });
      try {
        const r = await send(`${app.url}/x`);
        expect(r.status).toBe(502);
        expect(r.headers['proxy-status']).toBe('gateway-errors; error=dns_error');
        expect(retries).toEqual([]);
        expect(r.body).not.toContain(DNS_HOST);
      } finally {
        await app.close();
      }
    }
  });
});
