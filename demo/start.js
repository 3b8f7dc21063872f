/**
 * `npm start`: an Express gateway using gateway-errors, in front of three instances of a
 * deliberately flaky upstream, all on 127.0.0.1. Switch one instance or all of them on the
 * control page and watch the console: one line per retry, per failure, per answer, per ejection.
 *
 *   PORT=3000 UPSTREAM_PORT=4000 node demo/start.js   (these are the defaults; 0 picks free ports)
 *
 * The instances listen on UPSTREAM_PORT, UPSTREAM_PORT + 1 and UPSTREAM_PORT + 2.
 *
 * It imports the built package by its own name, exactly as an application would: run
 * `npm run build` first (`npm start` does).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import express from 'express';
import { gatewayErrors, gatewayProxy } from 'gateway-errors/express';
import { prometheusMetrics } from 'gateway-errors/prometheus';
import { register } from 'prom-client';
import { MODES, startUpstreams } from './upstream.js';
import { CONTROL_PAGE_CSP, controlPage } from './page.js';

const HOST = '127.0.0.1';
const PORT = port('PORT', 3000);
const UPSTREAM_PORT = port('UPSTREAM_PORT', 4000);
/** Upstream instances, on UPSTREAM_PORT and the ports after it. */
const INSTANCES = 3;
/** The gateway gives up on a silent upstream after this long (the "slow" mode takes 3 s). */
const RESPONSE_TIMEOUT = 1000;
/**
 * Outlier detection: the library's defaults, spelled out so the log and the page can name them.
 * (At most one of three targets is ejected at a time: maxEjectionPercent's 10 % rounds up to one.)
 */
const OUTLIER = { consecutiveFailures: 5, baseEjectionTime: 30_000 };

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code) => (text) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
const dim = paint('2');
const green = paint('32');
const yellow = paint('33');
const red = paint('31');
const bold = paint('1');

function port(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number.parseInt(raw, 10);
  // UPSTREAM_PORT needs two more ports after it.
  const max = name === 'UPSTREAM_PORT' ? 65533 : 65535;
  if (!/^[0-9]+$/.test(raw) || n > max) {
    console.error(`${name} must be a port number from 0 to ${max}, got ${JSON.stringify(raw)}.`);
    process.exit(1);
  }
  return n;
}

function busy(err, name, value) {
  if (err?.code === 'EADDRINUSE') {
    console.error(
      `\nPort ${value} on ${HOST} is already in use (${name}). Stop what runs there, or pick other ports:\n\n` +
        `  PORT=3100 UPSTREAM_PORT=4100 npm start\n`,
    );
  } else {
    console.error(`Cannot listen on ${HOST}:${value} (${name}): ${err?.message ?? err}`);
  }
  process.exit(1);
}

const time = () => dim(new Date().toTimeString().slice(0, 8));
const log = (line) => console.log(`${time()} ${line}`);

/** What failed, in the words of the Proxy-Status header. */
function what(failure) {
  if (failure.error) return `${failure.error} → ${failure.status}`;
  if (failure.receivedStatus) return `upstream answered ${failure.receivedStatus}`;
  return String(failure.status);
}

const REASONS = {
  retries_exhausted: 'retries used up',
  not_retryable: 'a retry cannot mend this failure',
  not_replayable: 'not safe to replay (method not idempotent, no Idempotency-Key)',
  retry_after_too_long: 'its Retry-After is longer than the gateway waits',
  response_started: 'the response had already started',
  client_gone: 'the client went away',
  deadline: 'the request deadline passed',
  budget_exhausted: 'the retry budget is spent',
  circuit_open: 'the circuit is open, the upstream is given a rest',
  concurrency_limit: 'too many requests in flight',
};

// ---------------------------------------------------------------------------------------------
// The upstream: three instances, each switched on its own from the control page.

let instances;
try {
  instances = await startUpstreams({ port: UPSTREAM_PORT, count: INSTANCES, host: HOST });
} catch (err) {
  busy(err, err?.port === UPSTREAM_PORT ? 'UPSTREAM_PORT' : 'UPSTREAM_PORT + 1 or + 2', err?.port ?? UPSTREAM_PORT);
}
/** Instance number (from 1) and port, as the log and the page name it. */
const instanceName = (u) => `#${instances.indexOf(u) + 1} (:${u.port})`;

// ---------------------------------------------------------------------------------------------
// The gateway: this is the part an application writes.

/** Which client request a hook call belongs to: the hooks run inside the request's async context. */
const current = new AsyncLocalStorage();
let requests = 0;

// Requests by outcome, attempts, retries, circuit and target state, on /metrics (Prometheus text).
prometheusMetrics();

const app = express();
const gateway = gatewayErrors({
  brand: { name: 'Demo Shop', statusPage: '/', support: 'mailto:support@example.com' },
  // Branded answers for the app's own rate limit and failures too (/demo/busy, /demo/broken).
  extraStatuses: [429, 500],
  // The control page stays reachable during planned maintenance, so it can switch it off again.
  maintenance: { allow: ['/', '/demo/*', '/favicon.ico', '/metrics'] },
  // The owner's view of an error page (which target, each attempt, what to check): add ?diagnose.
  diagnose: (req) => 'diagnose' in req.query,
  onMaintenanceStart: (e) =>
    log(bold(yellow(`🚧 maintenance ON${e.until ? ` until ${new Date(e.until).toTimeString().slice(0, 8)}` : ''}: every other request gets the maintenance page, no upstream call`))),
  onMaintenanceStop: (e) => log(bold(green(`🚧 maintenance off after ${Math.round(e.duration / 1000)} s: traffic flows again`))),
  onMaintenanceAnswer: (e) => log(yellow(`🚧 ${e.method} ${e.path}  503 maintenance, Retry-After ${e.retryAfter} s, upstream not asked`)),
});
app.use(gateway);
app.get('/metrics', async (_req, res) => {
  res.set('content-type', register.contentType).send(await register.metrics());
});

const instanceList = () => instances.map((u, i) => ({ n: i + 1, url: u.url, mode: u.mode }));
app.get('/', (req, res) => {
  const page = controlPage({
    instances: instanceList(),
    modes: MODES,
    base: baseUrl(),
    proxy: proxy.state(),
    maintenance: gateway.maintenance.state(),
    ejectAfter: OUTLIER.consecutiveFailures,
    ejectFor: OUTLIER.baseEjectionTime / 1000,
  });
  res.set('content-security-policy', CONTROL_PAGE_CSP).type('html').send(page);
});
// What the control page polls: each instance's mode, and the gateway's view (proxy.state()).
// Under /demo/, so the maintenance allow-list keeps it reachable.
app.get('/demo/state', (req, res) => {
  res.set('cache-control', 'no-store').json({ instances: instanceList(), ...proxy.state(), maintenance: gateway.maintenance.state() });
});
// The maintenance switch: on for N minutes (with an optional message), or off.
app.post('/demo/maintenance/start', express.urlencoded({ extended: false, limit: '4kb' }), (req, res) => {
  const minutes = Number(req.body?.minutes ?? req.query.minutes ?? 10);
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) {
    res.status(400).type('text').send('minutes must be a whole number from 1 to 1440\n');
    return;
  }
  const message = String(req.body?.message ?? req.query.message ?? '').slice(0, 500);
  const state = gateway.maintenance.start({ until: new Date(Date.now() + minutes * 60_000), ...(message && { message }) });
  if (req.accepts(['text', 'html']) === 'html') res.redirect(303, '/');
  else res.type('text').send(`maintenance on until ${state.until}\n`);
});
app.post('/demo/maintenance/stop', (req, res) => {
  gateway.maintenance.stop();
  if (req.accepts(['text', 'html']) === 'html') res.redirect(303, '/');
  else res.type('text').send('maintenance off\n');
});
// A handler's own 429 and 500, branded because of extraStatuses.
app.get('/demo/busy', (req, res) => {
  res.set('Retry-After', '20').status(429).json({ error: 'rate limited' });
});
app.get('/demo/broken', () => {
  throw new Error('a bug in a route handler');
});
function unknownMode(res, mode) {
  res.status(404).type('text').send(`unknown mode "${mode}"; modes: ${Object.keys(MODES).join(', ')}\n`);
}
// Every instance at once.
app.post('/demo/mode/:mode', async (req, res) => {
  const mode = req.params.mode;
  if (!Object.hasOwn(MODES, mode)) return unknownMode(res, mode);
  await Promise.all(instances.map((u) => u.setMode(mode)));
  log(bold(`all ${instances.length} upstream instances are now ${mode}: ${MODES[mode]}`));
  if (req.accepts(['text', 'html']) === 'html') res.redirect(303, '/');
  else res.type('text').send(`upstream mode: ${mode} on all ${instances.length} instances (${MODES[mode]})\n`);
});
// One instance: /demo/instance/2/mode/refusing, or the page's form (mode in the body).
async function instanceMode(req, res) {
  const n = Number(req.params.n);
  const u = Number.isInteger(n) ? instances[n - 1] : undefined;
  if (u === undefined) {
    res.status(404).type('text').send(`no instance "${req.params.n}"; instances: 1 to ${instances.length}\n`);
    return;
  }
  const mode = String(req.params.mode ?? req.body?.mode ?? '');
  if (!Object.hasOwn(MODES, mode)) return unknownMode(res, mode);
  await u.setMode(mode);
  log(bold(`upstream instance ${instanceName(u)} is now ${mode}: ${MODES[mode]}`));
  if (req.accepts(['text', 'html']) === 'html') res.redirect(303, '/');
  else res.type('text').send(`instance ${n} (${u.url}) mode: ${mode} (${MODES[mode]})\n`);
}
app.post('/demo/instance/:n/mode/:mode', instanceMode);
app.post('/demo/instance/:n/mode', express.urlencoded({ extended: false, limit: '1kb' }), instanceMode);
app.get('/favicon.ico', (req, res) => {
  res.status(204).end();
});

// Number every API request and report how it ended.
app.use('/api', (req, res, next) => {
  const state = { id: ++requests, retries: 0, gaveUp: false, start: Date.now() };
  req.headers['x-demo-request'] = String(state.id); // lets the upstream tell retries apart
  res.on('close', () => {
    const label = `#${state.id} ${req.method} ${req.originalUrl}`;
    const ms = `${Date.now() - state.start} ms`;
    // Which instance answered, from the upstream's own header (the retry events name the group only).
    const instance = res.getHeader('x-demo-instance');
    const from = instance === undefined ? '' : ` from :${instance}`;
    if (!res.writableFinished) {
      log(red(`✗ ${label}  ${res.statusCode} head sent, then the upstream died mid-body: connection cut, not retried (${ms})`));
    } else if (state.gaveUp) {
      // Already reported by onGiveUp.
    } else if (res.statusCode >= 500) {
      log(red(`✗ ${label}  ${res.statusCode} (${ms})`));
    } else if (state.retries > 0) {
      log(green(`✓ ${label}  ${res.statusCode} after ${state.retries + 1} attempts: recovered${from} (${ms})`));
    } else {
      log(`✓ ${label}  ${res.statusCode}${from} (${ms})`);
    }
  });
  current.run(state, next);
});

const proxy = gatewayProxy({
  // Balanced by the power of two choices; a retry goes to an instance the request has not tried.
  targets: instances.map((u) => u.url),
  responseTimeout: RESPONSE_TIMEOUT,
  outlier: OUTLIER,
  // retry: the defaults (2 retries for idempotent methods, full-jitter backoff, Retry-After up to 2 s;
  //   a POST only when its connection was refused, as nothing of it was sent)
  // circuit: the defaults (counts client requests, not attempts: opens when at least half of 20 or
  //   more requests in 10 s failed; one probe after 5 s)
  onRetry(event) {
    const state = current.getStore();
    if (state) state.retries = event.attempt;
    const wait = event.reason === 'retry_after' ? `waiting ${event.delay} ms as its Retry-After asks` : `retrying in ${event.delay} ms (backoff)`;
    log(yellow(`↻ #${state?.id ?? '?'} ${event.method} ${event.path}  attempt ${event.attempt} failed: ${what(event.failure)}; ${wait}`));
  },
  onGiveUp(event) {
    const state = current.getStore();
    if (state) state.gaveUp = true;
    const tries = event.attempts === 0 ? 'no attempt' : event.attempts === 1 ? '1 attempt' : `${event.attempts} attempts`;
    log(
      red(`✗ #${state?.id ?? '?'} ${event.method} ${event.path}  ${event.failure.status} after ${tries}: ${what(event.failure)}; ` +
        `${REASONS[event.reason] ?? event.reason}`),
    );
  },
  onCircuitOpen(event) {
    log(bold(red(`⚡ circuit to ${event.upstream} OPEN: requests get a 503 at once, no upstream call; one probe in ${event.retryAfter} s`)));
  },
  onCircuitClose(event) {
    log(bold(green(`⚡ circuit to ${event.upstream} closed: the probe succeeded, traffic flows again`)));
  },
  onTargetEject(event) {
    if (event.reason === 'consecutive_failures') {
      const s = Math.round((Date.parse(event.until) - Date.now()) / 1000);
      const nth = event.ejections > 1 ? ` (ejection ${event.ejections})` : '';
      log(bold(red(`⇄ target ${event.target} ejected for ${s} s after ${OUTLIER.consecutiveFailures} failures in a row${nth}: the other instances take its traffic`)));
    } else {
      log(bold(red(`⇄ target ${event.target} out: its health checks fail`)));
    }
  },
  onTargetReturn(event) {
    const why = event.reason === 'ejection_ended' ? 'its ejection ended, it gets traffic again' : 'its health checks pass again';
    log(bold(green(`⇄ target ${event.target} back: ${why}`)));
  },
});
app.use('/api', proxy);
app.use(gateway.errorHandler);

const server = http.createServer(app);
server.keepAliveTimeout = 5000;
// WebSockets under /api go through the same proxy (the control page has an echo button).
server.on('upgrade', proxy.upgrade);
await new Promise((resolve) => {
  server.once('error', (err) => busy(err, 'PORT', PORT));
  server.listen(PORT, HOST, resolve);
});

function baseUrl() {
  return `http://${HOST}:${server.address().port}`;
}

// ---------------------------------------------------------------------------------------------
// Tell the newcomer what to open, then show one recovered retry straight away.

const base = baseUrl();
console.log(`
${bold('gateway-errors demo')}: an Express gateway in front of ${instances.length} instances of a deliberately flaky upstream.

  control page     ${bold(`${base}/`)}   switch one instance or all of them here, see how the gateway sees them
  the branded page ${bold(`${base}/api/hello?mode=maintenance`)}   (a 503, open it in a browser)
  through the proxy${bold(` ${base}/api/hello`)}   open it after each switch
  upstreams        ${instances.map((u) => u.url).join('  ')}   (mode: ${instances[0].mode})

  curl -i ${base}/api/hello                                  text/plain answer
  curl -i -H 'accept: application/json' ${base}/api/hello    problem+json answer
  curl -i -X POST ${base}/api/orders                          a POST is never replayed
  curl -X POST ${base}/demo/instance/2/mode/refusing          switch one instance (${Object.keys(MODES).join(', ')})
  curl -X POST ${base}/demo/mode/refusing                     ...or all of them
  curl ${base}/demo/state                                     the gateway's view: proxy.state()
  curl ${base}/metrics                                        requests, attempts, retries, circuit, targets (Prometheus)
  curl -i '${base}/api/hello?mode=refusing&diagnose'          the owner's view of an error (which target, each attempt)
  curl -X POST '${base}/demo/maintenance/start?minutes=5'     planned maintenance for 5 minutes
  curl -X POST ${base}/demo/maintenance/stop                  ...and off again

Each retry, failure, answer and ejection is printed below. Ctrl-C stops.
`);

log(dim(`self-check: GET /api/hello through the gateway, upstream mode ${instances[0].mode}`));
await new Promise((resolve) => {
  const req = http.get(`${base}/api/hello`, { headers: { accept: 'application/json' }, agent: false }, (res) => {
    res.resume();
    res.on('end', resolve);
    res.on('error', resolve);
  });
  req.on('error', resolve);
  req.setTimeout(10_000, () => req.destroy());
});

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections();
  proxy.close();
  await Promise.all([new Promise((resolve) => server.close(resolve)), ...instances.map((u) => u.close())]);
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
