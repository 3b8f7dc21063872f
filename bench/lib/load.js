/**
 * Load generation (autocannon, programmatic) and the statistics the report uses.
 */
import http from 'node:http';
import autocannon from 'autocannon';

/**
 * @typedef {object} Run
 * @property {number} rps responses per second (any status)
 * @property {number} p50 ms
 * @property {number} p99 ms
 * @property {number} total responses
 * @property {number} ok 2xx responses
 * @property {number} non2xx
 * @property {number} errors connection errors and timeouts
 * @property {number} seconds
 * @property {number} [cpu] µs of CPU the proxy process spent per response (see loadThrough)
 */

/**
 * One autocannon run against `url`.
 * @param {{ url: string, connections: number, seconds: number, headers?: Record<string,string> }} o
 * @returns {Promise<Run>}
 */
export async function load(o) {
  const r = await autocannon({
    url: o.url,
    connections: o.connections,
    duration: o.seconds,
    pipelining: 1,
    timeout: 20,
    // autocannon checks for the end of a run only once per sample: with its default of 1 s a
    // 0.25 s run would last a whole second.
    sampleInt: 100,
    ...(o.headers && { headers: o.headers }),
  });
  const total = r.requests.total;
  return {
    rps: total / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    total,
    ok: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    seconds: r.duration,
  };
}

/**
 * A load run that also reads the proxy process's CPU time before and after: CPU per response
 * barely moves when other work shares the machine, unlike req/s, so it is the steadier ratio.
 * @param {{ call: (cmd: string) => Promise<any> }} proxy
 * @param {Parameters<typeof load>[0]} o
 * @returns {Promise<Run>}
 */
export async function loadThrough(proxy, o) {
  const before = (await proxy.call('cpu')).us;
  const r = await load(o);
  const after = (await proxy.call('cpu')).us;
  return { ...r, cpu: r.total > 0 ? (after - before) / r.total : NaN };
}

/**
 * One round's figure for a subject from its processes' runs: their mean (CPU: per request
 * overall, so each process counts by its answers).
 * @param {Run[]} rs
 * @returns {Run}
 */
export function combine(rs) {
  if (rs.length === 1) return rs[0];
  const sum = (f) => rs.reduce((a, r) => a + f(r), 0);
  const mean = (f) => sum(f) / rs.length;
  const total = sum((r) => r.total);
  return {
    rps: mean((r) => r.rps),
    p50: mean((r) => r.p50),
    p99: mean((r) => r.p99),
    total,
    ok: sum((r) => r.ok),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    seconds: sum((r) => r.seconds),
    cpu: total > 0 ? sum((r) => r.cpu * r.total) / total : NaN,
  };
}

/** @param {number[]} xs */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Several runs of one subject reduced to medians.
 * @param {Run[]} runs
 */
export function summarize(runs) {
  return {
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    cpu: median(runs.map((r) => r.cpu ?? NaN)),
    rounds: runs.map((r) => Math.round(r.rps)),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    total: runs.reduce((a, r) => a + r.total, 0),
  };
}

/**
 * Alternating rounds: round 1 in the given order, round 2 reversed, and so on, so no subject
 * always runs right after the same neighbour or always first. Warm-up once per subject first.
 * @template T
 * @param {T[]} subjects
 * @param {{ rounds: number, warm: (s: T) => Promise<void>, measure: (s: T, round: number) => Promise<Run> }} o
 * @returns {Promise<Map<T, Run[]>>}
 */
export async function alternate(subjects, o) {
  const runs = new Map(subjects.map((s) => [s, []]));
  for (const s of subjects) await o.warm(s);
  for (let round = 0; round < o.rounds; round++) {
    const order = round % 2 === 0 ? subjects : [...subjects].reverse();
    for (const s of order) runs.get(s).push(await o.measure(s, round));
  }
  return runs;
}

/**
 * One plain GET: status and headers (the body is read and dropped).
 * @param {string} url
 * @param {Record<string,string>} [headers]
 * @returns {Promise<{ status: number, headers: http.IncomingHttpHeaders, bytes: number }>}
 */
export function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Run `fn` `n` times at most `concurrency` at once. */
export async function pool(n, concurrency, fn) {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
