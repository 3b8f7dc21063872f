/**
 * The demo's control page: each upstream instance with its mode and its live state as the gateway
 * sees it (from `proxy.state()`, polled at /demo/state), a switch per instance and one for all of
 * them, the maintenance switch, and what to open.
 *
 * The page carries its own Content-Security-Policy: no external asset, and the one inline style
 * and the one inline script are allowed by their hashes, not by 'unsafe-inline'.
 */
import { createHash } from 'node:crypto';

/** What /api/hello shows when every instance is in this mode. */
const TRY = {
  healthy: 'a 200 from one of the instances, in one attempt',
  flaky: 'a 200: the first attempt fails, the retry goes to another instance',
  slow: 'the branded 504 page after three 1 s attempts',
  hanging: 'the branded 504 page after three 1 s attempts',
  refusing: 'the branded 502 page after three refused connections; under load the circuit opens (503 at once)',
  maintenance: 'the branded 503 page at once, with a countdown from Retry-After',
  dying: 'half a page: the connection is cut, no error page is appended',
};

/** What GET /api/hello shows when only one instance is in this mode (what this demo observed). */
const ONE = {
  healthy: 'nothing to see',
  flaky: 'a 200; when its first attempt lands there, the retry goes to another instance',
  slow: 'a 200, 1 s late when its first attempt lands there; ejected after five such in a row',
  hanging: 'a 200, 1 s late when its first attempt lands there; ejected after five such in a row',
  refusing: 'a 200, the refused attempt retried on another instance; ejected after five refusals in a row',
  maintenance: 'its 503 reaches the client (a Retry-After longer than the gateway waits is not retried, not even on another instance) until it is ejected',
  dying: 'its cut-off bodies reach the client; never ejected, as its 200 head counts as a success',
};

const STYLE = `
:root { color-scheme: light dark; --accent: #2563eb; }
body { font: 16px/1.5 system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .25rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th { text-align: left; font-weight: 600; padding: .3rem .5rem; }
td { padding: .5rem; border-top: 1px solid #8884; vertical-align: top; }
tr.active { background: #2563eb22; }
button { font: inherit; min-width: 8rem; padding: .3rem .6rem; cursor: pointer; }
button:disabled { font-weight: bold; cursor: default; }
select, input { font: inherit; }
select + button { min-width: 0; }
form.switch { white-space: nowrap; }
form label { margin-right: .75rem; }
input[type=number] { width: 5rem; }
.muted { opacity: .7; font-size: .9rem; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.state { font-weight: 600; }
.ok { color: #15803d; }
.bad { color: #b91c1c; }
.warn { color: #b45309; }
code, pre { font-family: ui-monospace, monospace; font-size: .9rem; }
pre { background: #8881; padding: .75rem; overflow-x: auto; }
.big { font-size: 1.15rem; }
`;

/**
 * Polls /demo/state once a second and writes each target's state into its row, and the circuit's
 * into its line. textContent only: nothing from the JSON is parsed as HTML.
 */
const SCRIPT = `
(() => {
  const time = (iso) => new Date(iso).toLocaleTimeString();
  const set = (el, text, cls) => { if (el) { el.textContent = text; if (cls !== undefined) el.className = cls; } };
  const CIRCUIT = {
    closed: ['closed', 'state ok', 'requests flow'],
    open: ['OPEN', 'state bad', 'every request gets a 503 at once, no upstream call, until the probe'],
    'half-open': ['half-open', 'state warn', 'one probe request is out; the others get a 503'],
    off: ['off', 'state muted', 'no circuit breaker'],
  };
  async function poll() {
    try {
      const r = await fetch('/demo/state', { headers: { accept: 'application/json' }, cache: 'no-store' });
      if (!r.ok) throw new Error(String(r.status));
      const s = await r.json();
      for (const i of s.instances) {
        const row = document.querySelector('tr[data-instance="' + i.n + '"]');
        if (!row) continue;
        set(row.querySelector('.mode'), i.mode);
        const sel = row.querySelector('select');
        if (sel && document.activeElement !== sel) sel.value = i.mode;
        const t = (s.targets || []).find((x) => x.url === i.url);
        if (!t) continue;
        const health = t.ejectedUntil
          ? ['ejected until ' + time(t.ejectedUntil) + ' (' + Math.max(0, Math.round((Date.parse(t.ejectedUntil) - Date.now()) / 1000)) + ' s)', 'state bad']
          : t.healthy ? ['healthy', 'state ok'] : ['unhealthy', 'state bad'];
        set(row.querySelector('.health'), health[0], health[1]);
        set(row.querySelector('.active'), String(t.active));
        set(row.querySelector('.failures'), String(t.consecutiveFailures), 'num' + (t.consecutiveFailures > 0 ? ' warn' : ''));
        set(row.querySelector('.ejections'), String(t.ejections));
      }
      const u = s.upstreams[0];
      const c = CIRCUIT[u ? u.circuit : 'closed'] || [String(u && u.circuit), 'state', ''];
      set(document.getElementById('circuit'), c[0], c[1]);
      set(document.getElementById('circuit-note'), c[2] + (u ? ' · ' + u.active + ' in flight' : ''));
      set(document.getElementById('polled'), 'live, updated ' + new Date().toLocaleTimeString());
    } catch (err) {
      set(document.getElementById('polled'), 'the gateway does not answer (' + err.message + ')');
    }
  }
  const echo = document.getElementById('ws-echo');
  if (echo) echo.addEventListener('click', () => {
    const out = document.getElementById('ws-out');
    set(out, 'opening…', 'muted');
    const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/api/ws');
    ws.onopen = () => ws.send('hello at ' + new Date().toLocaleTimeString());
    ws.onmessage = (m) => { set(out, 'echo: ' + m.data, 'state ok'); ws.close(); };
    ws.onerror = () => set(out, 'the handshake failed: the gateway answered it with an HTTP error (see the terminal)', 'state bad');
  });
  poll();
  setInterval(poll, 1000);
})();
`;

const hash = (text) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The control page's policy: its own inline style and script, fetches to itself, forms to itself. */
export const CONTROL_PAGE_CSP = [
  "default-src 'none'",
  `style-src ${hash(STYLE)}`,
  `script-src ${hash(SCRIPT)}`,
  "connect-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const esc = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The planned-maintenance switch: gatewayErrors() answers for the whole app, no upstream call. */
function maintenanceSwitch(maintenance) {
  if (maintenance?.active) {
    const until = maintenance.until ? ` until <time datetime="${esc(maintenance.until)}">${esc(maintenance.until.slice(11, 19))} UTC</time>` : '';
    return `<p class="big"><strong>Maintenance is ON</strong>${until}: <a href="/api/hello">/api/hello</a> shows the maintenance page
(503, Retry-After ${esc(maintenance.retryAfter)} s) and the upstream gets no request. This page stays reachable (allow-list).</p>
<form method="post" action="/demo/maintenance/stop"><button>Maintenance off</button></form>`;
  }
  return `<form method="post" action="/demo/maintenance/start">
<label>Planned maintenance for <input name="minutes" type="number" min="1" max="1440" value="10" required> minutes</label>
<label>message <input name="message" maxlength="500" placeholder="We are moving to a faster database."></label>
<button>Maintenance on</button>
</form>`;
}

/** A target's state as the server renders it first (the script keeps it current). */
function health(t) {
  if (!t) return { text: 'no traffic yet', cls: 'state muted' };
  if (t.ejectedUntil) return { text: `ejected until ${t.ejectedUntil.slice(11, 19)} UTC`, cls: 'state bad' };
  return t.healthy ? { text: 'healthy', cls: 'state ok' } : { text: 'unhealthy', cls: 'state bad' };
}

/** One row per instance: its mode with a switch, and how the gateway sees it. */
function instanceRows(instances, modes, targets) {
  return instances
    .map((i) => {
      const t = targets?.find((x) => x.url === i.url);
      const h = health(t);
      const options = Object.keys(modes)
        .map((name) => `<option value="${esc(name)}"${name === i.mode ? ' selected' : ''}>${esc(name)}</option>`)
        .join('');
      return `<tr data-instance="${esc(i.n)}">
<td><strong>#${esc(i.n)}</strong> <code>${esc(i.url)}</code><br><span class="muted">mode: <span class="mode">${esc(i.mode)}</span></span></td>
<td><form class="switch" method="post" action="/demo/instance/${esc(i.n)}/mode"><label class="muted" for="mode-${esc(i.n)}">switch to</label>
<select id="mode-${esc(i.n)}" name="mode">${options}</select> <button>Switch</button></form></td>
<td class="${h.cls} health">${esc(h.text)}</td>
<td class="num active">${esc(t?.active ?? 0)}</td>
<td class="num failures">${esc(t?.consecutiveFailures ?? 0)}</td>
<td class="num ejections">${esc(t?.ejections ?? 0)}</td>
</tr>`;
    })
    .join('\n');
}

/**
 * @param {{
 *   instances: { n: number, url: string, mode: string }[],
 *   modes: Record<string, string>,
 *   base: string,
 *   proxy?: { upstreams: { upstream: string, circuit: string, active: number }[], targets?: { url: string, healthy: boolean, ejectedUntil?: string, active: number, consecutiveFailures: number, ejections: number }[] },
 *   maintenance?: { active: boolean, until?: string, retryAfter?: number },
 *   ejectAfter: number,
 *   ejectFor: number,
 * }} state
 */
export function controlPage({ instances, modes, base, proxy, maintenance, ejectAfter, ejectFor }) {
  const same = instances.every((i) => i.mode === instances[0]?.mode) ? instances[0]?.mode : undefined;
  const circuit = proxy?.upstreams[0]?.circuit ?? 'closed';
  const all = Object.entries(modes)
    .map(([name, text]) => {
      const active = name === same;
      const once =
        name === 'refusing'
          ? '<span class="muted">switch to see it</span>'
          : `<a href="/api/hello?mode=${esc(name)}">try once</a>`;
      return `<tr${active ? ' class="active"' : ''}>
<td><form method="post" action="/demo/mode/${esc(name)}"><button${active ? ' disabled' : ''}>${esc(name)}</button></form></td>
<td>${esc(text)}<br><span class="muted">/api/hello shows ${esc(TRY[name] ?? '')}.<br>On one instance only: ${esc(ONE[name] ?? '')}.</span></td>
<td>${once}</td>
</tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gateway-errors demo</title>
<style>${STYLE}</style>
</head>
<body>
<h1>gateway-errors demo</h1>
<p>An Express gateway (<code>gatewayErrors()</code> + <code>gatewayProxy({ targets })</code>) in front of
${instances.length} instances of a deliberately flaky upstream, balanced by the power of two choices.</p>
<p class="big"><a href="/api/hello">Open /api/hello through the gateway</a></p>

<h2>The instances</h2>
<p>Kill, slow or hang <em>one</em> instance and GET requests still answer 200: a failed attempt is retried on
another instance, and after ${esc(ejectAfter)} failed attempts in a row the gateway ejects it for
${esc(ejectFor)} s (longer each time; one of the three at most). Break them <em>all</em> and clients get the
branded error pages; with enough traffic (at least 20 requests in 10 s, half of them failing) the circuit opens.</p>
<table>
<thead><tr><th>instance</th><th>switch</th><th>as the gateway sees it</th><th class="num">in flight</th><th class="num">failures in a row</th><th class="num">ejections</th></tr></thead>
<tbody>
${instanceRows(instances, modes, proxy?.targets)}
</tbody>
</table>
<p>Circuit: <span id="circuit" class="state">${esc(circuit === 'open' ? 'OPEN' : circuit)}</span>
<span id="circuit-note" class="muted"></span><br><span id="polled" class="muted">state as of page load; live updates need JavaScript</span></p>

<h2>All instances at once</h2>
<table>
${all}
</table>

<h2>Planned maintenance</h2>
${maintenanceSwitch(maintenance)}
<p class="muted">Branded answers of the app's own handlers (<code>extraStatuses: [429, 500]</code>):
<a href="/demo/busy">a 429 with Retry-After</a>, <a href="/demo/broken">a 500 from a thrown bug</a>.</p>
<h2>WebSocket</h2>
<p><button type="button" id="ws-echo">Open a WebSocket through the gateway</button> <span id="ws-out" class="muted"></span></p>
<p class="muted">Through <code>server.on('upgrade', proxy.upgrade)</code>: a failed handshake gets a real 502/503/504 with
<code>Proxy-Status</code> (switch the instances to refusing to see it), and another instance is tried first.</p>
<p>Watch the terminal that runs <code>npm start</code>: one line per retry, per failure, per answer and per ejection.</p>
<h2>From a terminal</h2>
<pre>curl -i ${esc(base)}/api/hello                                 # text/plain
curl -i -H 'accept: application/json' ${esc(base)}/api/hello   # problem+json
curl -i -X POST ${esc(base)}/api/orders                         # a POST is never replayed
curl -i -X POST -H 'idempotency-key: 42' ${esc(base)}/api/orders # ...unless it carries Idempotency-Key
curl -X POST ${esc(base)}/demo/instance/2/mode/refusing         # switch one instance
curl -X POST ${esc(base)}/demo/mode/slow                        # switch all of them
curl ${esc(base)}/demo/state                                    # proxy.state(), as JSON
curl -X POST '${esc(base)}/demo/maintenance/start?minutes=5'    # planned maintenance for 5 minutes
curl -X POST ${esc(base)}/demo/maintenance/stop                 # ...and off again</pre>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
