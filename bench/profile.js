#!/usr/bin/env node
/**
 * Profile our hot path: the gateway (built package) under healthy-path load with
 * `node --cpu-prof`, then a summary of where its CPU time went.
 *
 *   node bench/profile.js [ours-express|ours-koa|<any kind>] [--seconds 10] [--connections 50]
 *                         [--path /ok?size=1024] [--extra '{"retry":false}'] [--keep]
 *                         [--callers functionName]...   (who calls it: the heaviest stacks)
 *                         [--package DIR]   a patched copy of the built package instead of dist/
 *                         [--header 'accept: text/html']...
 *
 * Prints self time by package (ours, http-proxy, express, node internals, GC...) and the top
 * self-time functions overall and of our own code. Run `npm run build` first.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startProxy, startUpstream } from './lib/child.js';
import { load } from './lib/load.js';
import { snapshotPackage } from './lib/package.js';
import { int, mdTable } from './lib/report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    path: { type: 'string', default: '/ok?size=1024' },
    extra: { type: 'string' },
    keep: { type: 'boolean', default: false },
    top: { type: 'string', default: '25' },
    callers: { type: 'string', multiple: true },
    package: { type: 'string' },
    header: { type: 'string', multiple: true },
    json: { type: 'string' },
  },
});
const kind = positionals[0] ?? 'ours-express';
const dir = join(ROOT, 'bench', '.tmp', `profile-${process.pid}`);
mkdirSync(dir, { recursive: true });

const pkg = o.package ?? (await snapshotPackage(ROOT));
process.env.BENCH_PACKAGE_DIR = pkg;
const upstream = await startUpstream();
const proxy = await startProxy(kind, upstream.url, o.extra ? JSON.parse(o.extra) : undefined, {
  execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=200'],
});
const url = `${proxy.url}${o.path}`;
const headers = Object.fromEntries((o.header ?? []).map((h) => [h.slice(0, h.indexOf(':')).trim(), h.slice(h.indexOf(':') + 1).trim()]));
const connections = Number(o.connections);
await load({ url, headers, connections, seconds: 2 }); // warm-up: let the JIT settle
const r = await load({ url, headers, connections, seconds: Number(o.seconds) });
await proxy.close(); // exiting writes the profile
await upstream.close();
if (!o.package) rmSync(pkg, { recursive: true, force: true });

const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
if (!file) throw new Error(`no profile written in ${dir}`);
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
if (!o.keep) rmSync(dir, { recursive: true, force: true });

/** Self time (µs) per node id from samples and time deltas. */
const self = new Map();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const total = [...self.values()].reduce((a, b) => a + b, 0);

function packageOf(url) {
  if (!url) return '';
  if (url.startsWith('node:')) return 'node internals';
  const m = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/g);
  if (m) return m[m.length - 1].slice('node_modules/'.length);
  if (url.includes(pkg) || url.includes('/dist/') || url.includes('/src/')) return 'gateway-errors (ours)';
  if (url.includes('/bench/')) return 'bench harness';
  return url;
}
const short = (url) => url.replace(pkg, '<pkg>').replace(/^file:\/\/.*?\/node_modules\//, '').replace(/^file:\/\/.*\/(?=<pkg>)/, '');

const byPackage = new Map();
const byFunction = new Map();
for (const [id, us] of self) {
  const n = nodes.get(id);
  const cf = n.callFrame;
  const pkgName = packageOf(cf.url) || cf.functionName || '(native)';
  byPackage.set(pkgName, (byPackage.get(pkgName) ?? 0) + us);
  const key = `${cf.functionName || '(anonymous)'}\u0000${cf.url}\u0000${cf.lineNumber}`;
  const f = byFunction.get(key) ?? { name: cf.functionName || '(anonymous)', url: cf.url, line: cf.lineNumber + 1, us: 0, pkg: pkgName };
  f.us += us;
  byFunction.set(key, f);
}

/** Inclusive time of our functions: self plus everything they called (counted once per stack). */
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const inclusive = new Map();
for (const [id, us] of self) {
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const cf = nodes.get(cur).callFrame;
    if (packageOf(cf.url) !== 'gateway-errors (ours)') continue;
    const key = `${cf.functionName || '(anonymous)'} ${short(cf.url)}:${cf.lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
}

/** Node internals and natives charged to the nearest package frame above them: who caused the work. */
const byCause = new Map();
for (const [id, us] of self) {
  let cause = '(no JS caller: GC, idle, program)';
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const cf = nodes.get(cur).callFrame;
    const p = packageOf(cf.url);
    if (p && p !== 'node internals') {
      cause = p;
      break;
    }
    if (cf.url.startsWith('node:') && /^node:(internal\/process\/task_queues|events)$/.test(cf.url) === false && cause.startsWith('(')) cause = 'node internals (no package above)';
  }
  byCause.set(cause, (byCause.get(cause) ?? 0) + us);
}

if (o.json) {
  const fns = Object.fromEntries([...byFunction.values()].map((f) => [`${f.name} ${short(f.url)}:${f.line}`, f.us / r.total]));
  writeFileSync(o.json, JSON.stringify({ kind, rps: r.rps, perRequest: total / r.total, functions: fns }));
}
const pct = (us) => `${((100 * us) / total).toFixed(1)}%`;
const top = Number(o.top);
console.log(`\nProfile of ${kind} under ${connections} connections for ${o.seconds} s on ${o.path}: ${int(r.rps)} req/s, p99 ${r.p99} ms (sampling slows it a little)`);
console.log(`Per request: ${((total / r.total)).toFixed(1)} µs of sampled CPU in the proxy process\n`);
console.log('### Self time by package\n');
console.log(mdTable(['package', 'self time', 'µs per request'], [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([p, us]) => [p, pct(us), (us / r.total).toFixed(1)])));
console.log('\n### Time by cause (natives and node internals charged to the nearest package frame above them)\n');
console.log(mdTable(['caused by', 'time', 'µs per request'], [...byCause].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([p, us]) => [p, pct(us), (us / r.total).toFixed(1)])));
console.log('\n### Top self-time functions, all code\n');
console.log(mdTable(['function', 'where', 'self'], [...byFunction.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => [f.name, `${short(f.url)}:${f.line}`, pct(f.us)]), ['l', 'l', 'r']));
console.log('\n### Our functions by self time\n');
console.log(mdTable(['function', 'where', 'self', 'µs per request'], [...byFunction.values()].filter((f) => f.pkg === 'gateway-errors (ours)').sort((a, b) => b.us - a.us).slice(0, top).map((f) => [f.name, `${short(f.url)}:${f.line}`, pct(f.us), (f.us / r.total).toFixed(2)]), ['l', 'l', 'r', 'r']));
console.log('\n### Our functions by inclusive time (self + callees)\n');
console.log(mdTable(['function', 'inclusive', 'µs per request'], [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => [k, pct(us), (us / r.total).toFixed(1)]), ['l', 'r', 'r']));

for (const name of o.callers ?? []) {
  const stacks = new Map();
  for (const [id, us] of self) {
    const chain = [];
    let hit = false;
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = nodes.get(cur).callFrame;
      if (!hit && cf.functionName !== name) continue;
      hit = true;
      chain.push(`${cf.functionName || '(anonymous)'} ${short(cf.url)}:${cf.lineNumber + 1}`);
      if (chain.length >= 8) break;
    }
    if (!hit) continue;
    const key = chain.join('\n    <- ');
    stacks.set(key, (stacks.get(key) ?? 0) + us);
  }
  console.log(`\n### Heaviest stacks through ${name}\n`);
  for (const [k, us] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 5)) console.log(`${pct(us)}  ${k}\n`);
}
