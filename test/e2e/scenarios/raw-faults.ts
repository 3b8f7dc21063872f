/** Upstreams that break HTTP itself. */
import { describe, expect, it } from 'vitest';
import { startRawServer } from '../../support/fault-kit.js';
import { send } from '../../support/client.js';
import type { ScenarioContext } from './context.js';

export function describeRawFaults({ gateway }: ScenarioContext): void {
  describe('raw upstream faults', () => {
    it('answers a duplicate Content-Length with 502 http_protocol_error', async () => {
      const url = await gateway();
      const r = await send(`${url}/dup-cl`);
      expect(r.status).toBe(502);
      expect(r.headers['proxy-status']).toBe('gateway-errors; error=http_protocol_error');
    });

    it('answers garbage from a raw server with 502 http_protocol_error', async () => {
      const raw = await startRawServer('HELLO THERE\r\n\r\n');
      try {
        const url = await gateway({ proxy: { target: raw.url } });
        const r = await send(`${url}/x`);
        expect(r.status).toBe(502);
        expect(r.headers['proxy-status']).toBe('gateway-errors; error=http_protocol_error');
        expect(raw.connections()).toBe(1);
      } finally {
        await raw.close();
      }
    });
  });
}
