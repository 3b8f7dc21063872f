#!/usr/bin/env node
/**
 * Allocation per request, the steady figure on a noisy machine: each subject's proxy process runs
 * with a fixed 1 MiB semi-space and `--trace-gc`, serves a fixed number of requests, and the
 * scavenges it prints are counted. One scavenge is about one MiB allocated in the young
 * generation, so "scavenges per 10k requests" is roughly "bytes per request / 100" — and, unlike
 * req/s, it barely moves between runs (±3 %).
 *
 *   node bench/alloc.js ours-express express-hpm
 *   node bench/alloc.js ours-express=/tmp/patched 'ours-express@{"circuit":false}'
 *   node bench/alloc.js ours-express ours-express~metrics   (an OpenTelemetry SDK: see ab.js)
 *   --requests 40000 --connections 50 --path /ok?size=1024
 *
 * Run `npm run build` first (ours is measured from a private copy of dist/).
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startProxy, startUpstream } from './lib/child.js';
import { snapshotPackage } from './lib/package.js';
import { mdTable } from './lib/report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    requests: { type: 'string', default: '40000' },
    connections: { type: 'string', default: '50' },
    path: { type: 'string', default: '/ok?size=1024' },
  },
});
const pkg = await snapshotPackage(ROOT);
const upstream = await startUpstream();
const requests = Number(o.requests);
const connections = Number(o.connections);
const rows = [];
for (const spec of positionals) {
  const at = spec.indexOf('@');
  const [head, dir] = (at === -1 ? spec : spec.slice(0, at)).split('=');
  const [kind, otel] = head.split('~');
  const extra = at === -1 ? undefined : JSON.parse(spec.slice(at + 1));
  // The child's output reaches us line by line on stderr (see lib/child.js): count, do not show.
  let counting = false;
  let scavenges = 0;
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk, ...rest) => {
    const line = String(chunk);
    if (/ ms: (Scavenge|Mark|Minor)/.test(line)) {
      if (counting && line.includes(' ms: Scavenge')) scavenges++;
      return true; // the GC trace is counted, not shown
    }
    return write(chunk, ...rest);
  };
  const proxy = await startProxy(kind, upstream.url, extra, {
    name: spec,
    env: { BENCH_PACKAGE_DIR: dir ?? pkg, BENCH_OTEL: otel ?? process.env.BENCH_OTEL ?? '' },
    execArgv: ['--trace-gc', '--min-semi-space-size=1', '--max-semi-space-size=1'],
  });
  const url = `${proxy.url}${o.path}`;
  await autocannon({ url, connections, amount: Math.ceil(requests / 8) }); // warm-up
  await new Promise((r) => setTimeout(r, 100));
  counting = true;
  const r = await autocannon({ url, connections, amount: requests });
  await new Promise((r) => setTimeout(r, 200)); // the last lines in flight
  counting = false;
  process.stderr.write = write;
  await proxy.close();
  if (r.non2xx + r.errors > 0) throw new Error(`${spec}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
  rows.push([spec, ((scavenges / requests) * 10_000).toFixed(1)]);
}
await upstream.close();
rmSync(pkg, { recursive: true, force: true });
console.log(mdTable(['subject', 'scavenges per 10k requests (~ bytes per request / 100)'], rows, ['l', 'r']));
