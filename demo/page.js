/**
 * The demo's control page: the upstream's current mode, a button per mode, and what to open.
 */

const TRY = {
  healthy: 'a 200 from the upstream, in one attempt',
  flaky: 'a 200: the first attempt fails, the console shows the retry',
  slow: 'the branded 504 page after three 1 s attempts; keep trying and the circuit opens',
  refusing: 'the branded 502 page after three refused connections; reload twice and the circuit opens (503 at once)',
  maintenance: 'the branded 503 page at once, with a countdown from Retry-After; five in a row open the circuit',
  dying: 'half a page: the connection is cut, no error page is appended',
};

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

/** @param {{ mode: string, modes: Record<string, string>, base: string, maintenance?: { active: boolean, until?: string, retryAfter?: number } }} state */
export function controlPage({ mode, modes, base, maintenance }) {
  const rows = Object.entries(modes)
    .map(([name, text]) => {
      const active = name === mode;
      const once =
        name === 'refusing'
          ? '<span class="muted">switch to see it</span>'
          : `<a href="/api/hello?mode=${esc(name)}">try once</a>`;
      return `<tr${active ? ' class="active"' : ''}>
<td><form method="post" action="/demo/mode/${esc(name)}"><button${active ? ' disabled' : ''}>${esc(name)}</button></form></td>
<td>${esc(text)}<br><span class="muted">/api/hello shows ${esc(TRY[name] ?? '')}</span></td>
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
<style>
:root { color-scheme: light dark; --accent: #2563eb; }
body { font: 16px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .25rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
td { padding: .5rem; border-top: 1px solid #8884; vertical-align: top; }
tr.active { background: #2563eb22; }
button { font: inherit; min-width: 8rem; padding: .3rem .6rem; cursor: pointer; }
button:disabled { font-weight: bold; cursor: default; }
form label { margin-right: .75rem; }
input { font: inherit; }
input[type=number] { width: 5rem; }
.muted { opacity: .7; font-size: .9rem; }
code, pre { font-family: ui-monospace, monospace; font-size: .9rem; }
pre { background: #8881; padding: .75rem; overflow-x: auto; }
.big { font-size: 1.15rem; }
</style>
</head>
<body>
<h1>gateway-errors demo</h1>
<p>An Express gateway (<code>gatewayErrors()</code> + <code>gatewayProxy()</code>) in front of a deliberately flaky upstream.
The upstream is now <strong>${esc(mode)}</strong>: ${esc(modes[mode] ?? '')}.</p>
<p class="big"><a href="/api/hello">Open /api/hello through the gateway</a></p>
<table>
${rows}
</table>
<h2>Planned maintenance</h2>
${maintenanceSwitch(maintenance)}
<p class="muted">Branded answers of the app's own handlers (<code>extraStatuses: [429, 500]</code>):
<a href="/demo/busy">a 429 with Retry-After</a>, <a href="/demo/broken">a 500 from a thrown bug</a>.</p>
<p>Watch the terminal that runs <code>npm start</code>: one line per retry, per failure and per answer.</p>
<h2>From a terminal</h2>
<pre>curl -i ${esc(base)}/api/hello                                 # text/plain
curl -i -H 'accept: application/json' ${esc(base)}/api/hello   # problem+json
curl -i -X POST ${esc(base)}/api/orders                         # a POST is never replayed
curl -i -X POST -H 'idempotency-key: 42' ${esc(base)}/api/orders # ...unless it carries Idempotency-Key
curl -X POST ${esc(base)}/demo/mode/slow                        # switch mode
curl -X POST '${esc(base)}/demo/maintenance/start?minutes=5'    # planned maintenance for 5 minutes
curl -X POST ${esc(base)}/demo/maintenance/stop                 # ...and off again</pre>
</body>
</html>
`;
}
