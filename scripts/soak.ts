/**
 * The long soak: `npm run soak`. By default 20,000 requests per adapter (Express 5, then Koa 3),
 * 30% of them to a random upstream fault, 20 at a time, loopback only, at most 5 minutes per
 * adapter. Prints the figures and exits non-zero when an answer was malformed or unexpected, the
 * heap grew after GC, a warning or unhandled rejection appeared, or the gateway stopped answering.
 * Then the failover soak: the same number of requests through three targets while one at a time
 * is killed, answers 503, resets or hangs; it fails on a GET not answered 200, a POST received
 * twice (or answered 200 and not received once), a warning, or a handle left behind.
 *
 *   npm run soak -- --requests 5000 --concurrency 50 --fault-rate 0.5 --adapter koa --seed 7
 *   npm run soak -- --scenario failover
 *
 * The short variant of the same soak runs in `npm test` (test/reliability/soak-short.test.ts).
 */
import { parseArgs } from 'node:util';
import { expressMount, koaMount, type Mount } from '../test/support/apps.js';
import { formatReport, fullGc, soak } from '../test/reliability/soak.js';
import { failoverSoak, formatFailoverReport } from '../test/reliability/failover-soak.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '20' },
    'fault-rate': { type: 'string', default: '0.3' },
    adapter: { type: 'string', default: 'both' },
    seed: { type: 'string' },
    'time-limit': { type: 'string', default: '300' },
    scenario: { type: 'string', default: 'both' },
  },
});

function int(name: string, raw: string, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new TypeError(`--${name} must be an integer from 1 to ${max}, got ${raw}`);
  return n;
}

const requests = int('requests', values.requests, 1_000_000);
const concurrency = int('concurrency', values.concurrency, 1000);
const timeLimit = int('time-limit', values['time-limit'], 3600) * 1000;
const faultRate = Number(values['fault-rate']);
if (!(faultRate >= 0 && faultRate <= 1)) throw new TypeError(`--fault-rate must be from 0 to 1, got ${values['fault-rate']}`);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : int('seed', values.seed, 2 ** 31);
const adapters: Array<[string, Mount]> = [];
if (values.adapter === 'both' || values.adapter === 'express') adapters.push(['Express 5', expressMount('express')]);
if (values.adapter === 'both' || values.adapter === 'koa') adapters.push(['Koa 3', koaMount('koa')]);
if (adapters.length === 0) throw new TypeError(`--adapter must be express, koa or both, got ${values.adapter}`);

/** Heap growth after GC tolerated between warm-up and end: about 200 bytes per request after warm-up, at least 2 MiB. */
const maxGrowth = Math.max(2 * 1024 * 1024, (requests - 1000) * 200);

console.log(
  `soak: ${requests} requests per adapter, concurrency ${concurrency}, ${Math.round(faultRate * 100)}% faults, seed ${seed}, ` +
    `at most ${timeLimit / 1000} s per adapter, gc ${fullGc() ? 'available' : 'NOT available (heap figures skipped)'}`,
);

const scenario = values.scenario;
if (!['both', 'faults', 'failover'].includes(scenario)) throw new TypeError(`--scenario must be faults, failover or both, got ${scenario}`);

let failed = false;
for (const [name, mount] of scenario === 'failover' ? [] : adapters) {
  const report = await soak(name, mount, { requests, concurrency, faultRate, timeLimit, seed, log: (line) => console.log(line) });
  console.log(formatReport(report));
  const verdicts: string[] = [];
  if (report.timedOut) verdicts.push('stopped at the time limit');
  if (report.problemCount > 0) verdicts.push(`${report.problemCount} malformed or unexpected answers`);
  if (report.warnings.length > 0) verdicts.push('process warnings');
  if (report.rejections.length > 0) verdicts.push('unhandled rejections');
  if (!report.aliveAtEnd) verdicts.push('not answering at the end');
  if (report.upstreamSocketsAtEnd > 0) verdicts.push(`${report.upstreamSocketsAtEnd} upstream sockets left open`);
  if (report.heapAfterRun !== undefined && report.heapAfterWarmup !== undefined && report.heapAfterRun - report.heapAfterWarmup > maxGrowth) {
    verdicts.push(`heap grew by more than ${(maxGrowth / 1048576).toFixed(1)} MiB after GC`);
  }
  console.log(`  verdict: ${verdicts.length === 0 ? 'OK' : `FAILED (${verdicts.join(', ')})`}\n`);
  failed ||= verdicts.length > 0;
}
for (const [name, mount] of scenario === 'faults' ? [] : adapters) {
  const report = await failoverSoak(name, mount, { requests, concurrency, timeLimit, seed });
  console.log(formatFailoverReport(report));
  const verdicts: string[] = [];
  if (report.timedOut) verdicts.push('stopped at the time limit');
  if (report.getsNot200 > 0) verdicts.push(`${report.getsNot200} GETs not answered 200`);
  if (report.duplicated.length > 0) verdicts.push(`${report.duplicated.length} POSTs received twice`);
  if (report.lost.length > 0) verdicts.push(`${report.lost.length} POSTs answered 200 but not received once`);
  if (report.warnings.length > 0 || report.rejections.length > 0) verdicts.push('process warnings or unhandled rejections');
  if (Object.keys(report.leftHandles).length > 0) verdicts.push('handles left behind');
  console.log(`  verdict: ${verdicts.length === 0 ? 'OK' : `FAILED (${verdicts.join(', ')})`}\n`);
  failed ||= verdicts.length > 0;
}
process.exitCode = failed ? 1 : 0;
