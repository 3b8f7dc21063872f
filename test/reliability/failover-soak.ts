/**
 * The failover soak: GET and POST traffic through one gatewayProxy({ targets }) in front of three
 * real upstream instances while faults move between them — one instance at a time is killed and
 * restarted on its port, answers 503 to everything, resets, or hangs. Every GET must come back
 * 200; no POST may reach the upstreams twice, and every POST answered 200 reached them exactly
 * once; at the end no socket or timer is left. Used by failover-soak-short.test.ts (in `npm
 * test`) and scripts/soak.ts (`npm run soak`). Loopback only, bounded in count and in time.
 */
import http from 'node:http';
import type { Mount } from '../support/apps.js';
import { delay, send } from '../support/client.js';
import { mulberry32 } from '../support/random.js';
import { startTarget, type Mode, type TargetServer } from '../support/target.js';
import { handleCensus, handlesSettled, watchProcess } from './harness.js';

export interface FailoverSoakOptions {
  requests: number;
  concurrency: number;
  /** Stop sending after this many ms, whatever the count (the report says so). */
  timeLimit: number;
  seed: number;
  /** ms between fault changes. */
  faultEvery?: number;
}

export interface FailoverSoakReport {
  adapter: string;
  seed: number;
  sent: number;
  gets: number;
  getsNot200: number;
  posts: number;
  posts200: number;
  /** POST ids that reached the upstreams more than once (must be none). */
  duplicated: string[];
  /** POSTs answered 200 that no upstream received exactly once (must be none). */
  lost: string[];
  faults: string[];
  ejections: number;
  durationMs: number;
  timedOut: boolean;
  warnings: string[];
  rejections: string[];
  /** Handle kinds still above the baseline once everything closed (must be none). */
  leftHandles: Record<string, [number, number]>;
}

const FAULT_MODES: readonly (Mode | 'kill')[] = ['kill', '503', 'reset', 'hang'];

export async function failoverSoak(adapter: string, mount: Mount, o: FailoverSoakOptions): Promise<FailoverSoakReport> {
  const random = mulberry32(o.seed);
  const baseline = handleCensus();
  const watch = watchProcess();
  const targets: TargetServer[] = [];
  for (const name of ['a', 'b', 'c']) targets.push(await startTarget(name));
  let ejections = 0;
  const app = await mount({
    proxies: [{ prefix: '/api', options: { targets: targets.map((t) => t.url), responseTimeout: 300, onTargetEject: () => ejections++ } }],
  });
  const started = Date.now();
  const faults: string[] = [];
  let running = true;
  // One instance at a time is faulty; the others stay healthy.
  const faulter = (async () => {
    let current: TargetServer | undefined;
    while (running) {
      await delay(o.faultEvery ?? 100);
      if (!running) break;
      if (current !== undefined) {
        if (current.mode === 'ok') await current.restart();
        else current.mode = 'ok';
        current = undefined;
        continue;
      }
      current = targets[Math.floor(random() * targets.length)]!;
      // Every kind of fault in turn, on a random instance.
      const mode = FAULT_MODES[faults.length % FAULT_MODES.length]!;
      faults.push(`${targets.indexOf(current)}:${mode}`);
      if (mode === 'kill') await current.kill();
      else current.mode = mode;
    }
    if (current !== undefined && current.mode === 'ok') await current.restart();
  })();

  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  let next = 0;
  let getsNot200 = 0;
  const posts: { id: string; status: number }[] = [];
  let gets = 0;
  let timedOut = false;
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      for (let i = next++; i < o.requests; i = next++) {
        if (Date.now() - started > o.timeLimit) {
          timedOut = true;
          return;
        }
        if (random() < 0.3) {
          const id = `${o.seed}-${i}`;
          const r = await send(`${app.url}/api/orders`, { agent, method: 'POST', body: JSON.stringify({ id }), headers: { 'content-type': 'application/json' } });
          posts.push({ id, status: r.status });
        } else {
          gets++;
          const r = await send(`${app.url}/api/items?i=${i}`, { agent });
          if (r.status !== 200) getsNot200++;
        }
      }
    }),
  );
  running = false;
  await faulter;
  const durationMs = Date.now() - started;
  agent.destroy();
  await app.close();
  for (const t of targets) t.mode = 'ok';
  const reached = (id: string) => targets.reduce((n, t) => n + (t.ids.get(id) ?? 0), 0);
  const duplicated = posts.filter((p) => reached(p.id) > 1).map((p) => p.id);
  const lost = posts.filter((p) => p.status === 200 && reached(p.id) !== 1).map((p) => p.id);
  for (const t of targets) await t.close();
  const leftHandles = await handlesSettled(baseline);
  watch.stop();
  return {
    adapter,
    seed: o.seed,
    sent: gets + posts.length,
    gets,
    getsNot200,
    posts: posts.length,
    posts200: posts.filter((p) => p.status === 200).length,
    duplicated,
    lost,
    faults,
    ejections,
    durationMs,
    timedOut,
    warnings: watch.warnings.map((w) => `${w.name}: ${w.message}`),
    rejections: watch.rejections.map((r) => String(r)),
    leftHandles,
  };
}

export function formatFailoverReport(r: FailoverSoakReport): string {
  return [
    `${r.adapter}, three targets: ${r.sent} requests in ${(r.durationMs / 1000).toFixed(1)} s, seed ${r.seed}${r.timedOut ? ' (stopped at the time limit)' : ''}`,
    `  GET: ${r.gets}, not 200: ${r.getsNot200}; POST: ${r.posts}, answered 200: ${r.posts200}, duplicated: ${r.duplicated.length}, 200 but not received once: ${r.lost.length}`,
    `  faults: ${r.faults.length} (${r.faults.slice(0, 12).join(' ')}${r.faults.length > 12 ? ' …' : ''}); ejections: ${r.ejections}`,
    `  warnings: ${r.warnings.length}; unhandled rejections: ${r.rejections.length}; handles left: ${JSON.stringify(r.leftHandles)}`,
  ].join('\n');
}
