#!/usr/bin/env node
/**
 * A/B: the healthy path for a few subjects, alternating rounds, medians — to measure one change.
 *
 *   node bench/ab.js ours-express express-hpm
 *   node bench/ab.js ours-express ours-express=/tmp/patched   (a patched copy of the built
 *                                                              package: dist/, templates/,
 *                                                              package.json, node_modules link)
 *   --rounds 5 --seconds 3 --connections 50 --path /ok?size=1024 --extra '{"retry":false}'
 */
import { fileURLToPath } from 'node:url';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startProxy, startUpstream } from './lib/child.js';
import { alternate, get, load, loadThrough, summarize } from './lib/load.js';
import { int, mdTable, ms, ratio } from './lib/report.js';
import { snapshotPackage } from './lib/package.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    path: { type: 'string', default: '/ok?size=1024' },
    extra: { type: 'string' },
  },
});
const pkg = await snapshotPackage(ROOT);
const upstream = await startUpstream();
const subjects = positionals.map((spec) => {
  const [kind, dir] = spec.split('=');
  return { spec, kind, dir: dir ?? pkg };
});
const children = await Promise.all(
  subjects.map((s) => startProxy(s.kind, upstream.url, o.extra ? JSON.parse(o.extra) : undefined, { name: s.spec, env: { BENCH_PACKAGE_DIR: s.dir } })),
);
const urlOf = new Map(subjects.map((s, i) => [s, `${children[i].url}${o.path}`]));
const childOf = new Map(subjects.map((s, i) => [s, children[i]]));
const connections = Number(o.connections);
for (const [s, url] of urlOf) {
  const r = await get(url);
  if (r.status !== 200) throw new Error(`${s.spec}: ${url} answered ${r.status}`);
}
const runs = await alternate(subjects, {
  rounds: Number(o.rounds),
  warm: async (s) => void (await load({ url: urlOf.get(s), connections, seconds: 2 })),
  measure: async (s, round) => {
    const r = await loadThrough(childOf.get(s), { url: urlOf.get(s), connections, seconds: Number(o.seconds) });
    if (r.non2xx + r.errors > 0) throw new Error(`${s.spec}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
    process.stderr.write(`  round ${round + 1} ${s.spec}: ${int(r.rps)} req/s, ${r.cpu.toFixed(0)} µs CPU per request\n`);
    return r;
  },
});
await Promise.all(children.map((c) => c.close()));
await upstream.close();
rmSync(pkg, { recursive: true, force: true });
const rows = subjects.map((s) => [s.spec, summarize(runs.get(s))]);
const first = rows[0][1].rps;
const firstCpu = rows[0][1].cpu;
console.log(
  mdTable(
    ['subject', 'req/s', 'p50', 'p99', `req/s vs ${subjects[0].spec}`, 'CPU µs per request', `CPU vs ${subjects[0].spec}`, 'rounds (req/s)'],
    rows.map(([n, r]) => [n, int(r.rps), ms(r.p50), ms(r.p99), ratio(r.rps, first), r.cpu.toFixed(0), ratio(r.cpu, firstCpu), r.rounds.map(int).join(' / ')]),
  ),
);
