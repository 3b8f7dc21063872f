/**
 * Resilience beyond retries, one suite for every adapter: retry budget, circuit breaker,
 * deadlines and timeouts, concurrency limit, and the observability hooks.
 */
import diagnostics from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { CHANNELS } from '../../src/core/observe/events.js';
import { startBlackhole } from '../support/blackhole.js';
import { delay, send, type Answer } from '../support/client.js';
import { useGatewayFixture } from '../support/gateway-fixture.js';
import type { Adapter } from '../support/apps.js';

const JSON_ACCEPT = { accept: 'application/json' };

/** Run `total` requests, `concurrency` at a time. */
async function load(total: number, concurrency: number, one: (i: number) => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) answers.push(await one(next++));
    }),
  );
  return answers;
}

export function describeResilience({ name, mount }: Adapter): void {
  describe(`resilience on ${name}`, () => {
    const fx = useGatewayFixture(mount, 'r');
    const k = fx.key;

    function gateway(proxy: Record<string, unknown>, target = fx.kit.url): Promise<string> {
      return fx.mount({ proxies: [{ prefix: '/', options: { target, ...proxy } }] });
    }

    describe('retry budget', () => {
      it('keeps upstream attempts per request near 1 + ratio while everything fails', async () => {
        const url = await gateway({ circuit: false, budget: { ratio: 0.2, minPerSecond: 1 }, retry: { baseDelay: 1, maxDelay: 2 } });
        const key = k();
        const answers = await load(200, 10, () => send(`${url}/status/503?key=${key}`));
        expect(answers.every((a) => a.status === 503)).toBe(true);
        const perRequest = fx.kit.attempts(`/status/503?key=${key}`) / 200;
        // 200 requests may fund 0.2 * 200 = 40 retries plus the floor of 1/s over a 10 s window.
        expect(perRequest).toBeGreaterThan(1);
        expect(perRequest).toBeLessThanOrEqual(1.25);
      });

      it('retries three times per request without a budget (what the budget prevents)', async () => {
        const url = await gateway({ circuit: false, budget: false, retry: { baseDelay: 1, maxDelay: 2 } });
        const key = k();
        await load(50, 10, () => send(`${url}/status/503?key=${key}`));
        expect(fx.kit.attempts(`/status/503?key=${key}`)).toBe(150);
      });

      it('reports budget_exhausted when it stops a retry', async () => {
        const reasons: string[] = [];
        const url = await gateway({
          circuit: false,
          budget: { ratio: 0, minPerSecond: 0 },
          onGiveUp: (e: { reason: string }) => reasons.push(e.reason),
        });
        const key = k();
        const r = await send(`${url}/status/503?key=${key}`);
        expect(r.status).toBe(503);
        expect(fx.kit.attempts(`/status/503?key=${key}`)).toBe(1);
        expect(reasons).toEqual(['budget_exhausted']);
      });
    });

    describe('circuit breaker', () => {
      it('opens after consecutive failures, fails fast with Retry-After, then closes after a good probe', async () => {
        const events: string[] = [];
        const url = await gateway({
          retry: false,
          circuit: { consecutiveFailures: 3, halfOpenAfter: 1000 },
          onCircuitOpen: (e: { retryAfter: number }) => events.push(`open ${e.retryAfter}`),
          onCircuitClose: () => events.push('close'),
        });
        const key = k();
        for (let i = 0; i < 3; i++) expect((await send(`${url}/status/503?key=${key}`)).status).toBe(503);
        expect(events).toEqual(['open 1']);

        const okKey = k();
        const fast = await send(`${url}/ok?key=${okKey}`, { headers: JSON_ACCEPT });
        expect(fast.status).toBe(503);
        expect(fast.headers['proxy-status']).toBe('gateway-errors; error=destination_unavailable');
        expect(fast.headers['retry-after']).toBe('1');
        expect(JSON.parse(fast.body).proxyStatus).toBe('destination_unavailable');
        expect(fx.kit.attempts(`/ok?key=${okKey}`)).toBe(0);

        await delay(1100);
        const probe = await send(`${url}/ok?key=${okKey}`);
        expect(probe.status).toBe(200);
        expect(fx.kit.attempts(`/ok?key=${okKey}`)).toBe(1);
        expect(events).toEqual(['open 1', 'close']);
        expect((await send(`${url}/ok?key=${okKey}`)).status).toBe(200);
      });

      it('opens on the failure rate over its window even when failures are not consecutive', async () => {
        let opened = 0;
        const url = await gateway({
          retry: false,
          circuit: { consecutiveFailures: 1000, failureRate: 0.5, window: 1000, minimumRps: 5, halfOpenAfter: 5000 },
          onCircuitOpen: () => opened++,
        });
        const key = k();
        // Alternate failure and success: never two failures in a row, 50% failing.
        for (let i = 0; i < 40 && opened === 0; i++) await send(i % 2 ? `${url}/ok?key=${key}` : `${url}/status/502?key=${key}`);
        expect(opened).toBe(1);
        const r = await send(`${url}/ok?key=${key}`);
        expect(r.status).toBe(503);
        expect(r.headers['proxy-status']).toBe('gateway-errors; error=destination_unavailable');
      });

      it('re-opens when the probe fails', async () => {
        let opened = 0;
        const url = await gateway({ retry: false, circuit: { consecutiveFailures: 2, halfOpenAfter: 1000 }, onCircuitOpen: () => opened++ });
        const key = k();
        await send(`${url}/status/503?key=${key}`);
        await send(`${url}/status/503?key=${key}`);
        expect(opened).toBe(1);
        await delay(1100);
        expect((await send(`${url}/status/503?key=${key}`)).headers['proxy-status']).toBe('gateway-errors; received-status=503');
        expect(opened).toBe(2);
        expect(fx.kit.attempts(`/status/503?key=${key}`)).toBe(3);
        expect((await send(`${url}/status/503?key=${key}`)).headers['proxy-status']).toBe('gateway-errors; error=destination_unavailable');
      });
    });

    describe('deadlines and timeouts', () => {
      it('answers 504 connection_timeout when the connection cannot be established in time', async () => {
        const hole = await startBlackhole();
        try {
          const url = await gateway({ connectTimeout: 150, retry: false }, hole.url);
          const r = await send(`${url}/x`);
          expect(r.status).toBe(504);
          expect(r.headers['proxy-status']).toBe('gateway-errors; error=connection_timeout');
        } finally {
          await hole.close();
        }
      });

      it('gives the client its answer by the deadline under a hanging upstream', async () => {
        const url = await gateway({ deadline: 300, responseTimeout: 10_000, circuit: false });
        const key = k();
        const started = Date.now();
        const r = await send(`${url}/hang?key=${key}`);
        const took = Date.now() - started;
        expect(r.status).toBe(504);
        expect(r.headers['proxy-status']).toBe('gateway-errors; error=http_response_timeout');
        // The deadline, not the 10 s response timeout, ended it (generous bound: this is not a speed test).
        expect(took).toBeLessThan(5000);
        expect(fx.kit.attempts(`/hang?key=${key}`)).toBe(1);
      });

      it('does not start a wait that would end after the deadline', async () => {
        const reasons: string[] = [];
        const url = await gateway({ deadline: 500, onGiveUp: (e: { reason: string }) => reasons.push(e.reason) });
        const key = k();
        const r = await send(`${url}/flaky/1?retry-after=1&key=${key}`);
        expect(r.status).toBe(503);
        expect(r.headers['retry-after']).toBe('1');
        expect(fx.kit.attempts(`/flaky/1?key=${key}`)).toBe(1);
        expect(reasons).toEqual(['deadline']);
      });

      it('ends a streaming body that stays silent past idleTimeout', async () => {
        const url = await gateway({ idleTimeout: 100 });
        const r = await send(`${url}/slow-body?ms=400&chunks=3`);
        expect(r.status).toBe(200);
        expect(r.complete).toBe(false);
      });

      it('lets a body with regular chunks run longer than idleTimeout', async () => {
        const url = await gateway({ idleTimeout: 300 });
        const r = await send(`${url}/slow-body?ms=100&chunks=6`);
        expect(r.complete).toBe(true);
      });
    });

    describe('concurrency limit', () => {
      it('answers 503 connection_limit_reached beyond maxConcurrent instead of queueing', async () => {
        const url = await gateway({ maxConcurrent: 1, retry: false, responseTimeout: 2000 });
        const first = send(`${url}/slow-head?ms=500`);
        await delay(100);
        const second = await send(`${url}/ok`, { headers: JSON_ACCEPT });
        expect(second.status).toBe(503);
        expect(second.headers['proxy-status']).toBe('gateway-errors; error=connection_limit_reached');
        expect(second.headers['retry-after']).toBe('1');
        expect((await first).status).toBe(200);
        expect((await send(`${url}/ok`)).status).toBe(200);
      });
    });

    describe('observability', () => {
      it('publishes retries and give-ups on diagnostics channels', async () => {
        const seen: string[] = [];
        const onRetry = (m: unknown) => seen.push(`retry ${(m as { attempt: number }).attempt}`);
        const onGiveUp = (m: unknown) => seen.push(`give-up ${(m as { failure: { status: number } }).failure.status}`);
        diagnostics.subscribe(CHANNELS.retry, onRetry);
        diagnostics.subscribe(CHANNELS.giveUp, onGiveUp);
        try {
          const url = await gateway({ retry: { retries: 1, baseDelay: 1 } });
          await send(`${url}/status/502?key=${k()}`);
        } finally {
          diagnostics.unsubscribe(CHANNELS.retry, onRetry);
          diagnostics.unsubscribe(CHANNELS.giveUp, onGiveUp);
        }
        expect(seen).toEqual(['retry 1', 'give-up 502']);
      });

      it('logs one line per retry and per failure to a pino-style logger, without upstream internals', async () => {
        const lines: Array<[string, Record<string, unknown>, string | undefined]> = [];
        const logger = {
          info: (o: Record<string, unknown> | string, m?: string) => typeof o === 'object' && lines.push(['info', o, m]),
          warn: (o: Record<string, unknown> | string, m?: string) => typeof o === 'object' && lines.push(['warn', o, m]),
          error: () => undefined,
          debug: () => undefined,
        };
        const url = await gateway({ logger, retry: { retries: 1, baseDelay: 1 } });
        await send(`${url}/reset?key=${k()}`);
        const ours = lines.filter(([, o]) => typeof o.event === 'string');
        expect(ours.map(([level, o]) => `${level} ${o.event}`)).toEqual(['info retry', 'warn give-up']);
        expect(JSON.stringify(ours)).not.toContain('socket hang up');
      });
    });
  });
}
