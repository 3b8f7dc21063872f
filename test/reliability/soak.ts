/**
 * The soak: many requests at moderate concurrency through a real gateway in front of the fault
 * kit, a share of them meeting a random upstream fault, every answer checked for form. Used by
 * test/reliability/soak-short.test.ts (a short run in `npm test`) and scripts/soak.ts (`npm run
 * soak`, the long run). Loopback only, bounded in count and in time.
 *
 * The gateway runs the default stack (retry policy, retry budget, circuit breaker) with two
 * changes: responseTimeout 1000 ms, so hanging upstreams cost the run little (client, gateway
 * and upstream share one event loop, which on a busy machine lags by 100 ms and more, so it is
 * not tighter); and the breaker's thresholds set above what 30% faults produce, so the breaker
 * keeps its books on every attempt but stays closed. With the default thresholds it opens within
 * the first second and the rest of the run would soak the fast-fail answer instead of the proxy
 * (that answer is exercised in exactly-once.test.ts). Each request gets a unique key, so the
 * fault kit's flaky routes fail each request on its own schedule. The fault kit runs in a child
 * process (kit-process.ts), so the heap measured is the gateway's (and the client's).
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Mount, MountedApp } from '../support/apps.js';
import { fork, type ChildProcess } from 'node:child_process';
import { FAULTS, REPLAYABLE, outcomeOf, type FaultRow, type MatrixMethod, type Outcome } from './fault-matrix.table.js';
import { watchProcess } from './harness.js';
import { send, type Answer } from '../support/client.js';
import { mulberry32 } from '../support/random.js';

export interface SoakOptions {
  requests: number;
  concurrency: number;
  /** Share of requests sent to a faulty route, 0..1. */
  faultRate: number;
  /** Stop sending after this many ms, whatever the count (the report says so). */
  timeLimit: number;
  seed: number;
  /** Progress lines (the long soak prints them). */
  log?: (line: string) => void;
}

export interface SoakReport {
  adapter: string;
  seed: number;
  sent: number;
  answered: number;
  /** Connection-level failures seen by the client where none was expected. */
  clientErrors: number;
  faulty: number;
  durationMs: number;
  perSecond: number;
  byStatus: Record<string, number>;
  /** Proxy-Status values seen, with counts. */
  byProxyStatus: Record<string, number>;
  /** The first problems found (an empty list is the goal), and how many there were. */
  problems: string[];
  problemCount: number;
  /** heapUsed after a full GC, bytes: after warm-up, and after the run. Undefined without a usable gc(). */
  heapAfterWarmup: number | undefined;
  heapAfterRun: number | undefined;
  warnings: string[];
  rejections: string[];
  /** The gateway answered a healthy request with 200 after the run (once any open circuit closed). */
  aliveAtEnd: boolean;
  /** Upstream sockets still open a moment after the run (keep-alive ones close on the kit's 200 ms). */
  upstreamSocketsAtEnd: number;
  timedOut: boolean;
  /** Event-loop delay over the run, ms: p99 and max (client, gateway and upstream share the loop). */
  loopDelayP99: number;
  loopDelayMax: number;
}

/** The fault kit in its own process (kit-process.ts). */
interface RemoteKit {
  url: string;
  openSockets(): Promise<number>;
  close(): Promise<void>;
}

async function startRemoteKit(): Promise<RemoteKit> {
  const child: ChildProcess = fork(new URL('./kit-process.ts', import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the fault kit process did not start within 20 s')), 20_000);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve((m as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`the fault kit process exited with ${code}`)));
  });
  return {
    url,
    openSockets: () =>
      new Promise<number>((resolve) => {
        child.once('message', (m) => resolve((m as { sockets: number }).sockets));
        child.send('sockets');
      }),
    async close() {
      if (child.exitCode === null && child.connected) child.send('close');
      const timer = setTimeout(() => child.kill(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A full GC, when one can be had: `--expose-gc`, or V8's flag set at run time. */
export function fullGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn = runInNewContext('gc') as unknown;
    return typeof fn === 'function' ? (fn as () => void) : undefined;
  } catch {
    return undefined;
  }
}

function heapAfterGc(gc: (() => void) | undefined): number | undefined {
  if (!gc) return undefined;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** The gateway's options for the soak (see the header comment). */
export const SOAK_PROXY = Object.freeze({
  responseTimeout: 1000,
  circuit: { consecutiveFailures: 100_000, failureRate: 0.99 },
});


/** Fault rows the soak can meet behind one kit and one gateway configuration. */
const SOAK_FAULTS: readonly FaultRow[] = FAULTS.filter((f) => f.upstream === 'kit' && !['slow-head', 'slow-head-in-time', 'slow-body'].includes(f.id));
const METHODS: readonly MatrixMethod[] = ['GET', 'GET', 'GET', 'HEAD', 'PUT', 'POST', 'POST+key'];
const ACCEPTS = [undefined, '*/*', 'application/json', 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8', 'text/plain', 'application/problem+json;q=0.5, text/html;q=0.4'] as const;

const PROXY_STATUS = /^gateway-errors; (?:error=[a-z_]+|received-status=\d{3})$/;
const REQUEST_ID = /^[A-Za-z0-9._~:@+=/-]{1,128}$/;

interface Planned {
  path: string;
  method: MatrixMethod;
  accept: string | undefined;
  body: Buffer | undefined;
  /** Outcomes that are right for this request. */
  allowed: Outcome[];
  healthy: 'ok' | 'echo' | 'slow' | 'notfound' | undefined;
}

/** Outcomes a faulty request may get: the matrix's, or the not-retried one when the budget or the deadline cut retries short. */
function allowedFor(row: FaultRow, method: MatrixMethod): Outcome[] {
  const main = outcomeOf(row, method);
  return REPLAYABLE[method] ? [main, row.once] : [main];
}

/** The answer of an open circuit breaker: 503 destination_unavailable, no upstream involved. */
const CIRCUIT_OPEN = 'gateway-errors; error=destination_unavailable';

function plan(rand: () => number, faultRate: number, i: number): Planned {
  const method = METHODS[Math.floor(rand() * METHODS.length)]!;
  const accept = ACCEPTS[Math.floor(rand() * ACCEPTS.length)];
  const key = `soak${i}`;
  const hasBody = method === 'PUT' || method === 'POST' || method === 'POST+key';
  const body = hasBody ? randomBytes(Math.floor(rand() * 4096)) : undefined;
  if (rand() < faultRate) {
    const row = SOAK_FAULTS[Math.floor(rand() * SOAK_FAULTS.length)]!;
    const sep = row.path.includes('?') ? '&' : '?';
    return { path: `${row.path}${sep}key=${key}`, method, accept, body, allowed: allowedFor(row, method), healthy: undefined };
  }
  const pick = rand();
  if (hasBody && pick < 0.6) return { path: `/echo?key=${key}`, method, accept, body, allowed: [], healthy: 'echo' };
  if (pick < 0.1) return { path: `/status/404?key=${key}`, method, accept, body, allowed: [], healthy: 'notfound' };
  if (pick < 0.2) return { path: `/slow-body?ms=5&chunks=3&key=${key}`, method, accept, body, allowed: [], healthy: 'slow' };
  return { path: `/ok?key=${key}`, method, accept, body, allowed: [], healthy: 'ok' };
}

type Got = Answer;

function request(agent: http.Agent, url: string, p: Planned): Promise<Got> {
  const headers: Record<string, string> = {};
  if (p.accept !== undefined) headers.accept = p.accept;
  if (p.body !== undefined) {
    headers['content-type'] = 'application/octet-stream';
    headers['content-length'] = String(p.body.length);
  }
  if (p.method === 'POST+key') headers['idempotency-key'] = p.path;
  const method = p.method === 'POST+key' ? 'POST' : p.method;
  return send(`${url}${p.path}`, { method, headers, agent, ...(p.body !== undefined && { body: p.body }) });
}

function check(p: Planned, g: Got): string[] {
  const problems: string[] = [];
  const head = p.method === 'HEAD';
  const ps = g.headers['proxy-status'];
  if (p.healthy !== undefined) {
    if (ps === CIRCUIT_OPEN && g.status === 503) return checkErrorAnswer(p, g); // the breaker may be open
    const want = p.healthy === 'notfound' ? 404 : 200;
    if (g.status !== want) return [`healthy ${p.path}: status ${g.status} ${ps ?? ''}`];
    if (!g.complete) return [`healthy ${p.path}: body cut`];
    if (ps !== undefined) problems.push(`healthy ${p.path}: Proxy-Status ${ps}`);
    if (head) return g.bytes.length === 0 ? problems : [...problems, `HEAD ${p.path} with a body`];
    if (p.healthy === 'ok' && g.body !== 'ok') problems.push(`/ok body ${g.body.slice(0, 40)}`);
    if (p.healthy === 'slow' && g.body !== 'chunk 0\nchunk 1\nchunk 2\n') problems.push('slow body differs');
    if (p.healthy === 'echo') {
      try {
        const echo = JSON.parse(g.body) as { bodySha256: string; bodyLength: number };
        const want = createHash('sha256').update(p.body ?? Buffer.alloc(0)).digest('hex');
        if (echo.bodySha256 !== want || echo.bodyLength !== (p.body?.length ?? 0)) problems.push(`echo of ${p.path}: body differs`);
      } catch {
        problems.push(`echo of ${p.path}: not JSON`);
      }
    }
    return problems;
  }
  // A faulty route: the answer must be one of the allowed outcomes (or the breaker's).
  const match = p.allowed.find(
    (o) => o.status === g.status && (o.proxyStatus === null ? ps === undefined : ps === `gateway-errors; ${o.proxyStatus}`),
  );
  if (match === undefined && !(g.status === 503 && ps === CIRCUIT_OPEN)) {
    return [`${p.method} ${p.path}: ${g.status} ${ps ?? '(no Proxy-Status)'} not in ${p.allowed.map((o) => `${o.status} ${o.proxyStatus}`).join(' | ')}`];
  }
  if (match && match.proxyStatus === null) {
    if (g.complete !== match.complete) problems.push(`${p.method} ${p.path}: complete=${g.complete}`);
    if (match.body !== undefined) {
      const got = g.body;
      // A cut body is a prefix of what the upstream meant to send.
      if (match.complete ? got !== match.body : !match.body.startsWith(got)) problems.push(`${p.method} ${p.path}: body differs`);
    }
    return problems;
  }
  return checkErrorAnswer(p, g);
}

/** The form of a gateway error answer: headers, and a body that parses as what it claims to be. */
function checkErrorAnswer(p: Planned, g: Got): string[] {
  const problems: string[] = [];
  const where = `${g.status} for ${p.method} ${p.path}`;
  const h = g.headers;
  if (![502, 503, 504].includes(g.status)) problems.push(`${where}: not a gateway status`);
  if (!PROXY_STATUS.test(String(h['proxy-status']))) problems.push(`${where}: Proxy-Status ${h['proxy-status']}`);
  if (!REQUEST_ID.test(String(h['x-request-id']))) problems.push(`${where}: X-Request-Id ${h['x-request-id']}`);
  if (h['cache-control'] !== 'no-store') problems.push(`${where}: Cache-Control ${h['cache-control']}`);
  const ra = h['retry-after'];
  if (ra !== undefined && !(/^\d+$/.test(ra) && Number(ra) <= 86_400)) problems.push(`${where}: Retry-After ${ra}`);
  if (g.status === 503 && ra === undefined) problems.push(`${where}: 503 without Retry-After`);
  if (!g.complete) problems.push(`${where}: error answer cut`);
  const type = String(h['content-type']);
  if (p.method === 'HEAD') {
    if (g.bytes.length !== 0) problems.push(`${where}: HEAD with a body`);
    return problems;
  }
  if (Number(h['content-length']) !== g.bytes.length) problems.push(`${where}: Content-Length ${h['content-length']} for ${g.bytes.length} bytes`);
  const text = g.body;
  if (type === 'application/problem+json; charset=utf-8') {
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
      if (j.status !== g.status || typeof j.title !== 'string' || typeof j.detail !== 'string' || j.requestId !== h['x-request-id']) {
        problems.push(`${where}: problem+json fields ${text.slice(0, 120)}`);
      }
      const replayable = REPLAYABLE[p.method];
      if ((j.mayHaveGoneThrough === true) === replayable) problems.push(`${where}: mayHaveGoneThrough=${String(j.mayHaveGoneThrough)}`);
    } catch {
      problems.push(`${where}: problem+json does not parse`);
    }
  } else if (type === 'text/html; charset=utf-8') {
    if (!/^<!doctype html>/i.test(text) || !text.trimEnd().endsWith('</html>')) problems.push(`${where}: HTML is not a whole page`);
    if (!h['content-security-policy']) problems.push(`${where}: HTML without CSP`);
  } else if (type === 'text/plain; charset=utf-8') {
    if (!text.startsWith(`${g.status} `)) problems.push(`${where}: text does not start with the status`);
  } else problems.push(`${where}: Content-Type ${type}`);
  return problems;
}

/** Run one soak against one adapter; resolves with the figures. Never throws for a bad answer: it reports it. */
export async function soak(adapter: string, mount: Mount, o: SoakOptions): Promise<SoakReport> {
  const gc = fullGc();
  const watch = watchProcess();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const kit = await startRemoteKit();
  let app: MountedApp | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const rand = mulberry32(o.seed);
  const byStatus: Record<string, number> = {};
  const byProxyStatus: Record<string, number> = {};
  const problems: string[] = [];
  let problemCount = 0;
  let sent = 0;
  let answered = 0;
  let clientErrors = 0;
  let faulty = 0;
  let heapAfterWarmup: number | undefined;
  let timedOut = false;
  const started = Date.now();
  const stopAt = started + o.timeLimit;
  const warmup = Math.min(1000, Math.floor(o.requests / 4));
  const note = (p: string): void => {
    problemCount += 1;
    if (problems.length < 20) problems.push(p);
  };

  try {
    app = await mount({ errors: {}, proxies: [{ prefix: '/', options: { target: kit.url, ...SOAK_PROXY } }] });
    const url = app.url;
    const worker = async (): Promise<void> => {
      for (;;) {
        if (sent >= o.requests) return;
        if (Date.now() >= stopAt) {
          timedOut = true;
          return;
        }
        const i = sent++;
        const p = plan(rand, o.faultRate, i);
        if (p.healthy === undefined) faulty += 1;
        try {
          const g = await request(agent, url, p);
          answered += 1;
          byStatus[g.status] = (byStatus[g.status] ?? 0) + 1;
          const ps = g.headers['proxy-status'];
          if (ps !== undefined) byProxyStatus[String(ps)] = (byProxyStatus[String(ps)] ?? 0) + 1;
          for (const problem of check(p, g)) note(problem);
        } catch (e) {
          // A connection that dies is expected only where the upstream dies mid-body on a keep-alive
          // client connection that the gateway then closes; anything else is a problem.
          clientErrors += 1;
          if (!p.path.startsWith('/die-mid-body')) note(`${p.method} ${p.path}: ${(e as Error).message}`);
        }
        if (answered === warmup && heapAfterWarmup === undefined) heapAfterWarmup = heapAfterGc(gc);
        if (o.log && answered > 0 && answered % 2000 === 0) o.log(`  ${adapter}: ${answered} answered, ${problemCount} problems`);
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, worker));
    const durationMs = Date.now() - started;
    loop.disable();
    agent.destroy();

    // Still answering: a healthy request gets its 200, once an open circuit has let a probe through.
    let aliveAtEnd = false;
    const until = Date.now() + 7000;
    while (!aliveAtEnd && Date.now() < until) {
      const g = await request(new http.Agent(), url, { path: '/ok', method: 'GET', accept: undefined, body: undefined, allowed: [], healthy: 'ok' }).catch(() => undefined);
      aliveAtEnd = g?.status === 200 && g.body === 'ok';
      if (!aliveAtEnd) await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 400)); // the kit's keep-alive (200 ms) closes pooled sockets
    const upstreamSocketsAtEnd = await kit.openSockets();
    const heapAfterRun = heapAfterGc(gc);
    watch.stop();
    return {
      adapter,
      seed: o.seed,
      sent,
      answered,
      clientErrors,
      faulty,
      durationMs,
      perSecond: Math.round((answered / durationMs) * 1000),
      byStatus,
      byProxyStatus,
      problems,
      problemCount,
      heapAfterWarmup,
      heapAfterRun,
      warnings: watch.warnings.map(String),
      rejections: watch.rejections.map(String),
      aliveAtEnd,
      upstreamSocketsAtEnd,
      timedOut,
      loopDelayP99: Math.round(loop.percentile(99) / 1e6),
      loopDelayMax: Math.round(loop.max / 1e6),
    };
  } finally {
    loop.disable();
    watch.stop();
    agent.destroy();
    await app?.close();
    await kit.close();
  }
}

/** The report as a few lines of figures. */
export function formatReport(r: SoakReport): string {
  const mib = (b: number | undefined): string => (b === undefined ? 'n/a (no gc)' : `${(b / 1048576).toFixed(1)} MiB`);
  const growth =
    r.heapAfterWarmup !== undefined && r.heapAfterRun !== undefined ? `${((r.heapAfterRun - r.heapAfterWarmup) / 1048576).toFixed(2)} MiB` : 'n/a';
  return [
    `${r.adapter}: ${r.answered}/${r.sent} answered in ${(r.durationMs / 1000).toFixed(1)} s (${r.perSecond} req/s), ${r.faulty} sent to a faulty route, seed ${r.seed}${r.timedOut ? ', STOPPED AT THE TIME LIMIT' : ''}`,
    `  statuses: ${JSON.stringify(r.byStatus)}`,
    `  Proxy-Status: ${JSON.stringify(r.byProxyStatus)}`,
    `  heap after GC: ${mib(r.heapAfterWarmup)} after warm-up, ${mib(r.heapAfterRun)} at the end (growth ${growth})`,
    `  event-loop delay: p99 ${r.loopDelayP99} ms, max ${r.loopDelayMax} ms`,
    `  problems: ${r.problemCount}${r.problems.length ? `\n    ${r.problems.join('\n    ')}` : ''}`,
    `  client-side connection errors: ${r.clientErrors}; warnings: ${r.warnings.length}${r.warnings.length ? ` (${r.warnings.join('; ')})` : ''}; unhandled rejections: ${r.rejections.length}`,
    `  answering at the end: ${r.aliveAtEnd ? 'yes' : 'NO'}; upstream sockets open at the end: ${r.upstreamSocketsAtEnd}`,
  ].join('\n');
}
