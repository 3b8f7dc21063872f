/**
 * The benchmark's upstream: a plain node:http server in its own process, as lean as possible so
 * it takes little of the CPU the proxies are measured on. It counts every request it receives
 * (the outage scenario reads the count over IPC to get upstream attempts per client request).
 *
 *   /ok?size=N        200 text/plain, N bytes (default 1024), from a buffer built once per size
 *   /status/CODE      that status with a short text body (e.g. /status/503 for an outage)
 *   /big?mib=N        200 application/octet-stream, N MiB with Content-Length, 64 KiB writes
 *                       honouring backpressure (the memory scenario); &chunked=1: no
 *                       Content-Length, so a proxy cannot tell its size before it streams
 *   /slow?ms=N        200 with 1 KiB after N ms (the concurrent slow requests scenario)
 *
 * IPC: { id, cmd: 'count' } -> { id, count }; { id, cmd: 'reset' } -> { id, count: 0 }.
 */
import http from 'node:http';

const bodies = new Map();
function bodyOf(size) {
  let b = bodies.get(size);
  if (b === undefined) {
    b = Buffer.alloc(size, 'x');
    bodies.set(size, b);
  }
  return b;
}

function param(query, name, fallback) {
  if (query === '') return fallback;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (pair.slice(0, eq) === name) return Number(pair.slice(eq + 1));
  }
  return fallback;
}

const CHUNK = Buffer.alloc(64 * 1024, 'y');
let count = 0;

function big(res, bytes, chunked) {
  res.writeHead(200, { 'content-type': 'application/octet-stream', ...(!chunked && { 'content-length': bytes }) });
  let left = bytes;
  const write = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      const more = res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
      if (left === 0) return void res.end();
      if (!more) return void res.once('drain', write);
    }
  };
  res.on('close', () => {
    left = 0;
  });
  write();
}

const server = http.createServer((req, res) => {
  count++;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  if (path === '/ok') {
    const body = bodyOf(param(query, 'size', 1024));
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    return void res.end(body);
  }
  if (path.startsWith('/status/')) {
    const code = Number(path.slice(8)) || 500;
    res.writeHead(code, { 'content-type': 'text/plain', 'content-length': 13 });
    return void res.end('upstream says');
  }
  if (path === '/big') return big(res, param(query, 'mib', 256) * 1024 * 1024, param(query, 'chunked', 0) === 1);
  if (path === '/slow') {
    const timer = setTimeout(() => {
      const body = bodyOf(1024);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    }, param(query, 'ms', 1000));
    res.on('close', () => clearTimeout(timer));
    return;
  }
  res.writeHead(404, { 'content-length': 0 });
  res.end();
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 61_000;

process.on('message', (m) => {
  if (m.cmd === 'count') process.send({ id: m.id, count });
  else if (m.cmd === 'reset') {
    count = 0;
    process.send({ id: m.id, count });
  } else if (m.cmd === 'exit') process.exit(0);
});
process.on('disconnect', () => process.exit(0));

// A second port on the same server, for the two-targets scenario: two targets, one capacity.
const second = http.createServer(server.listeners('request')[0]);
second.keepAliveTimeout = server.keepAliveTimeout;
second.headersTimeout = server.headersTimeout;
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () =>
  second.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => process.send({ type: 'ready', port: server.address().port, port2: second.address().port })),
);
