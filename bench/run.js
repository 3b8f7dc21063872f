#!/usr/bin/env node
/**
 * `npm run bench`: gateway-errors next to what users would pick instead, in one run, as ratios.
 *
 * Every server (the upstream, each proxy) runs in its own process on 127.0.0.1; autocannon
 * drives the load from this one. Each measurement is warmed up first, repeated over alternating
 * rounds, and reported as the median. Ours is imported from the built package (dist/).
 *
 *   node bench/run.js            full run (about 16 minutes on 2 cores), writes bench/RESULTS.md
 *                                and bench/chart.svg
 *   node bench/run.js --quick    one round, one process each, same scenarios (about 2 minutes)
 *   node bench/run.js --smoke    a few seconds: proves the harness works end to end
 *   --out DIR                    where RESULTS.md and chart.svg go (default: bench/)
 *   --json FILE                  also write every figure as JSON
 *   --only healthy,errors,outage,fastfail,memory,growth,targets,stale,telemetry
 *   --max-wait SECONDS           wait at most this long for other work on the machine to calm
 *                                down before starting (default 120; quick 30; smoke 0)
 *   --processes N                processes per subject where subjects run in several (healthy
 *                                path: ours and the peers its targets name; telemetry: every
 *                                subject); default: the profile's (full 3, quick and smoke 1)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startProxy, startUpstream } from './lib/child.js';
import { alternate, combine, get, load, loadThrough, median, pool, sleep, summarize } from './lib/load.js';
import { meter } from './lib/noise.js';
import { snapshotPackage } from './lib/package.js';
import { telemetryScenario, telemetrySection, telemetryTargets } from './lib/telemetry.js';
import { barChart, fixed, int, mdTable, mib, ms, ratio } from './lib/report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    out: { type: 'string' },
    json: { type: 'string' },
    only: { type: 'string' },
    'max-wait': { type: 'string' },
    processes: { type: 'string' },
  },
});

/**
 * Durations in seconds; sizes; rounds. Many short rounds rather than a few long ones: on a shared
 * machine a burst of other work spoils one round, and the median of eight shrugs it off.
 */
const PROFILES = {
  full: {
    rounds: 8, processes: 3, seconds: 1.5, warm: 1.5, errorSeconds: 0.75, outageWarm: 2, outageSeconds: 5, fastFailSeconds: 0.75,
    streamMiB: 256, slowCount: 1000, slowMs: 2000, memoryRounds: 2, growthRounds: 2, growthSeconds: 1.5, growthWarm: 0.5,
  },
  quick: {
    rounds: 1, processes: 1, seconds: 1.5, warm: 0.7, errorSeconds: 1, outageWarm: 1, outageSeconds: 2, fastFailSeconds: 1.5,
    streamMiB: 256, slowCount: 1000, slowMs: 1000, memoryRounds: 1, growthRounds: 1, growthSeconds: 1, growthWarm: 0.3,
  },
  smoke: {
    rounds: 1, processes: 1, seconds: 0.2, warm: 0.1, errorSeconds: 0.2, outageWarm: 0.1, outageSeconds: 0.3, fastFailSeconds: 0.25,
    streamMiB: 8, slowCount: 50, slowMs: 100, memoryRounds: 1, growthRounds: 1, growthSeconds: 0.2, growthWarm: 0.05,
  },
};
const mode = args.smoke ? 'smoke' : args.quick ? 'quick' : 'full';
const P = { ...PROFILES[mode], ...(args.processes && { processes: Number(args.processes) }) };
if (!(Number.isInteger(P.processes) && P.processes >= 1)) throw new Error(`--processes: expected a whole number >= 1, got ${args.processes}`);
const CONNECTIONS = 50;
const SCENARIOS = ['healthy', 'errors', 'outage', 'fastfail', 'memory', 'growth', 'targets', 'stale', 'telemetry'];
const only = new Set(args.only ? args.only.split(',') : SCENARIOS);
for (const s of only) if (!SCENARIOS.includes(s)) throw new Error(`--only: unknown scenario ${s} (known: ${SCENARIOS.join(', ')})`);
const outDir = args.out ?? join(ROOT, 'bench');


/** The healthy-path subjects, in the order of the issue's table, ours last. */
const PEERS = [
  { kind: 'bare', label: 'bare Node hop (http.request + keep-alive agent)' },
  { kind: 'hpm', label: 'http-proxy-middleware alone, keep-alive agent' },
  { kind: 'fastify', label: '@fastify/reply-from on Fastify 5' },
  { kind: 'express-bare', label: 'Express 5 + bare Node hop' },
  { kind: 'express-hpm', label: 'Express 5 + http-proxy-middleware, keep-alive agent' },
  { kind: 'express-hpm-defaults', label: 'Express 5 + http-proxy-middleware, defaults' },
  { kind: 'express-http-proxy', label: 'Express 5 + express-http-proxy, defaults' },
  { kind: 'koa-bare', label: 'Koa 3 + bare Node hop' },
  { kind: 'koa-proxies', label: 'Koa 3 + koa-proxies, defaults' },
  { kind: 'ours-express', label: 'gateway-errors on Express 5 (retries on)', ours: true },
  { kind: 'ours-koa', label: 'gateway-errors on Koa 3 (retries on)', ours: true },
];
const labelOf = Object.fromEntries(PEERS.map((p) => [p.kind, p.label]));
/**
 * The order they run in each round (reversed every other round): each of ours next to what it is
 * measured against, so a target ratio compares two measurements taken seconds apart, not a
 * whole round apart while the machine drifts.
 */
const RUN_ORDER = ['bare', 'fastify', 'express-http-proxy', 'koa-proxies', ['express-hpm', 'ours-express', 'express-hpm-defaults', 'express-bare'], ['hpm', 'ours-koa', 'koa-bare']];
/**
 * The subjects in a group run in `P.processes` processes each, interleaved (peer #1, ours #1,
 * peer #2, ours #2, ...), and a round's figure for them is the mean over their processes. Two
 * processes of the same code differ by up to ±10 % in CPU per request on a 2-core VM (JIT
 * decisions, heap layout: an A/A run of bench/ab.js shows it), which one process per subject
 * would put straight into a target's ratio, as large as the differences the targets judge.
 */
const MULTI = new Set(RUN_ORDER.filter(Array.isArray).flat());
/** The name of process `k` of a subject: the kind itself for the first. */
const instance = (kind, k) => (k === 0 ? kind : `${kind}#${k + 1}`);
const instancesOf = (kind) => Array.from({ length: MULTI.has(kind) ? P.processes : 1 }, (_, k) => instance(kind, k));
/** Every process in the order it runs. */
const RUN_INSTANCES = RUN_ORDER.flatMap((g) =>
  Array.isArray(g) ? Array.from({ length: P.processes }, (_, k) => g.map((kind) => instance(kind, k))).flat() : [g],
);

/** The targets' pairs: [ours, peer]. */
const PAIRS = {
  expressVsHpm: ['ours-express', 'express-hpm'],
  expressVsDefaults: ['ours-express', 'express-hpm-defaults'],
  koaVsHpm: ['ours-koa', 'hpm'],
  // The floor for any middleware in each framework (issue 16).
  expressVsBare: ['ours-express', 'express-bare'],
  koaVsBare: ['ours-koa', 'koa-bare'],
};

const results = { mode, machine: machine(), scenarios: {} };
const sections = [];
const started = Date.now();
const log = (...a) => console.log(...a);
/** One line per measurement on stderr, so a long run shows where it is. */
const progress = (line) => process.stderr.write(`  ${line}\n`);

function machine() {
  const cpus = os.cpus();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    // What was measured is the working tree: say so when it differs from the commit.
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'templates'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(3));
    if (dirty.length) commit += ` + uncommitted changes in ${dirty.join(', ')}`;
  } catch {}
  const version = (name) => {
    try {
      return JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      return '?';
    }
  };
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    date: new Date().toISOString(),
    commit,
    versions: Object.fromEntries(
      ['express', 'koa', 'http-proxy-middleware', 'http-proxy', 'fastify', '@fastify/reply-from', 'express-http-proxy', 'koa-proxies', 'autocannon'].map(
        (n) => [n, version(n)],
      ),
    ),
  };
}

/** A port nothing listens on: bound, then released. */
async function closedPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function closeAll(children) {
  await Promise.all(children.map((c) => c.close()));
}

function section(title, body) {
  sections.push(`## ${title}\n\n${body}\n`);
  log(`\n## ${title}\n\n${body}\n`);
}

// --- 1. Healthy path --------------------------------------------------------------------------

/** Runs the healthy path and keeps its proxies for the cost-growth scenario. */
async function healthy(upstream, proxies) {
  const url = (kind) => `${proxies.get(kind).url}/ok?size=1024`;
  const byInstance = await alternate(RUN_INSTANCES, {
    rounds: P.rounds,
    warm: async (kind) => void (await load({ url: url(kind), connections: CONNECTIONS, seconds: P.warm })),
    measure: async (kind, round) => {
      const r = await loadThrough(proxies.get(kind), { url: url(kind), connections: CONNECTIONS, seconds: P.seconds });
      progress(`healthy round ${round + 1} ${kind}: ${int(r.rps)} req/s, p99 ${ms(r.p99)}, ${int(r.cpu)} µs CPU per request`);
      return r;
    },
  });
  const runs = new Map(
    PEERS.map((p) => {
      const each = instancesOf(p.kind).map((name) => byInstance.get(name));
      return [p.kind, each[0].map((_, round) => combine(each.map((rs) => rs[round])))];
    }),
  );
  const rows = {};
  for (const [kind, r] of runs) rows[kind] = summarize(r);
  results.scenarios.healthy = rows;
  // Each process's own median, to show how far processes of the same code differ.
  results.scenarios.healthyProcesses = Object.fromEntries(
    [...MULTI].map((kind) => [kind, instancesOf(kind).map((name) => summarize(byInstance.get(name)))]),
  );
  // Paired: the ratio within each round (the two ran back to back), then the median over rounds.
  const paired = (a, b, key) => median(runs.get(a).map((r, i) => r[key] / runs.get(b)[i][key]));
  results.scenarios.healthyPaired = Object.fromEntries(
    Object.entries(PAIRS).map(([name, [a, b]]) => [name, { rps: paired(a, b, 'rps'), p99: paired(a, b, 'p99'), cpu: paired(a, b, 'cpu') }]),
  );
  const hp = results.scenarios.healthyPaired;
  const bare = rows.bare.rps;
  const table = mdTable(
    ['proxy', 'req/s', 'p50', 'p99', 'vs bare hop', 'proxy CPU per request', 'rounds (req/s)', 'non-2xx / errors'],
    PEERS.map((p) => {
      const r = rows[p.kind];
      return [p.ours ? `**${p.label}**` : p.label, int(r.rps), ms(r.p50), ms(r.p99), ratio(r.rps, bare), `${int(r.cpu)} µs`, r.rounds.map(int).join(' / '), `${r.non2xx} / ${r.errors}`];
    }),
  );
  const e = rows['ours-express'];
  const k = rows['ours-koa'];
  const x = (v) => `${fixed(v)}x`;
  const ratios = mdTable(
    ['ratio (req/s)', 'paired per round, median', 'of the medians', 'target'],
    [
      ['gateway-errors on Express / Express + HPM keep-alive', x(hp.expressVsHpm.rps), ratio(e.rps, rows['express-hpm'].rps), '>= 1.0x'],
      ['gateway-errors on Express / Express + HPM defaults', x(hp.expressVsDefaults.rps), ratio(e.rps, rows['express-hpm-defaults'].rps), '>= 2x'],
      ['gateway-errors on Express / Express + bare hop', x(hp.expressVsBare.rps), ratio(e.rps, rows['express-bare'].rps), '>= 0.95x'],
      ['gateway-errors on Express / Express + express-http-proxy', '', ratio(e.rps, rows['express-http-proxy'].rps), ''],
      ['gateway-errors on Express / @fastify/reply-from', '', ratio(e.rps, rows.fastify.rps), ''],
      ['gateway-errors on Koa / HPM alone, keep-alive', x(hp.koaVsHpm.rps), ratio(k.rps, rows.hpm.rps), '>= 0.8x'],
      ['gateway-errors on Koa / Koa + koa-proxies', '', ratio(k.rps, rows['koa-proxies'].rps), ''],
      ['gateway-errors on Koa / Koa + bare hop', x(hp.koaVsBare.rps), ratio(k.rps, rows['koa-bare'].rps), '>= 0.90x'],
      ['gateway-errors on Koa / bare hop', '', ratio(k.rps, bare), ''],
    ],
    ['l', 'r', 'r', 'r'],
  );
  const cpu = mdTable(
    ['CPU per request of the proxy process (lower is better; steadier than req/s on a shared machine)', 'ratio'],
    [
      ['gateway-errors on Express / Express + HPM keep-alive', ratio(e.cpu, rows['express-hpm'].cpu)],
      ['gateway-errors on Express / Express + bare hop', ratio(e.cpu, rows['express-bare'].cpu)],
      ['gateway-errors on Koa / HPM alone, keep-alive', ratio(k.cpu, rows.hpm.cpu)],
      ['gateway-errors on Koa / Koa + koa-proxies', ratio(k.cpu, rows['koa-proxies'].cpu)],
    ],
    ['l', 'r'],
  );
  section(
    `1. Healthy path: 1 KiB answers, ${CONNECTIONS} connections, retries on`,
    `GET /ok (1 KiB) through each proxy to one upstream process. Warm-up ${P.warm} s each, then ${P.rounds} round(s) of ${P.seconds} s, order reversed every other round; medians. Each of ours runs right next to the peers its targets name; the targets use the ratio within each round (paired), then the median over rounds, which cancels the machine's drift between rounds.${P.processes > 1 ? ` Ours and the peers the targets name run in ${P.processes} processes each, interleaved, and a round's figure for them is the mean over their processes: processes of the same code differ by up to ±10 % here (per-process medians below).` : ''} CPU per request: the proxy process's user + system time over the run divided by its answers.\n\n${table}\n\n${ratios}\n\n${cpu}${processTable()}`,
  );
}

/** Each process's median, for the subjects that run in several. */
function processTable() {
  if (P.processes <= 1) return '';
  const per = results.scenarios.healthyProcesses;
  return (
    '\n\n' +
    mdTable(
      ['proxy (per process)', ...Array.from({ length: P.processes }, (_, k) => `process ${k + 1}: req/s, CPU per request`)],
      [...MULTI].map((kind) => [labelOf[kind], ...per[kind].map((r) => `${int(r.rps)}, ${int(r.cpu)} µs`)]),
    )
  );
}

// --- 6. Cost growth ----------------------------------------------------------------------------

const GROWTH_KINDS = ['bare', 'express-hpm', 'ours-express', 'ours-koa'];

async function growth(proxies) {
  const configs = [
    { name: '1 KiB, 50 connections', size: 1024, connections: 50 },
    { name: '64 KiB, 50 connections', size: 64 * 1024, connections: 50 },
    { name: '1 MiB, 50 connections', size: 1024 * 1024, connections: 50 },
    { name: '1 KiB, 10 connections', size: 1024, connections: 10 },
    { name: '1 KiB, 100 connections', size: 1024, connections: 100 },
    { name: '1 KiB, 500 connections', size: 1024, connections: 500 },
  ];
  const rows = [];
  const data = {};
  // A smoke run only proves the scenario works.
  for (const c of mode === 'smoke' ? configs.slice(0, 2) : configs) {
    const url = (kind) => `${proxies.get(kind).url}/ok?size=${c.size}`;
    const runs = await alternate(GROWTH_KINDS, {
      rounds: P.growthRounds,
      warm: async (kind) => void (await load({ url: url(kind), connections: c.connections, seconds: P.growthWarm })),
      measure: async (kind, round) => {
        const r = await load({ url: url(kind), connections: c.connections, seconds: P.growthSeconds });
        progress(`growth ${c.name} round ${round + 1} ${kind}: ${int(r.rps)} req/s, p99 ${ms(r.p99)}`);
        return r;
      },
    });
    const s = Object.fromEntries([...runs].map(([kind, r]) => [kind, summarize(r)]));
    data[c.name] = s;
    rows.push([
      c.name,
      ...GROWTH_KINDS.map((kind) => `${int(s[kind].rps)} (p99 ${ms(s[kind].p99)})`),
      ratio(s['ours-express'].rps, s['express-hpm'].rps),
      ratio(s['ours-express'].rps, s.bare.rps),
    ]);
  }
  results.scenarios.growth = data;
  section(
    '6. Cost growth: answer size and connections',
    `req/s (p99) per configuration; ${P.growthRounds} alternating round(s) of ${P.growthSeconds} s after a ${P.growthWarm} s warm-up; medians. Bytes per second = req/s x size.\n\n` +
      mdTable(
        ['answer, connections', 'bare Node hop', 'Express 5 + HPM keep-alive', '**gateway-errors Express**', '**gateway-errors Koa**', 'ours Express / HPM', 'ours Express / bare'],
        rows,
      ),
  );
}

// --- 7. Two targets against one ----------------------------------------------------------------

/**
 * What balancing costs on the healthy path: ours with `targets` over two ports of the one
 * upstream process against ours with one `target`, so both have the same upstream capacity and
 * the difference is the per-attempt pick (power of two choices) and per-target bookkeeping.
 * Each runs in `P.processes` processes, interleaved, as the healthy path's groups do: a difference
 * this small is well inside what two processes of the same code differ by.
 */
async function twoTargets(upstream) {
  const kinds = [
    { key: 'one', label: 'gateway-errors on Express 5, one `target`', extra: undefined },
    { key: 'two', label: 'gateway-errors on Express 5, `targets` of two (two ports, one upstream process)', extra: { targets: [upstream.url, upstream.url2] } },
  ];
  const instances = Array.from({ length: P.processes }, (_, k) => kinds.map((s) => ({ ...s, k }))).flat();
  const children = await Promise.all(instances.map((s) => startProxy('ours-express', upstream.url, s.extra, { name: `ours-express (${s.key} target${s.key === 'one' ? '' : 's'})#${s.k + 1}` })));
  instances.forEach((s, i) => Object.assign(s, { child: children[i], url: `${children[i].url}/ok` }));
  for (const s of instances) {
    const r = await get(s.url);
    if (r.status !== 200) throw new Error(`${s.key}#${s.k + 1}: expected 200, got ${r.status}`);
  }
  const byInstance = await alternate(instances, {
    rounds: P.rounds,
    warm: async (s) => void (await load({ url: s.url, connections: CONNECTIONS, seconds: P.warm })),
    measure: async (s, round) => {
      const r = await loadThrough(s.child, { url: s.url, connections: CONNECTIONS, seconds: P.seconds });
      progress(`targets round ${round + 1} ${s.key}#${s.k + 1}: ${int(r.rps)} req/s, ${int(r.cpu)} µs CPU per request`);
      return r;
    },
  });
  await closeAll(children);
  // A round's figure per subject: the mean over its processes (combine), then paired per round.
  const runs = Object.fromEntries(
    kinds.map((s) => {
      const each = instances.filter((i) => i.key === s.key).map((i) => byInstance.get(i));
      return [s.key, each[0].map((_, round) => combine(each.map((rs) => rs[round])))];
    }),
  );
  const rows = Object.fromEntries(kinds.map((s) => [s.key, summarize(runs[s.key])]));
  const paired = median(runs.two.map((r, i) => r.rps / runs.one[i].rps));
  const pairedCpu = median(runs.two.map((r, i) => r.cpu / runs.one[i].cpu));
  results.scenarios.targets = { rows, paired, pairedCpu, processes: P.processes };
  section(
    '7. Two targets against one',
    `GET /ok (1 KiB), ${CONNECTIONS} connections, ${P.rounds} alternating round(s) of ${P.seconds} s after ${P.warm} s of warm-up, each subject in ${P.processes} process(es) (a round's figure is their mean); medians. Both point at the same upstream process (two ports), so the difference is the pick and the per-target bookkeeping. Paired ratio (two / one, per round, then the median): ${fixed(paired)}x req/s, ${fixed(pairedCpu)}x CPU per request.\n\n` +
      mdTable(
        ['subject', 'req/s', 'p50', 'p99', 'proxy CPU per request', 'vs one target'],
        kinds.map((s) => [s.label, int(rows[s.key].rps), ms(rows[s.key].p50), ms(rows[s.key].p99), `${int(rows[s.key].cpu)} µs`, ratio(rows[s.key].rps, rows.one.rps)]),
        ['l', 'r', 'r', 'r', 'r', 'r'],
      ),
  );
}

// --- 2. Error path -----------------------------------------------------------------------------

async function errorPath() {
  const refused = `http://127.0.0.1:${await closedPort()}`;
  const [hpm, ours, oursKoa] = await Promise.all([
    startProxy('express-hpm', refused),
    startProxy('ours-express', refused, { retry: false }),
    startProxy('ours-koa', refused, { retry: false }),
  ]);
  const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
  const subjects = [
    { key: 'hpm', label: 'Express 5 + http-proxy-middleware: its plain-text error', url: `${hpm.url}/ok`, headers: {} },
    { key: 'ours-html', label: 'gateway-errors on Express 5: branded HTML page', url: `${ours.url}/ok`, headers: HTML },
    { key: 'ours-text', label: 'gateway-errors on Express 5: text/plain (no Accept)', url: `${ours.url}/ok`, headers: {} },
    { key: 'ours-json', label: 'gateway-errors on Express 5: problem+json', url: `${ours.url}/ok`, headers: { accept: 'application/json' } },
    { key: 'koa-html', label: 'gateway-errors on Koa 3: branded HTML page', url: `${oursKoa.url}/ok`, headers: HTML },
  ];
  // What each answers, so the table says what was measured.
  const shape = {};
  for (const s of subjects) {
    const r = await get(s.url, s.headers);
    shape[s.key] = `${r.status} ${String(r.headers['content-type'] ?? '').split(';')[0]}, ${r.bytes} B`;
  }
  const runs = await alternate(subjects, {
    rounds: P.rounds,
    warm: async (s) => void (await load({ url: s.url, headers: s.headers, connections: CONNECTIONS, seconds: P.warm })),
    measure: async (s, round) => {
      const r = await load({ url: s.url, headers: s.headers, connections: CONNECTIONS, seconds: P.errorSeconds });
      progress(`errors round ${round + 1} ${s.key}: ${int(r.rps)} answers/s`);
      return r;
    },
  });
  await closeAll([hpm, ours, oursKoa]);
  const rows = Object.fromEntries([...runs].map(([s, r]) => [s.key, summarize(r)]));
  results.scenarios.errors = { rows, shape };
  const base = rows.hpm.rps;
  section(
    '2. Error path: upstream refusing connections, retries off',
    `Each proxy points at a closed port. ${P.rounds} alternating round(s) of ${P.errorSeconds} s, ${CONNECTIONS} connections; medians.\n\n` +
      mdTable(
        ['answer', 'what it sends', 'answers/s', 'p50', 'p99', 'vs HPM plain text'],
        subjects.map((s) => [s.label, shape[s.key], int(rows[s.key].rps), ms(rows[s.key].p50), ms(rows[s.key].p99), ratio(rows[s.key].rps, base)]),
        ['l', 'l', 'r', 'r', 'r', 'r'],
      ),
  );
}

// --- 3. Outage amplification -------------------------------------------------------------------

async function outage(upstream) {
  const subjects = [
    { key: 'hpm', kind: 'express-hpm', label: 'Express 5 + http-proxy-middleware (no retries)' },
    { key: 'express', kind: 'ours-express', label: 'gateway-errors on Express 5, default settings' },
    { key: 'koa', kind: 'ours-koa', label: 'gateway-errors on Koa 3, default settings' },
    // The same with the circuit breaker off, so the retry budget alone is measured, and with the
    // budget off too: what naive retries would do.
    { key: 'express-budget', kind: 'ours-express', extra: { circuit: false }, label: 'gateway-errors on Express 5, `circuit: false` (retry budget alone)' },
    { key: 'express-naive', kind: 'ours-express', extra: { circuit: false, budget: false }, label: 'gateway-errors on Express 5, `circuit: false, budget: false` (naive retries)' },
  ];
  const data = {};
  if (mode === 'smoke') subjects.splice(3);
  for (const s of subjects) {
    // A fresh process each: breaker and budget state start empty, as after a deploy.
    const proxy = await startProxy(s.kind, upstream.url, s.extra);
    const url = `${proxy.url}/status/503`;
    await load({ url, connections: CONNECTIONS, seconds: P.outageWarm });
    await sleep(100);
    await upstream.call('reset');
    const r = await load({ url, connections: CONNECTIONS, seconds: P.outageSeconds });
    await sleep(300); // attempts already under way when the load stopped
    const { count } = await upstream.call('count');
    await proxy.close();
    data[s.key] = { ...r, attempts: count, perRequest: count / r.total };
    progress(`outage ${s.key}: ${fixed(count / r.total)} attempts per request`);
  }
  results.scenarios.outage = data;
  section(
    '3. Outage amplification: upstream answers 503 to everything',
    `${CONNECTIONS} connections of steady load for ${P.outageSeconds} s after ${P.outageWarm} s of the same load; attempts counted at the upstream. Target: at most 1.25 attempts per client request once the retry budget exists (naive retries: 3.0).\n\n` +
      mdTable(
        ['proxy', 'client answers', 'upstream attempts', 'attempts per client request', 'answers/s', 'p50', 'p99'],
        subjects.map((s) => {
          const d = data[s.key];
          return [s.label, int(d.total), int(d.attempts), fixed(d.perRequest), int(d.rps), ms(d.p50), ms(d.p99)];
        }),
      ),
  );
}

// --- 4. Fast-fail while the circuit is open ---------------------------------------------------

async function fastFail(upstream) {
  const subjects = [
    { kind: 'ours-express', label: 'gateway-errors on Express 5' },
    { kind: 'ours-koa', label: 'gateway-errors on Koa 3' },
  ];
  const proxies = await Promise.all(subjects.map((s) => startProxy(s.kind, upstream.url)));
  const urlOf = new Map(subjects.map((s, i) => [s, `${proxies[i].url}/status/503`]));
  /** Fail until the answers say the circuit is open (503, error=destination_unavailable). */
  const openCircuit = async (s) => {
    // The breaker judges by volume (20 requests in 10 s, half failed): ten at a time get there.
    const deadline = Date.now() + 5_000;
    for (let i = 0; i < 40 && Date.now() < deadline; i++) {
      const rs = await Promise.all(Array.from({ length: 10 }, () => get(urlOf.get(s))));
      if (rs.some((r) => r.status === 503 && /error=destination_unavailable/.test(String(r.headers['proxy-status'] ?? '')))) return true;
    }
    return false;
  };
  const open = new Map();
  for (const s of subjects) open.set(s, await openCircuit(s));
  const live = subjects.filter((s) => open.get(s));
  const attempts = new Map(live.map((s) => [s, 0]));
  const runs = await alternate(live, {
    rounds: P.rounds,
    warm: async (s) => void (await load({ url: urlOf.get(s), connections: CONNECTIONS, seconds: P.warm })),
    measure: async (s, round) => {
      await openCircuit(s); // a probe may have just closed and reopened it
      await upstream.call('reset');
      const r = await load({ url: urlOf.get(s), connections: CONNECTIONS, seconds: P.fastFailSeconds });
      attempts.set(s, attempts.get(s) + (await upstream.call('count')).count);
      progress(`fastfail round ${round + 1} ${s.kind}: ${int(r.rps)} answers/s, p99 ${ms(r.p99)}`);
      return r;
    },
  });
  await closeAll(proxies);
  const data = {};
  for (const s of subjects) data[s.kind] = open.get(s) ? { open: true, ...summarize(runs.get(s)), attempts: attempts.get(s) } : { open: false };
  results.scenarios.fastfail = data;
  const none = subjects.every((s) => !data[s.kind].open);
  section(
    '4. Fast-fail while the circuit is open',
    none
      ? 'n/a (no breaker yet): with the upstream answering 503 to every request, no answer carried `Proxy-Status: ...; error=destination_unavailable` within 200 requests, so there is no open circuit to measure. See section 3 for the latency of the 503 answers today.'
      : `Upstream 503 to everything until the answers carry \`error=destination_unavailable\`; then ${CONNECTIONS} connections, ${P.rounds} alternating round(s) of ${P.fastFailSeconds} s after a warm-up; medians.\n\n` +
          mdTable(
            ['proxy', 'answers/s', 'p50', 'p99', 'upstream attempts meanwhile (probes), all rounds'],
            subjects.map((s) => {
              const d = data[s.kind];
              return d.open ? [s.label, int(d.rps), ms(d.p50), ms(d.p99), int(d.attempts)] : [s.label, 'n/a (circuit never opened)', '', '', ''];
            }),
          ),
  );
}

// --- 5. Memory ----------------------------------------------------------------------------------

const MEMORY_KINDS = mode === 'smoke' ? ['bare', 'ours-express', 'ours-koa'] : ['bare', 'express-hpm', 'ours-express', 'ours-koa'];

async function warmUp(proxy) {
  await pool(200, 10, () => get(`${proxy.url}/ok?size=1024`));
  await get(`${proxy.url}/big?mib=4`);
}

/**
 * The live heap every process holds in the second streaming table (BENCH_APP_HEAP_MIB): about
 * what a small real app keeps. See the memory section of bench/README.md for why.
 */
const APP_HEAP_MIB = 16;

async function streamOnce(kind, upstream, appHeapMiB = 0) {
  const proxy = await startProxy(kind, upstream.url, undefined, { env: { BENCH_APP_HEAP_MIB: String(appHeapMiB) } });
  await warmUp(proxy);
  await proxy.call('rss-start');
  const t0 = performance.now();
  const r = await get(`${proxy.url}/big?mib=${P.streamMiB}`);
  const seconds = (performance.now() - t0) / 1000;
  const { baseline, peak, heap, majorGCs, minorGCs } = await proxy.call('rss-stop');
  await proxy.close();
  if (r.bytes !== P.streamMiB * 1048576) throw new Error(`${kind}: streamed ${r.bytes} bytes, expected ${P.streamMiB} MiB`);
  return { growth: peak - baseline, baseline, peak, heap, majorGCs, minorGCs, mibPerSecond: P.streamMiB / seconds };
}

async function slowOnce(kind, upstream) {
  const proxy = await startProxy(kind, upstream.url);
  await warmUp(proxy);
  await proxy.call('rss-start');
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const t0 = performance.now();
  let ok = 0;
  await Promise.all(
    Array.from({ length: P.slowCount }, () =>
      new Promise((resolve) => {
        const req = http.get(`${proxy.url}/slow?ms=${P.slowMs}`, { agent }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) ok++;
            resolve();
          });
          res.on('error', resolve);
        });
        req.on('error', resolve);
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  const { baseline, peak } = await proxy.call('rss-stop');
  agent.destroy();
  await proxy.close();
  return { growth: peak - baseline, baseline, peak, ok, seconds };
}

async function memory(upstream) {
  const stream = {};
  const streamApp = {};
  const slow = {};
  for (let round = 0; round < P.memoryRounds; round++) {
    const order = round % 2 === 0 ? MEMORY_KINDS : [...MEMORY_KINDS].reverse();
    for (const kind of order) (stream[kind] ??= []).push(await streamOnce(kind, upstream));
    for (const kind of order) (streamApp[kind] ??= []).push(await streamOnce(kind, upstream, APP_HEAP_MIB));
    for (const kind of order) (slow[kind] ??= []).push(await slowOnce(kind, upstream));
  }
  // The worst round is what a capacity plan needs.
  const worst = (rs) => rs.reduce((a, b) => (b.growth > a.growth ? b : a));
  const pick = (runs) =>
    Object.fromEntries(MEMORY_KINDS.map((k) => [k, { ...worst(runs[k]), rounds: runs[k].map((r) => r.growth), gcRounds: runs[k].map((r) => r.majorGCs) }]));
  const s = pick(stream);
  const a = pick(streamApp);
  const w = pick(slow);
  results.scenarios.memory = { stream: s, streamApp: a, slow: w, appHeapMiB: APP_HEAP_MIB };
  const streamTable = (t) =>
    mdTable(
      ['proxy', 'live JS heap at start', 'peak RSS growth', 'vs bare hop', 'growth, each round', 'major GCs, each round', 'throughput'],
      MEMORY_KINDS.map((k) => [
        labelOf[k],
        mib(t[k].heap),
        mib(t[k].growth),
        `${t[k].growth - t.bare.growth >= 0 ? '+' : ''}${mib(t[k].growth - t.bare.growth)}`,
        t[k].rounds.map((g) => mib(g).replace(' MiB', '')).join(' / '),
        t[k].gcRounds.join(' / '),
        `${int(t[k].mibPerSecond)} MiB/s`,
      ]),
    );
  section(
    '5. Memory: peak RSS growth of the proxy process',
    `A fresh proxy process per measurement, warmed with 200 requests and a 4 MiB stream, then RSS sampled every 20 ms inside it (baseline after a GC); the worst of ${P.memoryRounds} round(s). "major GCs": mark-compacts V8 ran during the stream. Target: ours within 16 MiB of the bare hop's growth while streaming, with every process holding the same app heap (second table).\n\n` +
      `**Streaming one ${P.streamMiB} MiB response at full speed: minimal processes**\n\n` +
      streamTable(s) +
      `\n\nMost of the growth is the chunks' buffers (outside the JS heap) waiting for a collection, and which collection frees them depends on the process's own heap more than on the proxy. While V8's old generation is under 8 MiB (its threshold for incremental marking), young-generation collections free them once about 32 MiB have piled up. Over it, V8 counts buffer memory allocated since the last mark-compact against the old generation's limit, which is small in a small heap: streaming then starts incremental marking over and over (the major GCs column) and in a \`--trace-gc\` the buffers waiting for a collection peaked at 45 MiB instead of 32; in peak RSS that shows in some runs and drowns in the noise in others. The minimal processes sit a MiB or two either side of that line, so this table compares GC modes as much as proxies; the target uses the next one, where a proxy that buffered would still stand out. Rounds of one subject also differ by up to 12 MiB with no major GC at all (growth column): read differences smaller than that as noise.\n\n` +
      `**The same, each process holding about ${APP_HEAP_MIB} MiB of live app objects (routes, config, caches) built before it starts**\n\n` +
      streamTable(a) +
      `\n\n**${P.slowCount} concurrent requests, upstream answers each after ${P.slowMs} ms**\n\n` +
      mdTable(
        ['proxy', 'peak RSS growth', 'per request', 'answered 200', 'all done in'],
        MEMORY_KINDS.map((k) => [labelOf[k], mib(w[k].growth), `${fixed(w[k].growth / P.slowCount / 1024, 1)} KiB`, `${w[k].ok} / ${P.slowCount}`, `${fixed(w[k].seconds, 2)} s`]),
      ),
  );
}

// --- 7. Stale-if-error ---------------------------------------------------------------------------

/** The `stale` option the scenario runs with: a small store, so its bound shows in RSS. */
const STALE = { maxBytes: 8 * 1048576, maxEntryBytes: 1048576 };
/** Offered to the store during the measurement: twice what it may keep. */
const STALE_FILL = { count: 64, size: 256 * 1024 };
const STALE_SUBJECTS = [
  { name: 'bare', kind: 'bare', label: labelOf.bare },
  { name: 'ours-express', kind: 'ours-express', label: 'gateway-errors on Express 5, `stale` off' },
  { name: 'ours-express-stale', kind: 'ours-express', extra: { stale: STALE }, label: 'gateway-errors on Express 5, `stale` on' },
  { name: 'ours-koa-stale', kind: 'ours-koa', extra: { stale: STALE }, label: 'gateway-errors on Koa 3, `stale` on' },
];

/**
 * One fresh process: after the baseline, 64 distinct 256 KiB answers (16 MiB offered to a store
 * that keeps 8), then one streamed body of unknown length, which the tee copies up to the entry
 * limit and then lets go.
 */
async function staleStreamOnce(s, upstream) {
  const proxy = await startProxy(s.kind, upstream.url, s.extra, { name: s.name, env: { BENCH_APP_HEAP_MIB: String(APP_HEAP_MIB) } });
  await warmUp(proxy);
  await proxy.call('rss-start');
  await pool(STALE_FILL.count, 8, (i) => get(`${proxy.url}/ok?size=${STALE_FILL.size}&n=${i}`));
  const r = await get(`${proxy.url}/big?mib=${P.streamMiB}&chunked=1`);
  const { baseline, peak, heap, majorGCs } = await proxy.call('rss-stop');
  await proxy.close();
  if (r.bytes !== P.streamMiB * 1048576) throw new Error(`${s.name}: streamed ${r.bytes} bytes, expected ${P.streamMiB} MiB`);
  return { growth: peak - baseline, heap, majorGCs };
}

async function staleScenario(upstream) {
  const mem = {};
  for (let round = 0; round < P.memoryRounds; round++) {
    const order = round % 2 === 0 ? STALE_SUBJECTS : [...STALE_SUBJECTS].reverse();
    for (const s of order) {
      const r = await staleStreamOnce(s, upstream);
      progress(`stale memory round ${round + 1} ${s.name}: growth ${mib(r.growth)}`);
      (mem[s.name] ??= []).push(r);
    }
  }
  const worst = (rs) => rs.reduce((a, b) => (b.growth > a.growth ? b : a));
  const m = Object.fromEntries(STALE_SUBJECTS.map((s) => [s.name, { ...worst(mem[s.name]), rounds: mem[s.name].map((r) => r.growth), gcRounds: mem[s.name].map((r) => r.majorGCs) }]));

  // The healthy path with the tee on: every 1 KiB answer is storable (200, no Cache-Control:
  // RFC 9111 heuristic freshness), so each one is judged and kept, under one key.
  const pairs = [
    { name: 'ours-express', kind: 'ours-express' },
    { name: 'ours-express-stale', kind: 'ours-express', extra: { stale: STALE } },
    { name: 'ours-koa', kind: 'ours-koa' },
    { name: 'ours-koa-stale', kind: 'ours-koa', extra: { stale: STALE } },
  ];
  const children = await Promise.all(pairs.map((p) => startProxy(p.kind, upstream.url, p.extra, { name: p.name })));
  const proxies = new Map(children.map((c) => [c.name, c]));
  let h;
  try {
    const url = (name) => `${proxies.get(name).url}/ok?size=1024`;
    const runs = await alternate(pairs.map((p) => p.name), {
      rounds: P.rounds,
      warm: async (name) => void (await load({ url: url(name), connections: CONNECTIONS, seconds: P.warm })),
      measure: async (name, round) => {
        const r = await loadThrough(proxies.get(name), { url: url(name), connections: CONNECTIONS, seconds: P.seconds });
        progress(`stale healthy round ${round + 1} ${name}: ${int(r.rps)} req/s, p99 ${ms(r.p99)}, ${fixed(r.cpu, 0)} µs CPU/req`);
        return r;
      },
    });
    h = Object.fromEntries([...runs].map(([name, r]) => [name, summarize(r)]));
  } finally {
    await closeAll(children);
  }
  results.scenarios.stale = { memory: m, healthy: h, options: STALE, fill: STALE_FILL };
  section(
    '8. Stale-if-error (`stale` on)',
    `**Memory.** A fresh process per measurement (${APP_HEAP_MIB} MiB app heap each), warmed as in section 5; then, with RSS sampled every 20 ms, ${STALE_FILL.count} distinct ${STALE_FILL.size / 1024} KiB answers (${mib(STALE_FILL.count * STALE_FILL.size)} offered to a store of \`maxBytes\` ${mib(STALE.maxBytes)}) and one ${P.streamMiB} MiB body without Content-Length (copied up to \`maxEntryBytes\` ${mib(STALE.maxEntryBytes)}, then let go). The worst of ${P.memoryRounds} round(s). Target: growth within the bare hop's + 16 MiB (section 5's bound) + \`maxBytes\`.\n\n` +
      mdTable(
        ['proxy', 'live JS heap at start', 'peak RSS growth', 'vs bare hop', 'growth, each round', 'major GCs, each round'],
        STALE_SUBJECTS.map((s) => [
          s.label,
          mib(m[s.name].heap),
          mib(m[s.name].growth),
          `${m[s.name].growth - m.bare.growth >= 0 ? '+' : ''}${mib(m[s.name].growth - m.bare.growth)}`,
          m[s.name].rounds.map((g) => mib(g).replace(' MiB', '')).join(' / '),
          m[s.name].gcRounds.join(' / '),
        ]),
      ) +
      `\n\n**Healthy path.** GET /ok (1 KiB, storable) with ${CONNECTIONS} connections, ${P.rounds} alternating round(s) of ${P.seconds} s after a ${P.warm} s warm-up; medians.\n\n` +
      mdTable(
        ['proxy', 'req/s', 'p50', 'p99', 'CPU per request', 'req/s vs `stale` off'],
        pairs.map((p) => [
          p.extra ? `${p.kind}, \`stale\` on` : `${p.kind}, \`stale\` off`,
          int(h[p.name].rps),
          ms(h[p.name].p50),
          ms(h[p.name].p99),
          `${fixed(h[p.name].cpu, 0)} µs`,
          p.extra ? ratio(h[p.name].rps, h[p.name.replace('-stale', '')].rps) : '',
        ]),
      ),
  );
}

// --- 9. With an OpenTelemetry SDK registered ---------------------------------------------------

async function telemetry(upstream) {
  const t = await telemetryScenario({ upstream, P, processes: P.processes, instance, connections: CONNECTIONS, progress });
  results.scenarios.telemetry = t;
  section('9. With an OpenTelemetry SDK registered', telemetrySection(t, { rounds: P.rounds, connections: CONNECTIONS }));
}

// --- Targets, files -----------------------------------------------------------------------------

function targets() {
  const out = [];
  const h = results.scenarios.healthy;
  if (h) {
    const e = h['ours-express'];
    const hp = results.scenarios.healthyPaired;
    out.push(['Healthy: Express req/s >= 1.0x Express + HPM keep-alive (paired)', `${fixed(hp.expressVsHpm.rps)}x`, hp.expressVsHpm.rps >= 1]);
    out.push(['Healthy: Express req/s >= 2x Express + HPM defaults (paired)', `${fixed(hp.expressVsDefaults.rps)}x`, hp.expressVsDefaults.rps >= 2]);
    out.push([
      'Healthy: Express p99 no worse than Express + HPM keep-alive (paired)',
      `${fixed(hp.expressVsHpm.p99)}x (medians ${ms(e.p99)} vs ${ms(h['express-hpm'].p99)})`,
      hp.expressVsHpm.p99 <= 1,
    ]);
    out.push(['Healthy: Koa req/s >= 0.8x HPM alone, keep-alive (paired)', `${fixed(hp.koaVsHpm.rps)}x`, hp.koaVsHpm.rps >= 0.8]);
    out.push(['Healthy: Express req/s >= 0.95x Express + bare hop (paired, issue 16)', `${fixed(hp.expressVsBare.rps)}x`, hp.expressVsBare.rps >= 0.95]);
    out.push(['Healthy: Koa req/s >= 0.90x Koa + bare hop (paired, issue 16)', `${fixed(hp.koaVsBare.rps)}x`, hp.koaVsBare.rps >= 0.9]);
  }
  const tt = results.scenarios.targets;
  if (tt) out.push(['Two targets: req/s >= 0.97x one target (paired)', `${fixed(tt.paired)}x`, tt.paired >= 0.97]);
  const er = results.scenarios.errors?.rows;
  if (er) {
    out.push(['Error path: Express branded HTML >= 0.8x HPM plain text', ratio(er['ours-html'].rps, er.hpm.rps), er['ours-html'].rps >= 0.8 * er.hpm.rps]);
    out.push(['Error path: Koa branded HTML >= 0.8x HPM plain text', ratio(er['koa-html'].rps, er.hpm.rps), er['koa-html'].rps >= 0.8 * er.hpm.rps]);
  }
  const o = results.scenarios.outage;
  if (o) {
    out.push(['Outage: Express, defaults: attempts per client request <= 1.25', fixed(o.express.perRequest), o.express.perRequest <= 1.25]);
    out.push(['Outage: Koa, defaults: attempts per client request <= 1.25', fixed(o.koa.perRequest), o.koa.perRequest <= 1.25]);
    if (o['express-budget']) out.push(['Outage: Express, retry budget alone (circuit off) <= 1.25', fixed(o['express-budget'].perRequest), o['express-budget'].perRequest <= 1.25]);
  }
  const f = results.scenarios.fastfail;
  if (f) {
    for (const [k, name] of [['ours-express', 'Express'], ['ours-koa', 'Koa']]) {
      out.push([`Fast-fail: ${name} p99 while open (reported, no number set)`, f[k].open ? ms(f[k].p99) : 'n/a (no breaker yet)', undefined]);
    }
  }
  const m = results.scenarios.memory;
  if (m) {
    for (const [k, name] of [['ours-express', 'Express'], ['ours-koa', 'Koa']]) {
      const a = m.streamApp;
      out.push([`Memory: ${name} ${P.streamMiB} MiB stream growth within 16 MiB of bare hop (${m.appHeapMiB} MiB app heap each)`, `${mib(a[k].growth)} vs ${mib(a.bare.growth)}`, a[k].growth - a.bare.growth <= 16 * 1048576]);
    }
    for (const [k, name] of [['ours-express', 'Express'], ['ours-koa', 'Koa']]) {
      const t = m.stream;
      out.push([`Memory: ${name} ${P.streamMiB} MiB stream growth, minimal processes (reported: GC mode differs, section 5)`, `${mib(t[k].growth)} vs ${mib(t.bare.growth)}; major GCs ${t[k].gcRounds.join(' / ')} vs ${t.bare.gcRounds.join(' / ')}`, undefined]);
    }
  }
  const st = results.scenarios.stale;
  if (st) {
    for (const [k, name] of [['ours-express-stale', 'Express'], ['ours-koa-stale', 'Koa']]) {
      const bound = st.memory.bare.growth + 16 * 1048576 + st.options.maxBytes;
      out.push([`Stale: ${name} growth (store filled, ${P.streamMiB} MiB streamed) within bare hop + 16 MiB + maxBytes`, `${mib(st.memory[k].growth)} vs ${mib(bound)}`, st.memory[k].growth <= bound]);
    }
  }
  if (results.scenarios.telemetry) out.push(...telemetryTargets(results.scenarios.telemetry));
  results.targets = out.map(([target, measured, pass]) => ({ target, measured, pass: pass ?? null }));
  return mdTable(['target (issue 6)', 'measured', 'result'], out.map(([t, m, p]) => [t, m, p === undefined ? 'reported' : p ? 'PASS' : 'FAIL']), ['l', 'r', 'l']);
}

/** Other processes' CPU during the run, overall and per scenario: how far to trust the figures. */
function noiseLine() {
  const n = results.noise ?? {};
  if (!n.total) return 'not measured';
  const per = Object.entries(n)
    .filter(([k, v]) => k !== 'total' && v?.others !== undefined)
    .map(([k, v]) => `${k} ${v.others.toFixed(2)}`)
    .join(', ');
  return `${n.total.others.toFixed(2)} of ${results.machine.cores} cores on average, steal ${n.total.steal.toFixed(2)} (per scenario: ${per})`;
}

function writeFiles() {
  const m = results.machine;
  const head =
    `# Benchmark results\n\n` +
    `Written by \`npm run bench\`${mode === 'full' ? '' : ` (--${mode}: shorter runs, figures less stable)`} — do not edit by hand; rerun it.\n\n` +
    mdTable(
      ['', ''],
      [
        ['machine', `${m.cpu}, ${m.cores} cores, ${m.memory}`],
        ['system', m.os],
        ['Node', m.node],
        ['date', m.date],
        ['commit', m.commit],
        ['peers', Object.entries(m.versions).map(([n, v]) => `${n} ${v}`).join(', ')],
        ['method', 'every server in its own process on 127.0.0.1; autocannon in the parent; warm-up, alternating rounds, medians'],
        ['total time', `${Math.round((Date.now() - started) / 1000)} s`],
        ['other work on the machine', noiseLine()],
      ],
      ['l', 'l'],
    ) +
    `\n\n![Healthy path req/s](chart.svg)\n\n## Targets\n\n${targets()}\n\n`;
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'RESULTS.md'), head + sections.join('\n'));
  const h = results.scenarios.healthy;
  if (h) {
    writeFileSync(
      join(outDir, 'chart.svg'),
      barChart({
        title: `Healthy path: req/s through each proxy (1 KiB answers, ${CONNECTIONS} connections)`,
        subtitle: `median of ${P.rounds} round(s) x ${P.seconds} s; ${m.cpu}, ${m.cores} cores; Node ${m.node}; ${m.date.slice(0, 10)}; higher is better`,
        bars: PEERS.map((p) => ({ label: p.label, value: h[p.kind].rps, note: `p99 ${ms(h[p.kind].p99)}`, ours: p.ours })),
      }),
    );
  }
  if (args.json) {
    mkdirSync(dirname(args.json), { recursive: true });
    writeFileSync(args.json, JSON.stringify(results, null, 2));
  }
}

/** Wait (bounded) until other processes use less than a quarter of a core. */
async function waitQuiet(maxSeconds) {
  if (maxSeconds <= 0) return;
  const t0 = Date.now();
  for (;;) {
    const m = meter(results.machine.cores);
    await sleep(2000);
    const n = m();
    if (n === undefined || n.others < 0.25) return;
    if (Date.now() - t0 >= maxSeconds * 1000) {
      log(`bench: WARNING other work still uses ${n.others.toFixed(2)} cores; measuring anyway (see "other work" in the report)`);
      return;
    }
    log(`bench: other work uses ${n.others.toFixed(2)} cores; waiting for a quieter machine (at most ${maxSeconds} s)`);
  }
}

async function main() {
  log(`bench: ${mode} run; ${results.machine.cpu}, ${results.machine.cores} cores; Node ${process.version}`);
  await waitQuiet(Number(args['max-wait'] ?? (mode === 'full' ? 120 : mode === 'quick' ? 30 : 0)));
  const pkg = await snapshotPackage(ROOT);
  process.env.BENCH_PACKAGE_DIR = pkg;
  const upstream = await startUpstream();
  const cores = results.machine.cores;
  const whole = meter(cores);
  results.noise = {};
  const timed = async (name, fn) => {
    const t0 = Date.now();
    const m = meter(cores);
    await fn();
    const n = m();
    results.noise[name] = { seconds: (Date.now() - t0) / 1000, ...n };
    log(`(${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s${n ? `; other work on the machine meanwhile: ${n.others.toFixed(2)} cores, steal ${n.steal.toFixed(2)}` : ''})`);
  };
  try {
    if (only.has('healthy') || only.has('growth')) {
      const kinds = only.has('healthy') ? PEERS.map((p) => p.kind) : GROWTH_KINDS;
      const names = only.has('healthy') ? kinds.flatMap(instancesOf) : kinds;
      const children = await Promise.all(names.map((name) => startProxy(name.split('#')[0], upstream.url, undefined, { name })));
      const proxies = new Map(children.map((c) => [c.name, c]));
      try {
        // Every proxy answers 200 before anything is timed.
        for (const c of children) {
          const r = await get(`${c.url}/ok?size=1024`);
          if (r.status !== 200 || r.bytes !== 1024) throw new Error(`${c.name}: expected 200 with 1024 bytes, got ${r.status} with ${r.bytes}`);
        }
        if (only.has('healthy')) await timed('healthy', () => healthy(upstream, proxies));
        if (only.has('growth')) await timed('growth', () => growth(proxies));
      } finally {
        await closeAll(children);
      }
    }
    if (only.has('errors')) await timed('errors', errorPath);
    if (only.has('outage')) await timed('outage', () => outage(upstream));
    if (only.has('fastfail')) await timed('fastfail', () => fastFail(upstream));
    if (only.has('memory')) await timed('memory', () => memory(upstream));
    if (only.has('targets')) await timed('targets', () => twoTargets(upstream));
    if (only.has('stale')) await timed('stale', () => staleScenario(upstream));
    if (only.has('telemetry')) await timed('telemetry', () => telemetry(upstream));
  } finally {
    await upstream.close();
    rmSync(pkg, { recursive: true, force: true });
  }
  results.noise.total = whole();
  // Growth ran right after healthy; keep the report in the issue's order.
  sections.sort((a, b) => Number(a.match(/^## (\d)/)[1]) - Number(b.match(/^## (\d)/)[1]));
  writeFiles();
  log(`\n## Targets\n\n${targets()}\n`);
  log(`bench: done in ${Math.round((Date.now() - started) / 1000)} s; wrote ${join(outDir, 'RESULTS.md')}${results.scenarios.healthy ? ' and chart.svg' : ''}`);
}

await main();
