/**
 * The short soak, part of `npm test`: 2,000 requests per adapter, 30% of them to a random
 * upstream fault, 20 at a time. Every answer well-formed and expected, the heap flat after GC,
 * the gateway still answering, no warning and no unhandled rejection. `npm run soak` runs the
 * long one (scripts/soak.ts).
 */
import { describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/apps.js';
import { formatReport, fullGc, soak } from './soak.js';

const REQUESTS = 2000;
/**
 * Heap growth allowed between the warm-up and the end, after a full GC. Lazily built caches
 * (templates' CSP, Intl formats, JIT) settle during the warm-up; a leak of even 1 KiB per request
 * would add about 1.5 MiB over the 1,500 requests after it, so the bound sits above the noise
 * measured here (well under 1 MiB) and below that.
 */
const MAX_HEAP_GROWTH = 1.5 * 1024 * 1024;

describe('short soak', () => {
  for (const { name: adapter, mount } of ADAPTERS) {
    it(`keeps ${adapter} serving well-formed answers through ${REQUESTS} requests with 30% upstream faults`, { timeout: 90_000 }, async () => {
      const report = await soak(adapter, mount, { requests: REQUESTS, concurrency: 20, faultRate: 0.3, timeLimit: 60_000, seed: 20_251_122 });
      console.log(formatReport(report));
      expect(report.timedOut).toBe(false);
      expect(report.answered).toBe(REQUESTS);
      expect(report.problems).toEqual([]);
      expect(report.warnings).toEqual([]);
      expect(report.rejections).toEqual([]);
      expect(report.aliveAtEnd).toBe(true);
      expect(report.upstreamSocketsAtEnd).toBe(0);
      // Without a usable gc() the heap cannot be compared meaningfully; fullGc() says so.
      if (fullGc() !== undefined) {
        expect(report.heapAfterRun! - report.heapAfterWarmup!).toBeLessThan(MAX_HEAP_GROWTH);
      }
    });
  }
});
