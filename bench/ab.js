#!/usr/bin/env node
/**
 * A/B: the healthy path for a few subjects, alternating rounds, medians — to measure one change.
 *
 *   node bench/ab.js ours-express express-hpm
 *   node bench/ab.js ours-express 'ours-express@{"circuit":false}'   (options for ours)
 *   node bench/ab.js ours-express ours-express~metrics   (~metrics|traces|both: that subject's
 *                                                          process registers an OpenTelemetry
 *                                                          SDK first, see servers/proxy.js)
 *   node bench/ab.js ours-express ours-express=/tmp/patched   (a patched copy of the built
 *                                                              package: dist/, templates/,
 *                                                              package.json, node_modules link)
 *   --rounds 5 --seconds 3 --connections 50 --path /ok?size=1024 --extra '{"retry":false}'
 *   --header 'accept: text/html' (repeatable)   --errors (error answers are what is measured)
 *
 * Compare two subjects at a time with many short rounds (--rounds 10 --seconds 1) on a shared
 * machine: the ratios are paired per round, so drifts in other load cancel out. Run an A/A
 * first (the same subject twice) to see the noise floor; --processes 3 runs each subject in
 * three processes and averages them, since processes of the same code differ too.
 */
import { fileURLToPath } from 'node:url';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startProxy, startUpstream } from './lib/child.js';
import { alternate, get, load, loadThrough, median, summarize } from './lib/load.js';
import { int, mdTable, ms } from './lib/report.js';
import { snapshotPackage } from './lib/package.js';

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    path: { type: 'string', default: '/ok?size=1024' },
    extra: { type: 'string' },
    header: { type: 'string', multiple: true },
    errors: { type: 'boolean', default: false },
    processes: { type: 'string', default: '1' },
  },
});
const pkg = await snapshotPackage(ROOT);
const upstream = await startUpstream();
/** `kind[~otel][=DIR][@{"json":"options"}]` */
const subjects = positionals.map((spec) => {
  const at = spec.indexOf('@');
  const [head, dir] = (at === -1 ? spec : spec.slice(0, at)).split('=');
  const [kind, otel] = head.split('~');
  const extra = at === -1 ? (o.extra ? JSON.parse(o.extra) : undefined) : JSON.parse(spec.slice(at + 1));
  return { spec, kind, dir: dir ?? pkg, extra, otel: otel ?? process.env.BENCH_OTEL ?? '' };
});
// Several processes per subject: two processes of the same code differ by up to ±15-20% on a
// 2-core VM (JIT decisions, heap layout), so a change smaller than that needs --processes 3.
const instances = subjects.flatMap((s) => Array.from({ length: Number(o.processes) }, (_, k) => ({ ...s, of: s, k })));
const children = await Promise.all(
  instances.map((s) => startProxy(s.kind, upstream.url, s.extra, { name: `${s.spec}#${s.k}`, env: { BENCH_PACKAGE_DIR: s.dir, BENCH_OTEL: s.otel } })),
);
const urlOf = new Map(instances.map((s, i) => [s, `${children[i].url}${o.path}`]));
const childOf = new Map(instances.map((s, i) => [s, children[i]]));
const connections = Number(o.connections);
const headers = Object.fromEntries((o.header ?? []).map((h) => [h.slice(0, h.indexOf(':')).trim(), h.slice(h.indexOf(':') + 1).trim()]));
for (const [s, url] of urlOf) {
  const r = await get(url, headers);
  if (r.status !== 200 && !o.errors) throw new Error(`${s.spec}: ${url} answered ${r.status}`);
}
const instanceRuns = await alternate(instances, {
  rounds: Number(o.rounds),
  warm: async (s) => void (await load({ url: urlOf.get(s), headers, connections, seconds: 2 })),
  measure: async (s, round) => {
    const r = await loadThrough(childOf.get(s), { url: urlOf.get(s), headers, connections, seconds: Number(o.seconds) });
    if ((o.errors ? 0 : r.non2xx) + r.errors > 0) throw new Error(`${s.spec}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
    process.stderr.write(`  round ${round + 1} ${s.spec}#${s.k}: ${int(r.rps)} req/s, ${r.cpu.toFixed(0)} µs CPU per request\n`);
    return r;
  },
});
await Promise.all(children.map((c) => c.close()));
/** Per subject and round: the mean over its processes. */
const runs = new Map(
  subjects.map((s) => {
    const mine = instances.filter((i) => i.of === s).map((i) => instanceRuns.get(i));
    return [s, mine[0].map((_, round) => ({ ...mine[0][round], rps: mean(mine.map((m) => m[round].rps)), cpu: mean(mine.map((m) => m[round].cpu)) }))];
  }),
);
await upstream.close();
rmSync(pkg, { recursive: true, force: true });
// Paired ratios: each subject against the first one in the same round (they ran back to back),
// so slow drifts in other load on the machine cancel out; the median of those is reported.
const base = runs.get(subjects[0]);
const paired = (s, key) => median(runs.get(s).map((r, i) => r[key] / base[i][key]));
const rows = subjects.map((s) => [s, summarize(runs.get(s))]);
console.log(
  mdTable(
    ['subject', 'req/s', 'p50', 'p99', 'CPU µs per request', `req/s vs ${subjects[0].spec} (paired)`, `CPU vs ${subjects[0].spec} (paired)`, 'rounds (req/s)'],
    rows.map(([s, r]) => [s.spec, int(r.rps), ms(r.p50), ms(r.p99), r.cpu.toFixed(0), `${paired(s, 'rps').toFixed(2)}x`, `${paired(s, 'cpu').toFixed(2)}x`, r.rounds.map(int).join(' / ')]),
  ),
);
