/**
 * Exactly once: a POST without Idempotency-Key reaches the upstream at most once, however the
 * upstream fails and recovers around it, and every error the client gets says the request may
 * have gone through. A POST with Idempotency-Key is replayed, and every replay carries the same
 * bytes.
 *
 * Counting happens at the upstream, by a unique id inside each body: what the upstream's
 * application would have acted on.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BUILTIN_LOCALES } from '../../src/core/answer/i18n.js';
import { delay, send, type Answer } from '../support/client.js';
import { startFaultKit, type FaultKit } from '../support/fault-kit.js';
import { describeError, pool, unexpectedErrors, watchProcess, type ProcessWatch } from './harness.js';
import { ADAPTERS, type MountedApp } from '../support/apps.js';

const MAY_HAVE_GONE_THROUGH = BUILTIN_LOCALES.en!.mayHaveGoneThrough;
const ACCEPTS = ['application/json', 'text/html', 'text/plain'] as const;
/** The kit's faults that read the whole request body before failing, and the one that does not (reset). */
const MODES = ['status', 'status&code=502', 'reset', 'hang', 'die-mid-body', 'malformed', 'dup-cl', 'bad-status'] as const;

/** How an answer to a POST without Idempotency-Key tells the client it may have gone through. */
function saysMayHaveGoneThrough(r: Answer, accept: (typeof ACCEPTS)[number]): boolean {
  if (accept === 'application/json') return JSON.parse(r.body).mayHaveGoneThrough === true;
  // HTML escapes the apostrophe-free sentence unchanged; text carries it verbatim.
  return r.body.includes(MAY_HAVE_GONE_THROUGH);
}

/** Ids in the bodies the upstream received, with how often each arrived. */
function arrivals(bodies: Buffer[]): Map<string, number> {
  const seen = new Map<string, number>();
  for (const b of bodies) {
    if (b.length === 0) continue; // a reset before the body was read: nothing arrived
    const id = (JSON.parse(b.toString('utf8')) as { id: string }).id;
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  return seen;
}

/**
 * A real upstream that can go down and come back on the same port, counting each body id it
 * receives. Stands for an application server being restarted under traffic.
 */
async function restartableUpstream(): Promise<{
  port: number;
  seen: Map<string, number>;
  up(): Promise<void>;
  down(): Promise<void>;
}> {
  const seen = new Map<string, number>();
  let server: http.Server | undefined;
  const sockets = new Set<Socket>();
  let port = 0;
  const self = {
    get port() {
      return port;
    },
    seen,
    async up() {
      const s = http.createServer((req, res) => {
        const parts: Buffer[] = [];
        req.on('data', (c: Buffer) => parts.push(c));
        req.on('end', () => {
          const id = (JSON.parse(Buffer.concat(parts).toString('utf8')) as { id: string }).id;
          seen.set(id, (seen.get(id) ?? 0) + 1);
          res.end(`done ${id}`);
        });
      });
      s.keepAliveTimeout = 200;
      s.on('connection', (c) => {
        sockets.add(c);
        c.once('close', () => sockets.delete(c));
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      port = (s.address() as AddressInfo).port;
      server = s;
    },
    async down() {
      const s = server;
      server = undefined;
      if (!s) return;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      for (const c of sockets) c.destroy();
      await closed;
    },
  };
  return self;
}

for (const { name: adapter, mount } of ADAPTERS) {
  describe(`exactly once on ${adapter}`, () => {
    let kit: FaultKit;
    let app: MountedApp | undefined;
    let watch: ProcessWatch;

    beforeAll(async () => {
      kit = await startFaultKit({ keepAliveTimeout: 200 });
    });
    afterAll(async () => {
      await kit.close();
    });
    beforeEach(() => {
      watch = watchProcess();
    });
    afterEach(async () => {
      await app?.close();
      app = undefined;
      watch.stop();
      expect(watch.warnings.map(String)).toEqual([]);
      expect(watch.rejections.map(describeError)).toEqual([]);
    });

    it('sends each POST without Idempotency-Key once through every kind of fault, and says so on every error', async () => {
      const N = 160;
      const failing = 80; // the first 80 attempts fail, in whatever order they arrive
      const counter = `eo-${adapter.replace(/\W/g, '')}`;
      // No circuit breaker here: every POST must meet the fault itself, so the replay decision is
      // exercised for each kind (the breaker's own answers are met in the restart test below).
      app = await mount({ errors: {}, proxy: { target: kit.url, responseTimeout: 1000, retry: { baseDelay: 5, maxDelay: 10 }, circuit: false } });
      const answers: Array<{ id: string; accept: (typeof ACCEPTS)[number]; r: Answer }> = [];
      await pool(N, 16, async (i) => {
        const id = `${counter}-${i}-${randomBytes(4).toString('hex')}`;
        const accept = ACCEPTS[i % ACCEPTS.length]!;
        const mode = MODES[i % MODES.length]!;
        const r = await send(`${app!.url}/flaky/${failing}?key=${counter}&mode=${mode}`, {
          method: 'POST',
          headers: { accept, 'content-type': 'application/json' },
          body: JSON.stringify({ id, amount: i }),
        });
        answers.push({ id, accept, r });
      });

      // Each POST reached the upstream exactly once (none was replayed, none was lost on the way)...
      expect(kit.attempts(`/flaky/${failing}?key=${counter}`)).toBe(N);
      // ...and the upstream's application saw each body at most once.
      const seen = arrivals(kit.requests.filter((q) => q.url.includes(`key=${counter}&`)).map((q) => q.body));
      expect([...seen.values()].filter((n) => n > 1)).toEqual([]);

      let errors = 0;
      let cut = 0;
      for (const { id, accept, r } of answers) {
        if (r.status === 200 && r.complete && r.body === 'recovered') {
          expect(seen.get(id), id).toBe(1);
        } else if (r.status === 200) {
          // dies mid-body: the head had gone out, the client sees a cut connection.
          expect(r.complete).toBe(false);
          expect(seen.get(id), id).toBe(1);
          cut += 1;
        } else {
          expect([502, 503, 504]).toContain(r.status);
          expect(saysMayHaveGoneThrough(r, accept), `${r.status} ${accept} for ${id}: ${r.body.slice(0, 200)}`).toBe(true);
          errors += 1;
        }
      }
      expect(errors + cut).toBe(failing);
      expect(unexpectedErrors(app.errors)).toEqual([]);
      // A response cut because the upstream died is not an error of the app, in either framework.
      expect(app.errors).toEqual([]);
    });

    it('sends each POST at most once while the upstream restarts under traffic, and says on every error whether it may have gone through', async () => {
      const upstream = await restartableUpstream();
      await upstream.up();
      try {
        // Defaults but a quick half-open probe, so recovery is seen within the test.
        app = await mount({ errors: {}, proxy: { target: `http://127.0.0.1:${upstream.port}`, retry: { baseDelay: 5, maxDelay: 10 }, circuit: { halfOpenAfter: 200 } } });
        const answers: Array<{ id: string; r: Answer; phase: string }> = [];
        let phase: 'up' | 'down' | 'back' = 'up';
        let answered = 0;
        let downAnswers = 0;
        let backOk = 0;
        const hardStop = Date.now() + 8000; // bounded whatever happens
        let sent = 0;
        const worker = async (): Promise<void> => {
          while (Date.now() < hardStop && !(phase === 'back' && backOk >= 30)) {
            const id = `restart-${sent++}-${randomBytes(4).toString('hex')}`;
            const at = phase;
            const r = await send(`${app!.url}/orders`, {
              method: 'POST',
              headers: { accept: 'application/json', 'content-type': 'application/json' },
              body: JSON.stringify({ id }),
            });
            answers.push({ id, r, phase: at });
            answered += 1;
            if (phase === 'up' && answered >= 40) {
              phase = 'down';
              await upstream.down();
            } else if (phase === 'down' && ++downAnswers >= 40) {
              phase = 'back';
              await upstream.up();
            } else if (phase === 'back' && at === 'back' && r.status === 200) backOk += 1;
            if (r.status !== 200) await delay(5); // a client that pauses after an error, as real ones do
          }
        };
        await Promise.all(Array.from({ length: 10 }, worker));

        expect([...upstream.seen.values()].filter((n) => n > 1)).toEqual([]);
        const sum = [...upstream.seen.values()].reduce((a, b) => a + b, 0);
        expect(sum).toBeLessThanOrEqual(answers.length);
        const failures = new Map<string, number>();
        for (const { id, r } of answers) {
          if (r.status === 200) {
            expect(r.body).toBe(`done ${id}`);
            expect(upstream.seen.get(id)).toBe(1);
          } else {
            expect([502, 503, 504]).toContain(r.status);
            const problem = JSON.parse(r.body) as Record<string, unknown>;
            const type = String(r.headers['proxy-status']);
            // Refused or fast-failed while the upstream was down: nothing was sent, and the
            // answer says so; anything else may have had an effect, and the answer says that.
            const neverSent = /error=(connection_refused|destination_unavailable)$/.test(type);
            expect(problem.mayHaveGoneThrough, `${r.status} ${r.body}`).toBe(neverSent ? undefined : true);
            failures.set(type, (failures.get(type) ?? 0) + 1);
          }
        }
        // The scenario happened: failures while down, successes on both sides of the restart.
        expect(failures.size).toBeGreaterThan(0);
        expect(answers.some((a) => a.phase === 'up' && a.r.status === 200)).toBe(true);
        expect(backOk).toBeGreaterThanOrEqual(30);
        expect(unexpectedErrors(app.errors)).toEqual([]);
      } finally {
        await upstream.down();
      }
    });

    it('replays a POST with Idempotency-Key with byte-identical bodies on every attempt', async () => {
      // Every request fails twice on purpose: with breaker and budget off, each one gets its
      // two replays, which is what this test is about (both are tested by their owners).
      app = await mount({
        errors: {},
        proxy: { target: kit.url, responseTimeout: 1000, retry: { baseDelay: 5, maxDelay: 10 }, circuit: false, budget: false },
      });
      const sizes = [0, 1, 17, 1024, 64 * 1024 - 1, 64 * 1024 + 1, 200 * 1024];
      const cases = sizes.flatMap((size, i) =>
        (['status', 'hang', 'reset'] as const).map((mode, j) => ({ size, mode, chunked: (i + j) % 2 === 0, key: `idem-${adapter.replace(/\W/g, '')}-${i}-${mode}` })),
      );
      await pool(cases.length, 6, async (c) => {
        const { size, mode, chunked, key } = cases[c]!;
        const body = randomBytes(size); // arbitrary bytes: invalid UTF-8 included
        const chunks = chunked ? [body.subarray(0, size >> 1), body.subarray(size >> 1)] : [body];
        const r = await send(`${app!.url}/flaky/2?key=${key}&mode=${mode}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/octet-stream',
            'idempotency-key': key,
            ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(size) }),
          },
          body: chunks,
        });
        expect(r.status, key).toBe(200);
        expect(r.body).toBe('recovered');
        expect(kit.attempts(`/flaky/2?key=${key}`)).toBe(3);
        const seen = kit.requests.filter((q) => q.url.includes(`key=${key}&`));
        expect(seen.length).toBe(3);
        const want = createHash('sha256').update(body).digest('hex');
        // A reset happens before the upstream reads the body; every attempt that was read is identical.
        const read = mode === 'reset' ? seen.slice(2) : seen;
        for (const q of read) {
          expect(q.body.length, key).toBe(size);
          expect(createHash('sha256').update(q.body).digest('hex'), key).toBe(want);
        }
      });
      expect(unexpectedErrors(app.errors)).toEqual([]);
    });
  });
}
