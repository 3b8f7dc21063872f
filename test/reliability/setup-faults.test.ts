/**
 * An option the gateway accepts must work on the first request, under load, during an outage:
 * an option that cannot work fails when the app is built (TypeError naming it), never as a 500
 * on every request later.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/apps.js';
import { send } from '../support/client.js';
import { startFaultKit, type FaultKit } from '../support/fault-kit.js';

describe('options that reach the circuit breaker', () => {
  let kit: FaultKit;
  beforeAll(async () => {
    kit = await startFaultKit();
  });
  afterAll(async () => {
    await kit.close();
  });

  for (const { name: adapter, mount } of ADAPTERS) {
    // The contract says failureRate is a ratio "from 0 to 1"; cockatiel's SamplingBreaker takes
    // only (0, 1) and throws a RangeError when the breaker is built, on the first request.
    for (const failureRate of [0, 1]) {
      it(`${adapter}: circuit.failureRate ${failureRate} either fails at setup or proxies`, async () => {
        let app: Awaited<ReturnType<typeof mount>> | undefined;
        try {
          app = await mount({ proxies: [{ prefix: '/', options: { target: kit.url, circuit: { failureRate } } }] });
        } catch (err) {
          expect(err).toBeInstanceOf(TypeError);
          expect(String(err)).toContain('circuit.failureRate');
          return;
        }
        try {
          const r = await send(`${app.url}/ok`);
          expect(`${r.status} ${r.body}`).toBe('200 ok');
        } finally {
          await app.close();
        }
      });
    }
  }
});
