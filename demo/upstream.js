/**
 * The demo's deliberately flaky upstream: plain node:http servers on 127.0.0.1 whose behaviour
 * is switched live (setMode) or for one request (`?mode=...`). The demo runs several instances,
 * each switched on its own.
 *
 * The gateway numbers each client request in an `x-demo-request` header, so the upstream can
 * tell a retry of request #7 from a new request: "flaky" fails the first attempt of every request
 * and lets the retry through. The instances share that count (`attempts`), as replicas sharing a
 * session store would: a retry that lands on another instance is still the second attempt.
 */
import http from 'node:http';
import { WebSocketServer } from 'ws';

/** Every mode, with what it does; the control page and the console print these words. */
export const MODES = Object.freeze({
  healthy: 'answers 200 at once',
  flaky: 'fails the first attempt of every request (a reset, or a 503 with Retry-After: 1); the retry succeeds',
  slow: 'takes 3 s to answer, longer than the gateway’s 1 s response timeout',
  hanging: 'reads the request and never answers',
  refusing: 'stops listening, as if killed: every connection is refused',
  maintenance: 'answers 503 with Retry-After: 120, too long to wait out',
  dying: 'sends the head and part of the body, then drops the connection',
});

const SLOW_MS = 3000;

/**
 * Start one upstream instance. Resolves once it listens; rejects with the listen error (EADDRINUSE).
 * @param {{ port: number, host?: string, attempts?: Map<string, number> }} options `attempts`:
 *   attempts seen per gateway request number, shared by the instances (bounded: old entries go)
 */
export async function startUpstream({ port, host = '127.0.0.1', attempts = new Map() }) {
  let mode = 'flaky';
  let listening = false;
  const timers = new Set();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream.invalid');
    const override = url.searchParams.get('mode');
    const behaviour = override !== null && override in MODES && override !== 'refusing' ? override : mode;
    const id = req.headers['x-demo-request'] ?? '-';
    const attempt = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, attempt);
    if (attempts.size > 1000) attempts.delete(attempts.keys().next().value);

    // Which instance answered: the gateway's log prints it (the retry events name only the group).
    res.setHeader('x-demo-instance', String(port));
    // Read the request body before answering, as a real application does.
    req.resume();
    req.on('end', () => answer(behaviour, { req, res, url, id, attempt }));
  });
  server.keepAliveTimeout = 5000;

  function answer(behaviour, { req, res, url, id, attempt }) {
    switch (behaviour) {
      case 'flaky':
        if (attempt === 1) {
          // Alternate the two kinds of transient failure, so both retry reasons show up.
          if (Number(id) % 2 === 0) {
            res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain' });
            res.end('busy, come back in a second\n');
          } else {
            req.socket.destroy(); // closed before any byte: the gateway sees a reset
          }
          return;
        }
        return ok(req, res, url, id, attempt, behaviour);
      case 'slow': {
        const timer = setTimeout(() => {
          timers.delete(timer);
          ok(req, res, url, id, attempt, behaviour);
        }, SLOW_MS);
        timers.add(timer);
        res.on('close', () => {
          clearTimeout(timer);
          timers.delete(timer);
        });
        return;
      }
      case 'hanging':
        return; // the gateway's response timeout ends it; close() cuts what is left
      case 'maintenance':
        res.writeHead(503, { 'retry-after': '120', 'content-type': 'text/plain' });
        res.end('down for maintenance\n');
        return;
      case 'dying': {
        const part = '<!doctype html><title>Half a page</title><h1>This page will never finish</h1>\n'.padEnd(600, ' ');
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': '4000' });
        res.write(part);
        const timer = setTimeout(() => {
          timers.delete(timer);
          res.destroy();
        }, 200);
        timers.add(timer);
        return;
      }
      default:
        return ok(req, res, url, id, attempt, behaviour);
    }
  }

  function ok(req, res, url, id, attempt, behaviour) {
    const data = { from: 'upstream', instance: port, path: url.pathname, method: req.method, request: id, attempt, mode: behaviour };
    if ((req.headers.accept ?? '').includes('text/html')) {
      const html =
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Upstream says hello</title>' +
        '<body style="font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem">' +
        `<h1>Hello from the upstream</h1><p>Request #${escape(id)}, answered by the instance on port ${port} on attempt ${attempt} (mode: ${behaviour}).</p>` +
        '<p><a href="/">Back to the control page</a></p></body></html>';
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify(data)}\n`);
  }

  // A WebSocket echo on any path, for the control page's button (through proxy.upgrade).
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`${m} (from :${port})`)));

  function listen() {
    return new Promise((resolve, reject) => {
      const onError = (err) => {
        server.off('listening', onListening);
        reject(err);
      };
      const onListening = () => {
        server.off('error', onError);
        listening = true;
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(port, host);
    });
  }

  function unlisten() {
    return new Promise((resolve) => {
      listening = false;
      server.close(() => resolve());
      server.closeAllConnections(); // pooled keep-alive sockets too: the next connect is refused
      for (const ws of wss.clients) ws.terminate(); // and open WebSockets: the instance is gone
    });
  }

  await listen();
  port = server.address().port; // keep the same port when it comes back after "refusing"
  let switching = Promise.resolve();

  return {
    get url() {
      return `http://${host}:${port}`;
    },
    get port() {
      return port;
    },
    get mode() {
      return mode;
    },
    /** Switch behaviour for every request from now on. "refusing" really closes the port. */
    setMode(next) {
      if (!(next in MODES)) throw new TypeError(`unknown mode ${next}`);
      switching = switching.then(async () => {
        if (next === 'refusing' && listening) await unlisten();
        if (next !== 'refusing' && !listening) await listen();
        mode = next;
      });
      return switching;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await switching.catch(() => undefined);
      if (listening) await unlisten();
    },
  };
}

/**
 * Start `count` instances on `port`, `port + 1`, ... (each on a free port when `port` is 0).
 * Rejects with the first listen error, its `port` set, after closing the instances already up.
 * @param {{ port: number, count: number, host?: string }} options
 */
export async function startUpstreams({ port, count, host = '127.0.0.1' }) {
  const attempts = new Map();
  const started = [];
  for (let i = 0; i < count; i++) {
    const want = port === 0 ? 0 : port + i;
    try {
      started.push(await startUpstream({ port: want, host, attempts }));
    } catch (err) {
      await Promise.all(started.map((u) => u.close()));
      throw Object.assign(err, { port: want });
    }
  }
  return started;
}

function escape(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
