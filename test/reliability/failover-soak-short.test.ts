/**
 * The short failover soak, part of `npm test`: 3,000 requests per adapter through three targets
 * while faults move between them. `npm run soak` runs a longer one (scripts/soak.ts).
 */
import { describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/apps.js';
import { failoverSoak, formatFailoverReport } from './failover-soak.js';

const REQUESTS = 3000;

describe('short failover soak', () => {
  for (const { name: adapter, mount } of ADAPTERS) {
    it(`loses no GET and duplicates no POST on ${adapter} while one of three targets fails at a time`, { timeout: 90_000 }, async () => {
      const report = await failoverSoak(adapter, mount, { requests: REQUESTS, concurrency: 10, timeLimit: 60_000, seed: 20_261_207 });
      console.log(formatFailoverReport(report));
      expect(report.timedOut).toBe(false);
      expect(report.sent).toBe(REQUESTS);
      expect(report.faults.length).toBeGreaterThanOrEqual(4); // each kind at least once
      expect(report.getsNot200).toBe(0);
      expect(report.duplicated).toEqual([]);
      expect(report.lost).toEqual([]);
      expect(report.warnings).toEqual([]);
      expect(report.rejections).toEqual([]);
      expect(report.leftHandles).toEqual({});
    });
  }
});
