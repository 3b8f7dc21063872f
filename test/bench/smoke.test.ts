/**
 * The benchmark harness works end to end: a smoke-sized run of `bench/run.js` (its own processes
 * for the upstream and each proxy, autocannon, tables, RESULTS.md, chart.svg) measures every
 * proxy of the healthy-path table. No speed is asserted: only that each row got answers.
 * Needs the built package (dist/), which `npm test` builds first.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KINDS = [
  'bare',
  'hpm',
  'fastify',
  'express-bare',
  'express-hpm',
  'express-hpm-defaults',
  'express-http-proxy',
  'koa-bare',
  'koa-proxies',
  'ours-express',
  'ours-koa',
];

interface Row {
  rps: number;
  p99: number;
  non2xx: number;
  errors: number;
  total: number;
}
interface Paired {
  rps: number;
  p99: number;
  cpu: number;
}
interface Telemetry {
  /** Without the SDK and with it, in the same processes. */
  rows: Record<string, { off: Row; on: Row }>;
  processRows: Record<string, Array<{ off: Row; on: Row; extraCpu: number }>>;
  processes: number;
  paired: Record<string, { rps: number; cpu: number; extraCpu: number }>;
  floor: { metrics: number; both: number };
}
interface Results {
  scenarios: { healthy: Record<string, Row>; healthyPaired: Record<string, Paired> };
  targets: { target: string; measured: string; pass: boolean | null }[];
}

describe('bench harness (smoke run)', () => {
  const out = mkdtempSync(join(tmpdir(), 'gateway-errors-bench-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('measures every healthy-path proxy with a positive rate and writes the table and chart', async () => {
    const json = join(out, 'results.json');
    await new Promise<void>((resolve, reject) => {
      execFile(
        process.execPath,
        [join(ROOT, 'bench/run.js'), '--smoke', '--only', 'healthy', '--out', out, '--json', json],
        { cwd: ROOT, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
        (err, _stdout, stderr) => (err ? reject(new Error(`bench/run.js failed: ${err.message}\n${stderr}`)) : resolve()),
      );
    });

    const results = JSON.parse(readFileSync(json, 'utf8')) as Results;
    const healthy = results.scenarios.healthy;
    expect(Object.keys(healthy).sort()).toEqual([...KINDS].sort());
    for (const kind of KINDS) {
      const row = healthy[kind]!;
      expect(row.rps, `${kind} req/s`).toBeGreaterThan(0);
      expect(row.total, `${kind} answers`).toBeGreaterThan(0);
      expect(row.non2xx + row.errors, `${kind} non-2xx and errors`).toBe(0);
    }
    expect(results.targets.map((t) => t.target)).toContain('Healthy: Express req/s >= 1.0x Express + HPM keep-alive (paired)');
    // The targets' ratios are paired per round: one finite, positive ratio per pair and measure.
    expect(Object.keys(results.scenarios.healthyPaired).sort()).toEqual(['expressVsBare', 'expressVsDefaults', 'expressVsHpm', 'koaVsBare', 'koaVsHpm']);
    for (const [name, p] of Object.entries(results.scenarios.healthyPaired)) {
      for (const v of [p.rps, p.p99, p.cpu]) expect(Number.isFinite(v) && v > 0, `${name}: ${JSON.stringify(p)}`).toBe(true);
    }

    const md = readFileSync(join(out, 'RESULTS.md'), 'utf8');
    for (const label of ['bare Node hop', '@fastify/reply-from on Fastify 5', 'Koa 3 + koa-proxies, defaults', 'gateway-errors on Express 5', 'gateway-errors on Koa 3']) {
      expect(md).toContain(label);
    }
    expect(md).toMatch(/\| machine +\| .+, \d+ cores/);

    const svg = readFileSync(join(out, 'chart.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<rect x=/g)).toHaveLength(KINDS.length);
    expect(svg.match(/fill="#d9480f"/g)).toHaveLength(2); // ours highlighted
  }, 120_000);

  it('measures ours and the SDK floor with and without an OpenTelemetry SDK in the same processes, paired (scenario 9)', async () => {
    const dir = join(out, 'telemetry');
    const json = join(dir, 'results.json');
    // Two processes per subject, as in a full run (the smoke profile has one): the figures are
    // combined over processes there, and that path is the one to prove.
    await new Promise<void>((resolve, reject) => {
      execFile(
        process.execPath,
        [join(ROOT, 'bench/run.js'), '--smoke', '--only', 'telemetry', '--processes', '2', '--out', dir, '--json', json],
        { cwd: ROOT, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
        (err, _stdout, stderr) => (err ? reject(new Error(`bench/run.js failed: ${err.message}\n${stderr}`)) : resolve()),
      );
    });
    const t = (JSON.parse(readFileSync(json, 'utf8')) as { scenarios: { telemetry: Telemetry }; targets: Results['targets'] });
    const { rows, processRows, processes, paired, floor } = t.scenarios.telemetry;
    const names = ['express-bare-recording~both', 'express-bare-recording~metrics', 'koa-bare-recording~metrics', 'ours-express~both', 'ours-express~metrics', 'ours-koa~metrics'];
    expect(Object.keys(rows).sort()).toEqual(names);
    for (const [name, { off, on }] of Object.entries(rows)) {
      for (const [state, row] of [['without', off], ['with', on]] as const) {
        expect(row.total, `${name} ${state} the SDK: answers`).toBeGreaterThan(0);
        expect(row.non2xx + row.errors, `${name} ${state} the SDK: non-2xx and errors`).toBe(0);
      }
    }
    // Every subject ran in both processes, each measured without and with its SDK, and the
    // round figures add up the processes' answers.
    expect(processes).toBe(2);
    expect(Object.keys(processRows).sort()).toEqual(names);
    for (const [name, each] of Object.entries(processRows)) {
      expect(each, name).toHaveLength(2);
      for (const state of ['off', 'on'] as const) {
        for (const r of each) expect(r[state].total, `${name}: each process answers (SDK ${state})`).toBeGreaterThan(0);
        expect(each[0]![state].total + each[1]![state].total, `${name}: answers over its processes (SDK ${state})`).toBe(rows[name]![state].total);
      }
    }
    expect(Object.keys(paired).sort()).toEqual(names);
    for (const [name, p] of Object.entries(paired)) {
      for (const v of [p.rps, p.cpu]) expect(Number.isFinite(v) && v > 0, `${name}: ${JSON.stringify(p)}`).toBe(true);
      expect(Number.isFinite(p.extraCpu), `${name}: ${JSON.stringify(p)}`).toBe(true);
    }
    expect(Number.isFinite(floor.metrics) && Number.isFinite(floor.both)).toBe(true);
    expect(t.targets.map((x) => x.target).filter((x) => x.startsWith('Telemetry:'))).toHaveLength(4);
    const md = readFileSync(join(dir, 'RESULTS.md'), 'utf8');
    expect(md).toContain('## 9. With an OpenTelemetry SDK registered');
    expect(md).toContain('Each subject runs in 2 processes');
    expect(md).toContain('process 2: CPU per request without → with, extra (paired)');
  }, 120_000);
});
